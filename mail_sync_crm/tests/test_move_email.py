# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Move an email to the right lead (#20, item 4): the owner of a synced email
moves it (or its thread) to another lead; no later sync puts it back — a
resync, a UIDVALIDITY change, a reconnect that reads the history again — nor
writes it twice on the new lead; nobody else may move it."""

import base64
from datetime import datetime

from odoo.exceptions import AccessError
from odoo.tests import tagged

from mail_sync_testing import make_message

from .common import PASSWORD, MailSyncHttpCase
from .sync_common import ALICE, SyncCase

ALICE_HOME = "alice@home.example.com"


@tagged("post_install", "-at_install")
class TestMoveEmail(SyncCase):
    def setUp(self):
        super().setUp()
        self.lead.user_id = self.salesman
        # the right lead: Alice's other opportunity, under another address
        self.target = self.Lead.create(
            {
                "name": "Alice's own shop",
                "type": "opportunity",
                "email_from": ALICE_HOME,
                "user_id": self.salesman.id,
            }
        )
        self.quote = self.received(
            ALICE,
            "Quote",
            date=datetime(2026, 3, 1, 9),
            message_id="<quote@acme.example.com>",
            attachments=[("quote.txt", b"40 robots", "text/plain")],
        )
        self.put(self.salesman, "INBOX", self.quote)
        self.account = self.mailbox(self.salesman)
        self.sync()

    def sync(self):
        self.env["mail.sync.scheduler"]._cron_sync()
        self.assertNotEqual(self.account.state, "error", self.account.last_error)

    def move(self, message, target=None, user=None, whole_thread=False, lead=None):
        wizard = (
            self.env["mail.sync.move.wizard"]
            .with_user(user or self.salesman)
            .create(
                {
                    "lead_id": (lead or self.lead).id,
                    "mail_message_id": message.id,
                    "target_lead_id": (target or self.target).id,
                    "whole_thread": whole_thread,
                }
            )
        )
        return wizard.action_move()

    def test_moved_email_is_on_the_new_lead_once_and_stays_off_the_old(self):
        quote = self.synced(self.lead)
        self.assertEqual(quote.mapped("subject"), ["Quote"])
        body, date = str(quote.body), quote.date
        self.move(quote)
        self.assertFalse(self.synced(self.lead), "gone from the old lead")
        moved = self.synced(self.target)
        self.assertEqual(moved, quote, "the same chatter message, on the new lead")
        self.assertEqual((str(moved.body), moved.date), (body, date))
        self.assertEqual(moved.attachment_ids.mapped("res_id"), [self.target.id])
        self.assertEqual(
            base64.b64decode(moved.attachment_ids.datas), b"40 robots", "attachment"
        )
        ledger = self.env["mail.sync.message"].search(
            [("message_id", "=", "<quote@acme.example.com>")]
        )
        self.assertEqual(ledger.lead_id, self.target, "the ledger follows")
        self.assertEqual(self.lead.mail_sync_count, 0)
        self.assertEqual(self.target.mail_sync_count, 1)
        # the Emails views follow
        self.assertFalse(
            self.lead.with_user(self.salesman).mail_sync_conversation()["threads"]
        )
        threads = self.target.with_user(self.salesman).mail_sync_conversation()[
            "threads"
        ]
        self.assertEqual([t["subject"] for t in threads], ["Quote"])

        # a later sync with new mail from Alice: the quote does not come back
        self.put(self.salesman, "INBOX", self.received(ALICE, "Later"))
        self.sync()
        self.assertEqual(self.synced(self.lead).mapped("subject"), ["Later"])
        self.assertEqual(self.synced(self.target), quote)

        # the server renumbers the Inbox (UIDVALIDITY changes): all read again
        inbox = self.account.folder_ids.filtered(lambda f: f.direction == "in")
        self.mail.set_uidvalidity(self.salesman.login, "INBOX", inbox.uidvalidity + 7)
        self.sync()
        self.assertEqual(inbox.last_uid, 2, "the whole Inbox was read again")
        self.assertEqual(self.synced(self.lead).mapped("subject"), ["Later"])
        self.assertEqual(self.synced(self.target), quote)

        # disconnected (history kept) and connected again: the history is read again
        self.account.action_disable(keep_history=True)
        self.account.write({"imap_password": PASSWORD})
        self.account.action_connect()
        self.sync()
        self.assertEqual(self.synced(self.lead).mapped("subject"), ["Later"])
        self.assertEqual(self.synced(self.target), quote)

    def test_a_colleagues_copy_does_not_bring_it_back(self):
        self.move(self.synced(self.lead))
        self.put(self.salesman_all, "INBOX", self.quote)
        colleague = self.mailbox(self.salesman_all)
        self.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(colleague.state, "enabled", colleague.last_error)
        self.assertFalse(self.synced(self.lead))
        self.assertEqual(len(self.synced(self.target)), 1)

    def test_moved_to_a_lead_that_has_it_too_is_not_duplicated(self):
        both = self.Lead.create(
            {
                "name": "Acme phase 2",
                "type": "opportunity",
                "email_from": ALICE,
                "user_id": self.salesman.id,
            }
        )
        self.put(
            self.salesman,
            "INBOX",
            self.received(ALICE, "To both", message_id="<both@acme.example.com>"),
        )
        self.sync()
        on_both = self.synced(both).filtered(lambda m: m.subject == "To both")
        self.assertEqual(len(on_both), 1)
        here = self.synced(self.lead).filtered(lambda m: m.subject == "To both")
        self.move(here, target=both)
        self.assertFalse(
            self.synced(self.lead).filtered(lambda m: m.subject == "To both")
        )
        self.assertEqual(
            self.synced(both).filtered(lambda m: m.subject == "To both"), on_both
        )
        inbox = self.account.folder_ids.filtered(lambda f: f.direction == "in")
        self.mail.set_uidvalidity(self.salesman.login, "INBOX", inbox.uidvalidity + 3)
        self.sync()
        self.assertEqual(
            self.synced(both).filtered(lambda m: m.subject == "To both"), on_both
        )
        self.assertEqual(self.synced(self.lead).mapped("subject"), ["Quote"])

    def test_whole_thread_moves_the_owners_emails_of_the_conversation(self):
        self.put(
            self.salesman,
            "Sent",
            make_message(
                self.salesman.email,
                ALICE,
                subject="Re: Quote",
                date=datetime(2026, 3, 2, 9),
                message_id="<answer@ourcompany.example.com>",
                in_reply_to="<quote@acme.example.com>",
            ),
        )
        self.put(self.salesman, "INBOX", self.received(ALICE, "Unrelated"))
        self.sync()
        quote = self.synced(self.lead).filtered(lambda m: m.subject == "Quote")
        self.move(quote, whole_thread=True)
        self.assertEqual(
            sorted(self.synced(self.target).mapped("subject")), ["Quote", "Re: Quote"]
        )
        self.assertEqual(self.synced(self.lead).mapped("subject"), ["Unrelated"])
        self.assertEqual(
            sorted(
                self.env["mail.sync.moved"]
                .search([("lead_id", "=", self.lead.id)])
                .mapped("message_id")
            ),
            ["<answer@ourcompany.example.com>", "<quote@acme.example.com>"],
        )

    def test_moved_back_is_synced_there_again(self):
        quote = self.synced(self.lead)
        self.move(quote)
        self.move(quote, target=self.lead, lead=self.target)
        self.assertEqual(self.synced(self.lead), quote)
        self.assertFalse(self.synced(self.target))
        inbox = self.account.folder_ids.filtered(lambda f: f.direction == "in")
        self.mail.set_uidvalidity(self.salesman.login, "INBOX", inbox.uidvalidity + 5)
        self.sync()
        self.assertEqual(self.synced(self.lead), quote, "once, not twice")

    def test_an_erasure_takes_the_moves_along(self):
        self.move(self.synced(self.lead))
        Moved = self.env["mail.sync.moved"]
        self.assertEqual(len(Moved.search([])), 1)
        self.env["mail.sync.erasure"].with_user(self.admin)._erase(ALICE)
        self.assertFalse(self.synced(self.target))
        self.assertFalse(Moved.search([]), "no Message-ID of Alice's mail is kept")

    def test_only_the_owner_moves_and_only_to_a_lead_they_may_write(self):
        quote = self.synced(self.lead)
        # a colleague who reads every lead is not the email's owner
        with self.assertRaises(AccessError):
            self.move(quote, user=self.salesman_all)
        with self.assertRaises(AccessError):
            self.lead.with_user(self.salesman_all).action_mail_sync_move(quote.id)
        # the owner may not move it onto a lead they cannot write
        theirs = self.Lead.create(
            {
                "name": "Not mine",
                "email_from": "x@y.example.com",
                "user_id": self.salesman_all.id,
            }
        )
        with self.assertRaises(AccessError) as refused:
            self.move(quote, target=theirs)
        self.assertNotIn("Only the owner", str(refused.exception))
        self.assertEqual(self.synced(self.lead), quote, "nothing moved")


@tagged("post_install", "-at_install")
class TestMoveEmailRpc(MailSyncHttpCase):
    """Over XML-RPC, as a colleague would try it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.lead = cls.env["crm.lead"].create(
            {"name": "Acme robots", "email_from": ALICE, "user_id": cls.salesman.id}
        )
        cls.target = cls.env["crm.lead"].create(
            {
                "name": "Acme shop",
                "email_from": ALICE_HOME,
                "user_id": cls.salesman_all.id,
            }
        )
        cls.imap.append(
            cls.salesman.login,
            "INBOX",
            make_message(ALICE, cls.salesman.email, subject="Quote", text="40 robots"),
        )
        account = (
            cls.env["mail.sync.account"]
            .with_user(cls.salesman)
            .create(cls.connect_values(cls, cls.salesman))
        )
        account.action_connect()
        cls.env["mail.sync.scheduler"]._cron_sync()
        cls.quote = cls.lead.message_ids.filtered(lambda m: m.subject == "Quote")

    def test_a_colleague_cannot_move_someone_elses_email(self):
        self.assertEqual(len(self.quote), 1)
        colleague = self.salesman_all  # reads and writes every lead
        self.assertIn(
            "Only the owner",
            self.refused(
                colleague,
                "crm.lead",
                "action_mail_sync_move",
                [self.lead.id],
                self.quote.id,
            ),
        )
        self.assertIn(
            "Only the owner",
            self.refused(
                colleague,
                "mail.sync.move.wizard",
                "create",
                {
                    "lead_id": self.lead.id,
                    "mail_message_id": self.quote.id,
                    "target_lead_id": self.target.id,
                },
            ),
        )
        # nor the private service, nor the message itself
        self.refused(
            colleague,
            "mail.sync.moved",
            "_mail_sync_move",
            self.lead.id,
            self.target.id,
            self.quote.id,
        )
        self.assertIn(
            "synced email",
            self.refused(
                colleague,
                "mail.message",
                "write",
                [self.quote.id],
                {"res_id": self.target.id},
            ),
        )
        # the owner may not move it onto a lead they cannot write, nor write the
        # record of a move themselves
        self.assertIn(
            "'write' access to",
            self.refused(
                self.salesman,
                "mail.sync.move.wizard",
                "create",
                {
                    "lead_id": self.lead.id,
                    "mail_message_id": self.quote.id,
                    "target_lead_id": self.target.id,  # the colleague's lead
                },
            ),
        )
        self.assertIn(
            "not allowed",
            self.refused(
                self.salesman,
                "mail.sync.moved",
                "create",
                {"message_id": "<x>", "lead_id": self.lead.id, "account_id": 1},
            ),
        )
        self.env.invalidate_all()
        self.assertEqual(self.quote.res_id, self.lead.id, "still on its lead")
        self.assertEqual(self.quote.subject, "Quote")
