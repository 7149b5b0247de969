# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Round 2 of the hostile colleague (#19, #20 and the services of the
redesign): what a salesperson with an RPC client tries against the past-emails
search, the move of an email, "why is this email not here", the skip counts,
the completeness figures and the service models."""

import xmlrpc.client
from datetime import datetime, timedelta

from odoo.tests import tagged

from mail_sync_testing import make_message

from .common import MailSyncHttpCase
from .sync_common import SyncCase

DIANA = "diana.secret@client.example.com"
SECRET_WORD = "Confidential-Merger-Xylophone"
LAWYER = "my.lawyer@elsewhere.example.com"
PERSONAL_SUBJECT = "Custody hearing on Monday"


@tagged("post_install", "-at_install")
class TestPastMailPrivacy(SyncCase):
    """A lead created later with a colleague's correspondent's address: the
    past-emails search brings that colleague's mail onto it, as the sync does
    for any lead, but never more than the colleague shows."""

    def setUp(self):
        super().setUp()
        self.env.company.mail_sync_past_mail = "auto"
        self.victim = self.salesman_all
        self.attacker = self.salesman
        # The victim's own lead of Diana, there before the mailbox: the
        # history is synced onto it.
        self.victim_lead = self.Lead.create(
            {
                "name": "Diana's deal",
                "email_from": DIANA,
                "user_id": self.victim.id,
            }
        )
        self.put(
            self.victim,
            "INBOX",
            make_message(
                DIANA,
                self.victim.email,
                subject="Private matter",
                date=datetime.now() - timedelta(days=10),
                message_id="<private-1@client.example.com>",
                text=f"Between us: {SECRET_WORD}.",
            ),
        )
        self.mailbox(self.victim)
        self.env["mail.sync.scheduler"]._cron_sync()
        self.email = self.synced(self.victim_lead)
        self.assertEqual(len(self.email), 1)

    def attacker_lead_bodies(self):
        """What the attacker's own new lead of Diana shows them, once the
        past-emails search ran."""
        lead = self.Lead.with_user(self.attacker).create(
            {"name": "Mine now", "email_from": DIANA, "user_id": self.attacker.id}
        )
        self.env["mail.sync.history.request"]._cron_find_past_mail()
        self.env.invalidate_all()
        messages = self.synced(lead.sudo())
        return messages, " ".join(str(m.body) for m in messages)

    def test_a_private_thread_stays_private_on_a_lead_created_later(self):
        self.victim_lead.with_user(self.victim).action_mail_sync_private(self.email.id)
        self.env.invalidate_all()
        self.assertNotIn(SECRET_WORD, str(self.email.body))
        messages, bodies = self.attacker_lead_bodies()
        # the email is on the attacker's lead (the product: any lead of the
        # address gets its mail), its content is not
        self.assertEqual(len(messages), 1)
        self.assertNotIn(SECRET_WORD, bodies)
        self.assertIn("Private email", bodies)

    def test_a_private_level_mailbox_stays_private_on_a_lead_created_later(self):
        box = self.env["mail.sync.account"].search([("user_id", "=", self.victim.id)])
        box.with_user(self.victim).write({"visibility": "metadata"})
        self.env.invalidate_all()
        self.assertNotIn(SECRET_WORD, str(self.email.body))
        messages, bodies = self.attacker_lead_bodies()
        self.assertEqual(len(messages), 1)
        self.assertNotIn(SECRET_WORD, bodies)


@tagged("post_install", "-at_install")
class TestRound2Rpc(MailSyncHttpCase):
    """Over XML-RPC."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.attacker = cls.salesman
        cls.victim = cls.salesman_all
        Lead = cls.env["crm.lead"]
        cls.own_lead = Lead.create(
            {"name": "Mine", "email_from": DIANA, "user_id": cls.attacker.id}
        )
        cls.victim_lead = Lead.create(
            {"name": "Victim's", "type": "opportunity", "user_id": cls.victim.id}
        )
        cls.other_company_lead = Lead.create(
            {"name": "Other company", "company_id": cls.company_2.id}
        )
        # where the attacker may move their own email
        cls.own_lead_2 = Lead.create({"name": "Mine too", "user_id": cls.attacker.id})
        cls.imap.append(
            cls.attacker.login,
            "INBOX",
            make_message(DIANA, cls.attacker.email, subject="Diana to the attacker"),
        )
        cls.imap.append(
            cls.victim.login,
            "INBOX",
            make_message(DIANA, cls.victim.email, subject="Diana to the victim"),
        )
        boxes = []
        for user in (cls.victim, cls.attacker):
            box = (
                cls.env["mail.sync.account"]
                .with_user(user)
                .create(cls.connect_values(cls, user))
            )
            box.action_connect()
            boxes.append(box)
        cls.victim_box, cls.attacker_box = boxes
        cls.env["mail.sync.scheduler"]._cron_sync()
        messages = cls.env["mail.message"].search(
            [("model", "=", "crm.lead"), ("res_id", "=", cls.own_lead.id)]
        )
        cls.mine = messages.filtered(lambda m: m.subject == "Diana to the attacker")
        cls.theirs = messages.filtered(lambda m: m.subject == "Diana to the victim")

    def test_services_reveal_and_change_nothing(self):
        services = [
            "mail.sync.scheduler",
            "mail.sync.news",
            "mail.sync.turn",
            "mail.sync.connector",
            "mail.sync.oauth",
            "mail.sync.secret.key",
            "mail.sync.status",
            "mail.sync.completeness",
        ]
        for model in services:
            for method, args in [
                ("init", ()),
                ("_cron_sync", ()),
                ("_imap_settings", (self.victim_box.id,)),
                ("_password", (self.victim_box.id,)),
                ("_key", ()),
                ("_rotate", ()),
                ("search_read", ([],)),
                ("read", ([1],)),
                ("create", ({},)),
                ("write", ([1], {})),
                ("unlink", ([1],)),
                ("flush_model", ()),
                ("invalidate_model", ()),
                ("sudo", ()),
                ("with_user", (1,)),
                ("browse", ([1],)),
                ("exists", ([1],)),
            ]:
                with self.subTest(model=model, method=method):
                    self.refused(self.attacker, model, method, *args)
        # what they do answer: field descriptions only, no record
        for model in services:
            self.assertEqual(self.rpc(self.attacker, model, "default_get", []), {})

    def test_no_client_reads_or_writes_the_requests(self):
        lead = self.own_lead
        self.refused(
            self.attacker,
            "mail.sync.history.request",
            "create",
            {
                "lead_id": lead.id,
                "company_id": self.company.id,
                "address": "victim.friend@elsewhere.example.com",
            },
        )
        self.refused(self.attacker, "mail.sync.history.request", "search_read", [])
        self.refused(
            self.attacker, "mail.sync.history.request", "_queue", [], [lead.id]
        )
        self.refused(
            self.attacker,
            "mail.sync.history.request",
            "_cron_find_past_mail",
            [],
        )
        # the button is for leads the caller may write, of their own companies
        for target in (self.victim_lead, self.other_company_lead):
            with self.attempt():
                self.refused(
                    self.attacker,
                    "crm.lead",
                    "action_mail_sync_find_past_emails",
                    [target.id],
                )
        # a context asking for another company's mailboxes changes nothing
        with self.attempt():
            self.refused(
                self.attacker,
                "crm.lead",
                "action_mail_sync_find_past_emails",
                [self.other_company_lead.id],
                {"context": {"allowed_company_ids": [self.company_2.id]}},
            )

    def test_skip_counts_and_completeness_are_the_addons(self):
        folder = self.env["mail.sync.folder"].search(
            [("account_id", "=", self.attacker_box.id)], limit=1
        )
        self.assertTrue(folder)
        self.refused(
            self.attacker,
            "mail.sync.skip.count",
            "create",
            {"folder_id": folder.id, "reason": "no_lead", "count": 5},
        )
        counts = self.env["mail.sync.skip.count"].search(
            [("folder_id", "=", folder.id)]
        ) or self.env["mail.sync.skip.count"].create(
            {
                "account_id": folder.account_id.id,
                "folder_id": folder.id,
                "reason": "no_lead",
                "count": 1,
            }
        )
        self.refused(
            self.attacker, "mail.sync.skip.count", "write", counts.ids, {"count": 0}
        )
        self.refused(self.attacker, "mail.sync.skip.count", "unlink", counts.ids)
        for values in ({"server_count": 0}, {"unscanned_count": 0}):
            self.refused(self.attacker, "mail.sync.folder", "write", folder.ids, values)
        for field in self.env["mail.sync.account"]._fields:
            if field.endswith("_count") or field in (
                "waiting_since",
                "reconciled_date",
                "falling_behind",
            ):
                with self.subTest(field=field):
                    self.refused(
                        self.attacker,
                        "mail.sync.account",
                        "write",
                        self.attacker_box.ids,
                        {field: 0},
                    )
        # a colleague's mailbox's figures are not read
        self.assertFalse(
            self.rpc(
                self.attacker,
                "mail.sync.folder",
                "search_read",
                [("account_id", "=", self.victim_box.id)],
                ["server_count", "unscanned_count"],
            )
        )
        self.assertFalse(
            self.rpc(
                self.attacker,
                "mail.sync.folder",
                "read_group",
                [("account_id", "!=", self.attacker_box.id)],
                ["server_count:sum"],
                [],
            )[0]["server_count"]
        )
        self.refused(
            self.attacker,
            "mail.sync.account",
            "read",
            self.victim_box.ids,
            ["server_count"],
        )
        self.assertFalse(
            self.rpc(
                self.attacker,
                "mail.sync.skip.count",
                "search_read",
                [("folder_id.account_id", "=", self.victim_box.id)],
            )
        )

    def test_the_why_wizard_searches_the_callers_own_mailboxes_only(self):
        # a lead the attacker cannot read
        wizard = self.rpc(
            self.attacker,
            "mail.sync.why.wizard",
            "create",
            {"lead_id": self.victim_lead.id, "question": DIANA},
        )
        self.refused(self.attacker, "mail.sync.why.wizard", "action_ask", [wizard])
        # a colleague's wizard is not theirs to read or run
        theirs = self.rpc(
            self.victim,
            "mail.sync.why.wizard",
            "create",
            {"lead_id": self.victim_lead.id, "question": DIANA},
        )
        self.imap.append(
            self.victim.login,
            "INBOX",
            make_message(LAWYER, self.victim.email, subject=PERSONAL_SUBJECT),
        )
        self.rpc(
            self.victim, "mail.sync.why.wizard", "write", [theirs], {"question": LAWYER}
        )
        self.rpc(self.victim, "mail.sync.why.wizard", "action_ask", [theirs])
        findings = self.env["mail.sync.why.finding"].search(
            [("wizard_id", "=", theirs)]
        )
        self.assertIn(PERSONAL_SUBJECT, " ".join(findings.mapped("emails")))
        # the victim's answer (subjects found in their own mailbox) is theirs
        self.refused(self.attacker, "mail.sync.why.wizard", "read", [theirs])
        self.refused(self.attacker, "mail.sync.why.finding", "read", findings.ids)
        self.assertFalse(
            self.rpc(
                self.attacker,
                "mail.sync.why.finding",
                "search_read",
                [],
                ["emails", "label"],
            )
        )
        self.refused(
            self.attacker,
            "mail.sync.why.finding",
            "write",
            findings.ids,
            {"emails": "forged"},
        )
        self.refused(self.attacker, "mail.sync.why.wizard", "action_ask", [theirs])
        # a finding forged into the colleague's answer is not shown to them
        self.rpc(
            self.attacker,
            "mail.sync.why.finding",
            "create",
            {"wizard_id": theirs, "label": "Forged: send your password to IT"},
        )
        shown = self.rpc(
            self.victim, "mail.sync.why.wizard", "read", [theirs], ["finding_ids"]
        )[0]["finding_ids"]
        self.assertEqual(sorted(shown), sorted(findings.ids))
        self.refused(
            self.attacker,
            "mail.sync.why.wizard",
            "write",
            [theirs],
            {"question": "anything"},
        )
        self.refused(
            self.attacker,
            "mail.sync.why.wizard",
            "_mail_sync_search",
            [wizard],
            self.victim_box.ids,
        )

    def test_moves_take_only_ones_own_email_to_a_lead_one_may_write(self):
        self.assertEqual((len(self.mine), len(self.theirs)), (1, 1))
        Wizard = "mail.sync.move.wizard"
        # a colleague's email on the attacker's own lead
        self.assertIn(
            "Only the owner",
            self.refused(
                self.attacker,
                Wizard,
                "create",
                {
                    "lead_id": self.own_lead.id,
                    "mail_message_id": self.theirs.id,
                    "target_lead_id": self.own_lead_2.id,
                },
            ),
        )
        # the attacker's own email onto a lead they may not write, or of a
        # company that is not theirs, directly or by a later write
        for target in (self.victim_lead, self.other_company_lead):
            with self.subTest(target=target.name), self.attempt():
                self.refused(
                    self.attacker,
                    Wizard,
                    "create",
                    {
                        "lead_id": self.own_lead.id,
                        "mail_message_id": self.mine.id,
                        "target_lead_id": target.id,
                    },
                )
                wizard = self.rpc(
                    self.attacker,
                    Wizard,
                    "create",
                    {
                        "lead_id": self.own_lead.id,
                        "mail_message_id": self.mine.id,
                        "target_lead_id": self.own_lead_2.id,
                    },
                )
                self.rpc(
                    self.attacker,
                    Wizard,
                    "write",
                    [wizard],
                    {"target_lead_id": target.id},
                )
                self.refused(self.attacker, Wizard, "action_move", [wizard])
                # nor the colleague's email by a write of the wizard
                self.rpc(
                    self.attacker,
                    Wizard,
                    "write",
                    [wizard],
                    {
                        "target_lead_id": self.own_lead_2.id,
                        "mail_message_id": self.theirs.id,
                        "whole_thread": True,
                    },
                )
                self.assertIn(
                    "Only the owner",
                    self.refused(self.attacker, Wizard, "action_move", [wizard]),
                )
        self.env.invalidate_all()
        self.assertEqual(self.theirs.res_id, self.own_lead.id)
        self.assertEqual(self.mine.res_id, self.own_lead.id)
        # the moved-emails notes are read by their owner only, written by nobody
        moved = self.env["mail.sync.moved"].create(
            {
                "account_id": self.victim_box.id,
                "message_id": self.theirs.message_id,
                "lead_id": self.own_lead.id,
                "target_lead_id": self.victim_lead.id,
            }
        )
        self.assertFalse(
            self.rpc(
                self.attacker, "mail.sync.moved", "search_read", [], ["message_id"]
            )
        )
        self.refused(self.attacker, "mail.sync.moved", "unlink", moved.ids)
        self.refused(
            self.attacker,
            "mail.sync.moved",
            "create",
            {
                "account_id": self.attacker_box.id,
                "message_id": self.theirs.message_id,
                "lead_id": self.own_lead_2.id,
            },
        )

    def test_defaults_and_companies_of_the_callers_choice(self):
        # the wizard's default question is the lead's address: not of a lead
        # the caller may not read
        fault = self.refused_with(
            self.attacker,
            "mail.sync.why.wizard",
            "default_get",
            [["lead_id", "question"]],
            {"context": {"default_lead_id": self.victim_lead.id}},
        )
        self.assertIn("crm.lead", fault)
        # a lead (and its past-emails search) in a company not the caller's
        with self.attempt():
            self.refused_with(
                self.attacker,
                "crm.lead",
                "create",
                [{"name": "Theirs", "email_from": DIANA}],
                {"context": {"allowed_company_ids": [self.company_2.id]}},
            )
        self.assertFalse(
            self.env["mail.sync.history.request"].search(
                [("company_id", "=", self.company_2.id)]
            )
        )

    def refused_with(self, user, model, method, args, kwargs):
        """The call, with keyword arguments (a context), fails over XML-RPC."""
        with self.assertRaises(xmlrpc.client.Fault) as caught:
            self.rpc(user, model, method, *args, **kwargs)
        return caught.exception.faultString
