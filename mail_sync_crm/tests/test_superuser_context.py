# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""No value of a client's context reaches the addon's superuser work
(``superuser.py``). Each call below is what a hostile salesperson's RPC client
can send (``call_kw``'s ``context``): ``default_<field>`` keys, which Odoo's
``sudo()`` drops before any superuser ``create`` (kept true here for the
addon's own), a ``default_user_id`` that Odoo's own contact suggestion reads
before the superuser ``create``, and the keys that steer a sync. And a poster's
``parent_id`` lends no header of an email synced on another lead."""

from odoo import Command
from odoo.exceptions import UserError
from odoo.tests import tagged

from ..models.ir_mail_server import PERSONAL_SEQUENCE
from .sync_common import ALICE, SyncCase

BUYER = "bea.buyer@acme.example.com"


@tagged("post_install", "-at_install")
class TestSuperuserContext(SyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.victim_deal = cls.env["crm.lead"].create(
            {
                "name": "Victim's deal",
                "type": "opportunity",
                "user_id": cls.salesman_all.id,
            }
        )
        cls.customer = cls.env["res.partner"].create(
            {"name": "Customer", "email": "ceo@customer.example.com"}
        )

    def test_send_message_takes_no_contact_value_from_the_context(self):
        """ "Send message" on a lead without a contact: the superuser ``create``
        of the lead's contact takes nothing from the request's context."""
        self.assertFalse(self.salesman.has_group("base.group_partner_manager"))
        lead = self.env["crm.lead"].create(
            {
                "name": "Acme robots",
                "email_from": BUYER,
                "contact_name": "Bea Buyer",
                "user_id": self.salesman.id,
            }
        )
        taken_over = {"name": "Taken over", "user_id": self.salesman.id}
        partners = (
            lead.with_user(self.salesman)
            .with_context(
                default_opportunity_ids=[
                    Command.update(self.victim_deal.id, taken_over)
                ],
                default_company_id=self.company_2.id,
                default_ref="Chosen by the request",
                # read by Odoo's own suggestion of the contact's values
                default_user_id=self.salesman_all.id,
            )
            ._mail_sync_recipient_partners([BUYER])
        )
        self.env.invalidate_all()
        self.assertEqual(self.victim_deal.name, "Victim's deal")
        self.assertEqual(self.victim_deal.user_id, self.salesman_all)
        self.assertEqual(partners.email_normalized, BUYER)
        self.assertEqual(partners.name, "Bea Buyer")
        self.assertFalse(partners.company_id)
        self.assertFalse(partners.ref)
        self.assertEqual(partners.user_id, self.salesman, "the lead's salesperson")
        self.assertFalse(partners.opportunity_ids & self.victim_deal)

    def synced_now(self, **context):
        """The salesperson's Sync Now, with ``context``, records a new email
        (the history is synced first: Sync Now syncs the news itself)."""
        self.put(self.salesman, "INBOX", self.received(ALICE, "Before"))
        account = self.mailbox(self.salesman)
        self.env["mail.sync.scheduler"]._cron_sync()
        self.assertTrue(account.sync_historical_done)
        self.put(self.salesman, "INBOX", self.received(ALICE, "Now"))
        action = (
            account.with_user(self.salesman).with_context(**context).action_sync_now()
        )
        self.env.invalidate_all()
        return action, self.synced(self.lead).filtered(lambda m: m.subject == "Now")

    def test_sync_now_writes_no_value_of_the_context(self):
        renamed = {"name": "Renamed by Sync Now"}
        _action, message = self.synced_now(
            default_partner_ids=[Command.update(self.customer.id, renamed)],
            default_starred_partner_ids=[Command.link(self.salesman.partner_id.id)],
        )
        self.assertTrue(message, "the email is recorded")
        self.assertEqual(self.customer.name, "Customer")
        self.assertFalse(message.partner_ids)
        self.assertFalse(message.starred_partner_ids)

    def test_sync_now_is_not_steered_by_the_context(self):
        action, message = self.synced_now(mail_sync_batch_size=0)
        self.assertEqual(action["params"]["type"], "success")
        self.assertTrue(message, "the email is recorded in batches of the addon's size")

    def test_connect_writes_no_value_of_the_context(self):
        """Connect creates the folders, the personal server and, on failure, a
        log entry as superuser: none takes a value from the context (a log
        entry naming a colleague's skipped message would show its sender and
        subject, and its Retry would change it)."""
        colleague = self.mailbox(self.salesman_all)
        skipped = self.env["mail.sync.failed.message"].create(
            {
                "account_id": colleague.id,
                "folder_id": colleague.folder_ids[0].id,
                "uidvalidity": 1,
                "uid": 7,
                "state": "skipped",
                "sender": "ceo@customer.example.com",
                "subject": "Confidential offer",
            }
        )
        context = {
            "default_failed_message_id": skipped.id,
            "default_last_uid": 10**6,
            "default_historical_done": True,
            "default_smtp_debug": True,
        }
        failing = self.make_account(self.salesman, imap_password="not-the-password")
        refused = False
        try:  # not assertRaises: its savepoint would undo the persistent log entry
            failing.with_context(**context).action_connect()
        except UserError:
            refused = True
        self.assertTrue(refused, "a wrong password does not connect")
        self.assertEqual(failing.log_ids.mapped("code"), ["auth_failed"])
        self.assertFalse(failing.log_ids.failed_message_id)
        account = self.make_account(
            self.sales_manager, imap_host=self.mail.host, imap_port=self.mail.ssl_port
        )
        account.with_context(**context).action_connect()
        self.assertEqual(account.state, "enabled")
        self.assertEqual(account.folder_ids.mapped("last_uid"), [0, 0])
        self.assertFalse(any(account.folder_ids.mapped("historical_done")))
        server = self.env["ir.mail_server"].search(
            [("mail_sync_account_id", "=", account.id)]
        )
        self.assertFalse(server.smtp_debug)
        self.assertEqual(server.sequence, PERSONAL_SEQUENCE)

    def test_a_reply_takes_no_header_of_an_email_on_another_lead(self):
        """The poster chooses ``parent_id`` (Odoo does not check where it is):
        an email synced on a lead of someone else's does not lend its
        Message-ID and References to mail sent from another lead."""
        self.put(
            self.salesman_all,
            "INBOX",
            self.received(
                ALICE,
                "Secret deal",
                user=self.salesman_all,
                message_id="<deal@acme.example.com>",
                references=["<earlier@acme.example.com>"],
            ),
        )
        self.mailbox(self.salesman_all)
        self.env["mail.sync.scheduler"]._cron_sync()
        [synced] = self.synced(self.lead)
        mine = self.env["crm.lead"].create(
            {"name": "Mine", "email_from": BUYER, "user_id": self.salesman.id}
        )
        message = (
            mine.with_user(self.salesman)
            .with_context(mail_notify_force_send=False)
            .message_post(
                body="Hello",
                parent_id=synced.id,
                partner_ids=self.customer.ids,
                message_type="comment",
                subtype_xmlid="mail.mt_comment",
            )
        )
        mail = self.env["mail.mail"].search([("mail_message_id", "=", message.id)])
        self.assertTrue(mail)
        self.assertNotIn("deal@acme.example.com", mail.headers or "")
        self.assertNotIn("acme.example.com", mail.references or "")
