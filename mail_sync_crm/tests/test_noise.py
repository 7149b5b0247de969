# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Noise stays out (#20, item 2): mailing-list, automated and no-reply mail is
not recorded on leads (each rule a company setting), and each mailbox counts
what it skipped, by reason, once per message (real Dovecot, real Odoo)."""

from datetime import datetime, timedelta

from odoo.exceptions import AccessError
from odoo.tests import tagged

from mail_sync_testing import make_message

from .common import MailSyncHttpCase
from .sync_common import ALICE, BRUNO, SyncCase

STRANGER = "someone@elsewhere.example.com"
LATE = "dana@initech.example.com"  # the address of a lead created after connecting
FORMS = "no-reply@forms.example.com"  # a web-form service's notifications
TEAM_LIST = "team@lists.ours.example.com"
LIST_ID = {"List-Id": "Acme users <users.lists.acme.example.com>"}


@tagged("post_install", "-at_install")
class TestNoise(SyncCase):
    def setUp(self):
        super().setUp()
        # A lead created from a web form's notification: its address is the
        # service's no-reply sender, whose later notifications are noise.
        self.forms_lead = self.Lead.create(
            {"name": "Quote request via the web form", "email_from": FORMS}
        )

    def sync(self):
        self.env["mail.sync.scheduler"]._cron_sync()

    def counts(self, account, user=None):
        """{(folder, reason): count} as ``user`` (the owner) reads the mailbox."""
        account = account.with_user(user or account.user_id)
        account.invalidate_recordset(["skip_count_ids"])
        return {
            (count.folder_id.name, count.reason): count.count
            for count in account.skip_count_ids
        }

    def put_noise(self):
        self.put(
            self.salesman,
            "INBOX",
            self.received(ALICE, "Alice writes"),
            make_message(
                ALICE,
                "users@lists.acme.example.com",
                subject="To the list",
                headers=LIST_ID,
            ),
            make_message(FORMS, self.salesman.email, subject="New form entry"),
            self.received(
                ALICE, "Out of office", headers={"Auto-Submitted": "auto-replied"}
            ),
            self.received(STRANGER, "Unrelated"),
        )
        self.put(
            self.salesman,
            "Sent",
            # Sent as the team's list address to Alice: the lead is in To, so it
            # is a person's reply, not the list's broadcast.
            make_message(TEAM_LIST, ALICE, subject="Team reply", headers=LIST_ID),
        )

    # -- tests ------------------------------------------------------------------
    def test_list_automated_and_no_reply_mail_stay_out_and_are_counted(self):
        self.put_noise()
        account = self.mailbox(self.salesman)
        self.sync()
        self.assertEqual(account.state, "enabled")
        self.assertEqual(
            sorted(self.synced(self.lead).mapped("subject")),
            ["Alice writes", "Team reply"],
            "the list mail and the automatic reply are not on Alice's lead; the "
            "reply sent from the team's list address to her is",
        )
        self.assertFalse(
            self.synced(self.forms_lead), "no-reply notifications stay out"
        )
        self.assertEqual(
            self.counts(account),
            {
                ("INBOX", "mailing_list"): 1,
                ("INBOX", "automated"): 1,
                ("INBOX", "role_sender"): 1,
                ("INBOX", "no_lead"): 1,
            },
        )
        labels = dict(
            self.env["mail.sync.skip.count"]
            ._fields["reason"]
            ._description_selection(self.env)
        )
        self.assertEqual(labels["mailing_list"], "Mailing list")

        # A second sync counts only what is new: the checkpoint moved past the
        # first messages.
        self.put(
            self.salesman,
            "INBOX",
            make_message(
                ALICE, "users@lists.acme.example.com", subject="Again", headers=LIST_ID
            ),
        )
        self.sync()
        self.sync()
        self.assertEqual(self.counts(account)[("INBOX", "mailing_list")], 2)
        self.assertEqual(self.counts(account)[("INBOX", "no_lead")], 1)
        self.assertEqual(len(self.synced(self.lead)), 2)

    def test_the_counts_name_every_reason_a_message_is_not_on_a_lead(self):
        """Besides noise: a blocklisted lead's mail, mail dated before a lead
        created after connecting, mail of nobody known."""
        self.env["mail.sync.blocklist"].with_user(self.salesman).create(
            {"value": BRUNO, "user_id": self.salesman.id}
        )
        old = datetime.now() - timedelta(days=30)
        self.put(
            self.salesman,
            "INBOX",
            self.received(BRUNO, "Bruno, privately"),
            self.received(LATE, "Before the lead", date=old),
            self.received(LATE, "After the lead"),
            self.received(STRANGER, "Unrelated"),
        )
        account = self.mailbox(self.salesman)
        account.sudo().connected_date = datetime.now() - timedelta(days=60)
        late = self.Lead.create(
            {"name": "Created after connecting", "email_from": LATE}
        )
        self.sync()
        self.assertEqual(self.synced(late).mapped("subject"), ["After the lead"])
        self.assertFalse(self.synced(self.globex))
        self.assertEqual(
            self.counts(account),
            {
                ("INBOX", "blocklisted"): 1,
                ("INBOX", "before_lead"): 1,
                ("INBOX", "no_lead"): 1,
            },
        )

    def test_a_rule_switched_off_in_the_settings_records_that_mail(self):
        settings = self.env["res.config.settings"].create({})
        self.assertTrue(
            settings.mail_sync_skip_mailing_lists
            and settings.mail_sync_skip_automated
            and settings.mail_sync_skip_role_senders,
            "every rule is on by default",
        )
        settings.mail_sync_skip_automated = False
        settings.mail_sync_skip_role_senders = False
        settings.execute()
        self.assertFalse(self.company.mail_sync_skip_automated)
        self.put_noise()
        account = self.mailbox(self.salesman)
        self.sync()
        self.assertEqual(
            sorted(self.synced(self.lead).mapped("subject")),
            ["Alice writes", "Out of office", "Team reply"],
        )
        self.assertEqual(
            self.synced(self.forms_lead).mapped("subject"), ["New form entry"]
        )
        self.assertEqual(
            self.counts(account),
            {("INBOX", "mailing_list"): 1, ("INBOX", "no_lead"): 1},
        )

    def test_new_uidvalidity_counts_the_folder_anew(self):
        """A folder whose UIDs were renumbered is scanned from its first message
        again: its counts start over instead of counting every skip twice."""
        self.put_noise()
        account = self.mailbox(self.salesman)
        self.sync()
        self.assertEqual(self.counts(account)[("INBOX", "automated")], 1)
        inbox = account.folder_ids.filtered(lambda f: f.name == "INBOX")
        inbox.sudo().uidvalidity += 1  # as if the server had renumbered it
        self.sync()
        self.assertEqual(self.counts(account)[("INBOX", "automated")], 1)
        self.assertEqual(self.counts(account)[("INBOX", "mailing_list")], 1)

    def test_only_the_owner_and_managers_read_the_counts(self):
        self.put_noise()
        account = self.mailbox(self.salesman)
        self.sync()
        Counts = self.env["mail.sync.skip.count"]
        mine = Counts.with_user(self.salesman).search([])
        self.assertEqual(len(mine), 4)
        self.assertFalse(
            Counts.with_user(self.salesman_all).search([]),
            "another salesperson (even one seeing all leads) sees none",
        )
        with self.assertRaises(AccessError):
            mine.with_user(self.salesman_all).read(["count"])
        self.assertEqual(len(Counts.with_user(self.sales_manager).search([])), 4)
        self.assertEqual(len(Counts.with_user(self.admin).search([])), 4)
        with self.assertRaises(AccessError):
            mine.with_user(self.salesman).write({"count": 0})
        with self.assertRaises(AccessError):
            mine.with_user(self.admin).write({"count": 0})
        with self.assertRaises(AccessError):
            Counts.with_user(self.salesman).create(
                {
                    "account_id": account.id,
                    "folder_id": account.folder_ids[:1].id,
                    "reason": "no_lead",
                    "count": 99,
                }
            )
        with self.assertRaises(AccessError):
            mine.with_user(self.salesman).unlink()


@tagged("post_install", "-at_install")
class TestSkipCountsOverRpc(MailSyncHttpCase):
    """A colleague, over XML-RPC, neither reads nor changes a mailbox's counts."""

    def test_a_colleague_reads_and_writes_no_counts(self):
        account = self.connected_account(self.salesman)
        inbox = account.folder_ids.filtered(lambda f: f.direction == "in")
        self.env["mail.sync.skip.count"]._add(inbox, {"mailing_list": 3})
        self.env.flush_all()
        counts = self.env["mail.sync.skip.count"].search(
            [("account_id", "=", account.id)]
        )
        self.assertEqual(counts.mapped("count"), [3])
        fields_ = ["reason", "count"]
        model = "mail.sync.skip.count"
        self.assertEqual(
            self.rpc(self.salesman, model, "search_read", [], fields_),
            [{"id": counts.id, "reason": "mailing_list", "count": 3}],
        )
        self.assertEqual(
            self.rpc(self.salesman_all, model, "search_read", [], fields_), []
        )
        self.refused(self.salesman_all, model, "read", [counts.id], fields_)
        self.refused(
            self.salesman_all,
            "mail.sync.account",
            "read",
            [account.id],
            ["skip_count_ids"],
        )
        for user in (self.salesman, self.admin):
            self.refused(user, model, "write", [counts.id], {"count": 0})
            self.refused(user, model, "unlink", [counts.id])
            self.refused(user, model, "_add", [inbox.id], {"no_lead": 5})
            self.refused(
                user,
                "mail.sync.account",
                "write",
                [account.id],
                {"skip_count_ids": [(1, counts.id, {"count": 0})]},
            )
        counts.invalidate_recordset()
        self.assertEqual(counts.count, 3, "nobody changed it")
