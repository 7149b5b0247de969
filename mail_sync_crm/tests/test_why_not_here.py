# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Why is this email not here? (#20, item 3): on a prepared mailbox on a real
Dovecot, each answer the sync would give, as a salesperson reads it on the
lead: recorded, not found, blocklisted (by which entry), own domain, dated
before the lead, held, not synced yet, moved, the mailbox disconnected or in
Error; only the salesperson's own mailboxes are searched."""

import time
from datetime import datetime

from odoo.exceptions import AccessError
from odoo.tests import tagged

from mail_sync_testing import damage_message

from ..lib import errors
from .sync_common import ALICE, SyncCase

NEW = "newcomer@initech.example.com"


@tagged("post_install", "-at_install")
class TestWhyNotHere(SyncCase):
    def setUp(self):
        super().setUp()
        self.lead.user_id = self.salesman
        company = self.env.company
        if "mail_sync_past_mail" in company._fields:
            company.mail_sync_past_mail = "off"  # the seed's rule

    def sync(self):
        self.env["mail.sync.scheduler"]._cron_sync()

    def ask(self, question, lead=None, user=None):
        """The answer's lines: [(code, finding, what to do, emails)]."""
        wizard = (
            self.env["mail.sync.why.wizard"]
            .with_user(user or self.salesman)
            .with_context(default_lead_id=(lead or self.lead).id)
            .create({"question": question})
        )
        wizard.action_ask()
        return [
            (line.code, line.label, line.advice, line.emails or "")
            for line in wizard.finding_ids
        ]

    def codes(self, question, **kw):
        return [line[0] for line in self.ask(question, **kw)]

    def test_recorded_by_address_and_by_subject(self):
        self.put(self.salesman, "INBOX", self.received(ALICE, "Quote for 40 robots"))
        self.mailbox(self.salesman)
        self.sync()
        [line] = self.ask(ALICE)
        self.assertEqual(line[0], "recorded")
        self.assertIn("It is on this lead", line[1])
        self.assertIn("Quote for 40 robots", line[3])
        self.assertEqual(self.codes("40 robots"), ["recorded"])

    def test_not_found_in_any_connected_mailbox(self):
        self.put(self.salesman, "INBOX", self.received(ALICE, "Quote"))
        self.mailbox(self.salesman)
        self.sync()
        [line] = self.ask("nobody@nowhere.example.com")
        self.assertEqual(line[0], "not_found")
        self.assertIn(self.salesman.email, line[1], "names the mailbox searched")
        self.assertIn("colleague's mailbox", line[2])

    def test_blocklisted_names_the_entry_and_own_domain(self):
        self.env["mail.sync.blocklist"].with_user(self.salesman).create(
            {"value": "acme.example.com", "user_id": self.salesman.id}
        )
        colleague = "colleague@ourcompany.example.com"
        inside = self.Lead.create(
            {"name": "Internal", "email_from": colleague, "user_id": self.salesman.id}
        )
        self.put(
            self.salesman,
            "INBOX",
            self.received(ALICE, "Blocked quote"),
            self.received(colleague, "Lunch?"),
        )
        self.mailbox(self.salesman)
        self.sync()
        self.assertFalse(self.synced(self.lead))
        [line] = self.ask(ALICE)
        self.assertEqual(line[0], "blocklisted")
        self.assertIn("acme.example.com", line[1])
        self.assertIn("Remove the blocklist entry", line[2])
        self.assertIn("Blocked quote", line[3])
        [line] = self.ask(colleague, lead=inside)
        self.assertEqual(line[0], "own_domain")
        self.assertIn("ourcompany.example.com", line[1])

    def test_dated_before_a_lead_added_later(self):
        self.put(
            self.salesman,
            "INBOX",
            self.received(NEW, "Old question", date=datetime(2025, 5, 1)),
        )
        self.mailbox(self.salesman)
        self.sync()
        later = self.Lead.create(
            {"name": "Initech", "email_from": NEW, "user_id": self.salesman.id}
        )
        # the lead came after the mailbox connected
        self.env.cr.execute(
            "UPDATE crm_lead SET create_date = create_date + interval '1 hour' "
            "WHERE id = %s",
            [later.id],
        )
        later.invalidate_recordset(["create_date"])
        self.sync()
        self.assertFalse(self.synced(later))
        [line] = self.ask(NEW, lead=later)
        self.assertEqual(line[0], "before_lead")
        self.assertIn("Find past emails", line[2])
        self.assertIn("Old question", line[3])

    def test_held_message_waiting_for_retry(self):
        self.mail.fill_maildir(
            self.salesman.login,
            "INBOX",
            [self.received(ALICE, "Fine"), self.received(ALICE, "Damaged")],
        )
        damage_message(self.mail, self.salesman.login, 2)
        account = self.mailbox(self.salesman)
        self.sync()
        self.assertEqual(account.state, "enabled", account.last_error)
        held = self.env["mail.sync.failed.message"].search(
            [("account_id", "=", account.id)]
        )
        self.assertEqual(held.state, "retry")
        lines = self.ask(ALICE)
        self.assertEqual([line[0] for line in lines], ["recorded", "held"])
        self.assertIn("tries again", lines[1][1])

    def test_not_synced_yet_and_moved(self):
        account = self.mailbox(self.salesman)
        self.sync()
        self.put(self.salesman, "INBOX", self.received(ALICE, "Just arrived"))
        [line] = self.ask(ALICE)
        self.assertEqual(line[0], "not_yet_synced")
        self.assertIn("Sync Now", line[2])
        self.sync()
        self.assertEqual(self.codes(ALICE), ["recorded"])
        self.assertEqual(account.state, "enabled")
        shop = self.Lead.create(
            {
                "name": "Alice's shop",
                "email_from": "a@shop.example.com",
                "user_id": self.salesman.id,
            }
        )
        self.env["mail.sync.move.wizard"].with_user(self.salesman).create(
            {
                "lead_id": self.lead.id,
                "mail_message_id": self.synced(self.lead).id,
                "target_lead_id": shop.id,
            }
        ).action_move()
        [line] = self.ask(ALICE)
        self.assertEqual(line[0], "moved")
        self.assertIn("Alice's shop", line[1])

    def test_mailbox_disconnected_or_in_error(self):
        self.assertEqual(self.codes(ALICE), ["no_mailbox"])
        account = self.mailbox(self.salesman)
        # the server no longer takes the stored password: the sync failed
        self.mail.add_user(self.salesman.login, "changed-on-the-server")
        time.sleep(1.1)  # Dovecot reads a changed password file a second later
        account.sudo().env["mail.sync.turn"]._record_error(
            account, errors.MailSyncError("auth_failed", side="imap", host="h", port=1)
        )
        account.sudo().write({"state": "error"})
        lines = self.ask(ALICE)
        self.assertEqual(
            [line[0] for line in lines], ["mailbox_error", "search_failed"]
        )
        self.assertIn("Reconnect", lines[0][2])
        account.action_disable(keep_history=True)
        [line] = self.ask(ALICE)
        self.assertEqual(line[0], "mailbox_disconnected")
        self.assertIn(self.salesman.email, line[1])
        self.assertIn("Reconnect", line[2])

    def test_only_the_users_own_mailboxes_and_readable_leads(self):
        # a colleague's mailbox holds Alice's mail, blocked there: never searched
        self.put(self.salesman_all, "INBOX", self.received(ALICE, "Colleague's secret"))
        self.env["mail.sync.blocklist"].with_user(self.salesman_all).create(
            {"value": ALICE, "user_id": self.salesman_all.id}
        )
        self.mailbox(self.salesman_all)
        self.mailbox(self.salesman)
        self.sync()
        lines = self.ask(ALICE)
        self.assertEqual([line[0] for line in lines], ["not_found"])
        self.assertNotIn("secret", str(lines))
        # a lead the salesperson may not read cannot be asked about
        with self.assertRaises(AccessError):
            self.ask(ALICE, lead=self.globex)

    def test_a_colleagues_hidden_mail_stays_hidden(self):
        # a colleague's mailbox shows colleagues the participants and date only
        theirs = self.mailbox(self.salesman_all)
        theirs.with_user(self.salesman_all).write({"visibility": "metadata"})
        self.put(self.salesman_all, "INBOX", self.received(ALICE, "Secret merger"))
        self.mailbox(self.salesman)
        self.sync()
        self.assertEqual(len(self.synced(self.lead)), 1, "on the lead, hidden")
        lines = self.ask(ALICE)
        self.assertEqual([line[0] for line in lines], ["recorded"])
        self.assertNotIn("merger", str(lines).lower())
        # asked by its subject: the hidden subject is not found through the answer
        lines = self.ask("Secret merger")
        self.assertEqual([line[0] for line in lines], ["not_found"])
        self.assertNotIn("merger", str([line[3] for line in lines]).lower())

    def test_list_and_automated_mail_name_the_rule(self):
        self.put(
            self.salesman,
            "INBOX",
            self.received(
                ALICE,
                "Acme newsletter",
                headers={"List-Id": "Acme news <news.lists.acme.example.com>"},
            ),
            self.received(
                ALICE, "Out of office", headers={"Auto-Submitted": "auto-replied"}
            ),
        )
        self.mailbox(self.salesman)
        self.sync()
        self.assertFalse(self.synced(self.lead))
        lines = self.ask(ALICE)
        self.assertEqual([line[0] for line in lines], ["mailing_list", "automated"])
        self.assertIn("Acme newsletter", lines[0][3])
        self.assertIn("Out of office", lines[1][3])
        self.assertIn("turn off this rule", lines[0][2])
        # the rule switched off since: the sync passed it and does not go back
        self.env.company.mail_sync_skip_automated = False
        lines = self.ask(ALICE)
        self.assertEqual(
            [line[0] for line in lines], ["mailing_list", "passed_earlier"]
        )
        self.assertIn("reconnect", lines[1][2])
