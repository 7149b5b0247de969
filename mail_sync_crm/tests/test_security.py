# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The trust boundary, attacked the way a hostile colleague with an RPC client
would: over real HTTP (JSON-RPC ``/web/dataset/call_kw``, ``/mail/message/post``)
and XML-RPC against Odoo's running server, with real SMTP and IMAP servers
whose logs say who signed in and what was sent."""

import base64
import contextlib
import socket
from unittest.mock import patch

from odoo import Command, modules
from odoo.tests import tagged

from mail_sync_testing import SmtpServer

from ..models.mail_sync_account import OWNER_FIELDS
from .common import MailSyncHttpCase, login_password, started

GUARD_MESSAGE = "Only Mail Sync itself"
BUYER = "bea.buyer@acme.example.com"
CUSTOMER = "ceo@customer.example.com"


@tagged("post_install", "-at_install")
class TestHostileColleague(MailSyncHttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.attacker = cls.salesman
        cls.victim = cls.salesman_all
        # The company's own server: where mail that is nobody's own goes.
        cls.company_smtp = started(SmtpServer(), cls.addClassCleanup)
        cls.env["ir.mail_server"].search([]).write({"active": False})
        cls.env["ir.mail_server"].create(
            {
                "name": "Company SMTP",
                "smtp_host": cls.company_smtp.host,
                "smtp_port": cls.company_smtp.plain_port,
                "smtp_encryption": "none",
                "sequence": 1,
            }
        )
        cls.victim_box = (
            cls.env["mail.sync.account"]
            .with_user(cls.victim)
            .create(cls.connect_values(cls, cls.victim))
        )
        cls.victim_box.action_connect()
        cls.victim_server = cls.env["ir.mail_server"].search(
            [("mail_sync_account_id", "=", cls.victim_box.id)]
        )
        Lead = cls.env["crm.lead"]
        cls.own_lead = Lead.create(
            {
                "name": "Acme robots",
                "email_from": BUYER,
                "contact_name": "Bea Buyer",
                "user_id": cls.attacker.id,
            }
        )
        cls.victim_deal = Lead.create(
            {
                "name": "Victim's deal",
                "type": "opportunity",
                "user_id": cls.victim.id,
            }
        )
        cls.other_company_lead = Lead.create(
            {"name": "Client company's lead", "company_id": cls.company_2.id}
        )
        cls.synced = cls.victim_deal.message_post(
            body="A synced email of the victim's", message_type="email"
        )
        cls.own_lead.with_user(cls.attacker).message_subscribe(
            partner_ids=cls.attacker.partner_id.ids
        )
        cls.my_follower = cls.own_lead.message_follower_ids.filtered(
            lambda f: f.partner_id == cls.attacker.partner_id
        )
        cls.customer = cls.env["res.partner"].create(
            {"name": "Customer", "email": CUSTOMER}
        )

    def setUp(self):
        super().setUp()
        for server in (self.smtp, self.company_smtp):
            server.clear_messages()
            server.auth_attempts.clear()

    def sign_in(self, user):
        self.authenticate(user.login, login_password(user.login))

    def call_kw(self, model, method, args, kwargs=None, context=None):
        return self.make_jsonrpc_request(
            f"/web/dataset/call_kw/{model}/{method}",
            {
                "model": model,
                "method": method,
                "args": args,
                "kwargs": {**(kwargs or {}), "context": context or {}},
            },
        )

    @contextlib.contextmanager
    def live(self):
        """Odoo connects and sends for real (only its test-mode switch lifted)."""
        with patch.object(modules.module, "current_test", False):
            yield

    def sent_as(self, server, login):
        return [m for m in server.messages if m.auth_user == login]

    def rcpt_lists(self, server):
        return [m.rcpt_tos for m in server.messages]

    # ------------------------------------------------------------------
    # 1. Values of the request never reach a superuser write
    # ------------------------------------------------------------------
    def test_partner_values_of_a_request_change_nothing(self):
        self.assertFalse(self.attacker.has_group("base.group_partner_manager"))
        before_followers = self.other_company_lead.message_follower_ids
        self.sign_in(self.attacker)
        payload = {
            BUYER: {
                "opportunity_ids": [
                    [
                        int(Command.UPDATE),
                        self.victim_deal.id,
                        {"name": "Taken over", "user_id": self.attacker.id},
                    ]
                ],
                "message_ids": [[int(Command.DELETE), self.synced.id]],
                "message_follower_ids": [
                    [
                        int(Command.UPDATE),
                        self.my_follower.id,
                        {"res_id": self.other_company_lead.id},
                    ]
                ],
                "name": "Chosen by the request",
                "company_id": self.company_2.id,
            }
        }
        self.make_jsonrpc_request(
            "/mail/message/post",
            {
                "thread_model": "crm.lead",
                "thread_id": self.own_lead.id,
                "post_data": {
                    "body": "Our offer",
                    "message_type": "comment",
                    "subtype_xmlid": "mail.mt_comment",
                },
                "partner_emails": [f'"Bea Buyer" <{BUYER}>'],
                "partner_additional_values": payload,
            },
        )
        self.env.invalidate_all()
        self.assertEqual(self.victim_deal.name, "Victim's deal")
        self.assertEqual(self.victim_deal.user_id, self.victim)
        self.assertTrue(self.synced.exists(), "the synced email is still there")
        self.assertEqual(self.my_follower.res_id, self.own_lead.id)
        self.assertEqual(self.other_company_lead.message_follower_ids, before_followers)
        # What "Send message" is for still works: the lead's own contact, made
        # of the lead's own data, received the message.
        partner = self.env["res.partner"].search([("email_normalized", "=", BUYER)])
        self.assertEqual(partner.name, "Bea Buyer")
        self.assertEqual(partner.company_id.id, False)
        self.assertFalse(partner.opportunity_ids & self.victim_deal)
        posted = self.own_lead.message_ids.filtered(lambda m: "Our offer" in m.body)
        self.assertEqual(posted.partner_ids, partner)
        # The same changes are refused to that user when tried directly.
        with self.assertRaises(Exception):  # noqa: B017 - AccessError over JSON-RPC
            self.call_kw(
                "crm.lead", "write", [[self.victim_deal.id], {"name": "Taken over"}]
            )

    # ------------------------------------------------------------------
    # 2. Mail leaves through a personal server only when its owner wrote it
    # ------------------------------------------------------------------
    def post_as_victim(self, user):
        """``user`` posts on the lead with the victim's author and address,
        and asks in the context for the victim's server (a context key the
        sending code uses)."""
        self.sign_in(user)
        self.call_kw(
            "crm.lead",
            "message_post",
            [[self.own_lead.id]],
            {
                "body": f"Sent by {user.login} as the victim",
                "author_id": self.victim.partner_id.id,
                "email_from": self.victim.email_formatted,
                "partner_ids": self.customer.ids,
                "message_type": "comment",
                "subtype_xmlid": "mail.mt_comment",
            },
            context={
                "mail_sync_allowed_server_ids": self.victim_server.ids,
                "mail_notify_force_send": True,
            },
        )
        with self.live():
            self.env["mail.mail"].sudo().process_email_queue()
        self.env.invalidate_all()

    def test_a_salesperson_posting_as_a_colleague_sends_nothing_through_her_mailbox(
        self,
    ):
        self.post_as_victim(self.attacker)
        self.assertEqual(self.sent_as(self.smtp, self.victim.login), [])
        self.assertNotIn(self.victim.login, [a[0] for a in self.smtp.auth_attempts])
        # It left through the company's server, as Odoo sends anyone's mail.
        self.assertIn([CUSTOMER], self.rcpt_lists(self.company_smtp))

    def test_an_administrator_posting_as_a_colleague_sends_nothing_through_her_mailbox(
        self,
    ):
        self.post_as_victim(self.admin)
        self.assertEqual(self.sent_as(self.smtp, self.victim.login), [])
        self.assertIn([CUSTOMER], self.rcpt_lists(self.company_smtp))

    def test_a_mail_an_administrator_creates_for_her_server_is_refused(self):
        self.sign_in(self.admin)
        values = {
            "subject": "As the victim",
            "body_html": "<p>Forged</p>",
            "email_to": CUSTOMER,
            "email_from": self.victim.email_formatted,
            "author_id": self.victim.partner_id.id,
        }
        forced = self.call_kw(
            "mail.mail",
            "create",
            [{**values, "mail_server_id": self.victim_server.id}],
        )
        plain = self.call_kw("mail.mail", "create", [values])
        with self.live():
            self.call_kw(
                "mail.mail",
                "send",
                [[forced, plain]],
                context={"mail_sync_allowed_server_ids": self.victim_server.ids},
            )
        self.env.invalidate_all()
        Mail = self.env["mail.mail"].sudo()
        self.assertEqual(Mail.browse(forced).state, "exception")
        self.assertIn("only mail that", Mail.browse(forced).failure_reason)
        self.assertEqual(self.sent_as(self.smtp, self.victim.login), [])
        self.assertEqual(len(self.company_smtp.messages), 1, "the other one left")

    def test_the_owner_own_mail_still_leaves_through_her_mailbox(self):
        self.assertEqual(self.victim_box.email_proof, "round_trip")
        self.sign_in(self.victim)
        self.call_kw(
            "crm.lead",
            "message_post",
            [[self.victim_deal.id]],
            {
                "body": "My own offer",
                "partner_ids": self.customer.ids,
                "message_type": "comment",
                "subtype_xmlid": "mail.mt_comment",
            },
        )
        with self.live():
            self.env["mail.mail"].sudo().process_email_queue()
        self.assertEqual(len(self.sent_as(self.smtp, self.victim.login)), 1)
        self.assertEqual(self.company_smtp.messages, [])

    # ------------------------------------------------------------------
    # 4. A mailbox sends only From an address it has proven
    # ------------------------------------------------------------------
    def test_a_colleague_address_on_my_mailbox_is_not_proven(self):
        # The attacker's own login and password, the victim's address: the
        # confirmation goes to the victim's Inbox, never the attacker's.
        box = self.make_account(self.attacker, email=self.victim.email)
        box.action_connect()
        self.assertEqual(box.state, "enabled")
        self.assertFalse(box.email_proof)
        self.smtp.clear_messages()
        self.sign_in(self.attacker)
        self.call_kw(
            "crm.lead",
            "message_post",
            [[self.own_lead.id]],
            {
                "body": "From her address, through my login",
                "email_from": self.victim.email_formatted,
                "partner_ids": self.customer.ids,
                "message_type": "comment",
                "subtype_xmlid": "mail.mt_comment",
            },
        )
        with self.live():
            self.env["mail.mail"].sudo().process_email_queue()
        self.assertEqual(self.smtp.messages, [], "nothing through any mailbox")
        self.assertEqual(len(self.company_smtp.messages), 1)

    def test_an_address_proven_by_its_inbox(self):
        # The victim's mailbox: its login is not its address; the
        # confirmation sent through its SMTP arrived in its own Inbox.
        self.assertNotEqual(self.victim_box.imap_login, self.victim.email)
        self.assertEqual(self.victim_box.email_proof, "round_trip")
        self.victim_box.with_user(self.victim).email = "new.address@example.com"
        self.assertFalse(self.victim_box.email_proof, "a new address is not proven")

    # ------------------------------------------------------------------
    # 5. Allow-lists and status
    # ------------------------------------------------------------------
    def test_every_field_outside_the_owner_allow_list_is_refused(self):
        Account = self.env["mail.sync.account"]
        names = sorted(set(Account._fields) - OWNER_FIELDS)
        self.assertIn("sync_round", names)
        self.assertIn("log_cleared_id", names)
        for name in names:
            with self.subTest(field=name), self.attempt():
                error = self.refused(
                    self.victim,
                    "mail.sync.account",
                    "write",
                    [self.victim_box.id],
                    {name: False},
                )
                self.assertIn(GUARD_MESSAGE, error)
        for name in sorted(OWNER_FIELDS - {"provider", "quota_profile"}):
            value = Account._fields[name].convert_to_write(
                self.victim_box[name], self.victim_box
            )
            with self.subTest(owner_field=name), self.attempt():
                self.rpc(
                    self.victim,
                    "mail.sync.account",
                    "write",
                    [self.victim_box.id],
                    {name: value if value is not None else False},
                )

    def test_a_blocklist_entry_takes_only_its_allow_listed_fields(self):
        created = self.rpc(
            self.attacker,
            "mail.sync.blocklist",
            "create",
            {"value": "x.example", "user_id": self.attacker.id},
        )
        error = self.refused(
            self.attacker,
            "mail.sync.blocklist",
            "write",
            [created],
            {"kind": "email"},
        )
        self.assertIn(GUARD_MESSAGE, error)
        self.refused(
            self.attacker,
            "mail.sync.blocklist",
            "create",
            {"value": "y.example", "user_id": self.victim.id},
        )

    def test_nobody_but_the_owner_changes_her_queued_mail(self):
        mail = (
            self.env["mail.mail"]
            .with_user(self.victim)
            .sudo()
            .create(
                {
                    "subject": "Our proposal",
                    "body_html": "<p>Her words</p>",
                    "email_to": CUSTOMER,
                    "email_from": self.victim.email_formatted,
                    "author_id": self.victim.partner_id.id,
                    "scheduled_date": "2099-01-01 00:00:00",
                }
            )
        )
        for values in (
            {"email_to": "attacker@evil.example.com"},
            {"body_html": "<p>The administrator's words</p>"},
            {"recipient_ids": [[int(Command.LINK), self.attacker.partner_id.id]]},
        ):
            with self.subTest(values=values):
                error = self.refused(
                    self.admin, "mail.mail", "write", [mail.id], values
                )
                self.assertIn("only they can change it", error)
        self.env.invalidate_all()
        self.assertEqual(mail.email_to, CUSTOMER)
        # What is not the mail's content stays the administrator's to manage.
        self.rpc(self.admin, "mail.mail", "write", [mail.id], {"scheduled_date": False})

    def queued_mail_of_the_victim(self):
        """The victim writes from a lead that the attacker may write too (no
        salesperson), to the customer and to the attacker, with an attachment;
        the mail waits in the queue (a deferral by the governor keeps it there
        for hours). Returns (message id, attachment id)."""
        shared = self.env["crm.lead"].create(
            {"name": "Unassigned lead", "email_from": CUSTOMER, "user_id": False}
        )
        self.sign_in(self.victim)
        attachment = self.call_kw(
            "ir.attachment",
            "create",
            [
                {
                    "name": "offer.txt",
                    "datas": base64.b64encode(b"Her offer: 100 EUR").decode(),
                    "res_model": "crm.lead",
                    "res_id": shared.id,
                }
            ],
        )
        message = self.call_kw(
            "crm.lead",
            "message_post",
            [[shared.id]],
            {
                "body": "Please find our offer attached",
                "subject": "Our offer",
                "attachment_ids": [attachment],
                "partner_ids": [self.customer.id, self.attacker.partner_id.id],
                "message_type": "comment",
                "subtype_xmlid": "mail.mt_comment",
            },
            context={"mail_notify_force_send": False},
        )
        mails = self.env["mail.mail"].sudo().search([("mail_message_id", "=", message)])
        self.assertTrue(mails)
        self.assertEqual(mails.create_uid, self.victim)
        self.assertEqual(set(mails.mapped("state")), {"outgoing"})
        return message, attachment

    def test_nobody_but_the_owner_changes_her_queued_mail_through_its_message(self):
        message, attachment = self.queued_mail_of_the_victim()
        planted = self.rpc(
            self.attacker,
            "ir.attachment",
            "create",
            {
                "name": "new-bank-details.txt",
                "datas": base64.b64encode(b"Pay to the attacker").decode(),
            },
        )
        # A salesperson who may write the lead (and is a recipient): through the
        # message the mail takes its subject, Reply-To and attachments from, and
        # through the attachment itself.
        for values in (
            {"subject": "URGENT: new bank details"},
            {"reply_to": "attacker@evil.example.com"},
            {"attachment_ids": [[int(Command.LINK), planted]]},
            {"author_id": self.attacker.partner_id.id},
        ):
            with self.subTest(values=values):
                error = self.refused(
                    self.attacker, "mail.message", "write", [message], values
                )
                self.assertIn("only they can change it", error)
        error = self.refused(
            self.attacker,
            "ir.attachment",
            "write",
            [attachment],
            {"datas": base64.b64encode(b"Pay to the attacker").decode()},
        )
        self.assertIn("only they can change it", error)
        # An administrator: the message, another message under the mail, and
        # the chatter's own Edit (which writes as superuser for administrators).
        error = self.refused(
            self.admin, "mail.message", "write", [message], {"subject": "Admin's"}
        )
        self.assertIn("only they can change it", error)
        other = self.env["mail.message"].create(
            {"subject": "The administrator's words", "body": "<p>x</p>"}
        )
        mail = self.env["mail.mail"].sudo().search([("mail_message_id", "=", message)])
        error = self.refused(
            self.admin,
            "mail.mail",
            "write",
            mail[:1].ids,
            {"mail_message_id": other.id},
        )
        self.assertIn("only they can change it", error)
        self.sign_in(self.admin)
        with self.assertRaises(Exception):  # noqa: B017 - AccessError over JSON-RPC
            self.make_jsonrpc_request(
                "/mail/message/update_content",
                {
                    "message_id": message,
                    "body": "The administrator's words",
                    "attachment_ids": [],
                },
            )
        # The owner still edits her own mail; a colleague still changes what is
        # no one's own mail.
        self.rpc(self.victim, "mail.message", "write", [message], {"body": "<p>ok</p>"})
        self.rpc(
            self.attacker, "ir.attachment", "write", [planted], {"name": "mine.txt"}
        )
        with self.live():
            self.env["mail.mail"].sudo().process_email_queue()
        sent = self.sent_as(self.smtp, self.victim.login)
        self.assertTrue(sent, "her mail left through her mailbox")
        for received in sent:
            self.assertEqual(received.message["Subject"], "Our offer")
            self.assertNotIn(b"attacker", received.data.lower())
            names = [p.get_filename() for p in received.message.iter_attachments()]
            self.assertEqual(names, ["offer.txt"])

    def test_context_defaults_set_no_field_only_mail_sync_sets(self):
        """Odoo fills the fields a create leaves out from the context's
        default_<field> keys, which the client chooses."""
        self.sign_in(self.attacker)
        box = self.call_kw(
            "mail.sync.account",
            "create",
            [self.connect_values(self.attacker, email=self.victim.email)],
            context={
                "default_state": "enabled",
                "default_email_proof": "round_trip",
                "default_user_id": self.victim.id,
                "default_company_id": self.company_2.id,
                "default_connected_date": "2020-01-01 00:00:00",
                "default_imap_cert_fingerprint": "ab" * 32,
                "default_sync_round": 9,
            },
        )
        box = self.env["mail.sync.account"].browse(box)
        self.assertEqual(box.state, "draft")
        self.assertFalse(box.email_proof)
        self.assertEqual(box.user_id, self.attacker)
        self.assertEqual(box.company_id, self.company)
        self.assertFalse(box.connected_date)
        self.assertFalse(box.imap_cert_fingerprint)
        self.assertFalse(box.sync_round)
        # Connected, the colleague's address is still not proven: her mail
        # address leaves through nobody's mailbox.
        self.call_kw("mail.sync.account", "action_connect", [[box.id]])
        self.env.invalidate_all()
        self.assertEqual(box.state, "enabled")
        self.assertFalse(box.email_proof)
        self.smtp.clear_messages()
        self.call_kw(
            "crm.lead",
            "message_post",
            [[self.own_lead.id]],
            {
                "body": "From her address, through my login",
                "email_from": self.victim.email_formatted,
                "author_id": self.attacker.partner_id.id,
                "partner_ids": self.customer.ids,
                "message_type": "comment",
                "subtype_xmlid": "mail.mt_comment",
            },
        )
        with self.live():
            self.env["mail.mail"].sudo().process_email_queue()
        self.assertEqual(self.smtp.messages, [], "nothing through any mailbox")
        # A blocklist entry gets no erasure date; an administrator's server is
        # nobody's personal server.
        entry = self.call_kw(
            "mail.sync.blocklist",
            "create",
            [{"value": "someone@acme.example.com", "user_id": self.attacker.id}],
            context={"default_erased_date": "2024-01-01 00:00:00"},
        )
        self.assertFalse(self.env["mail.sync.blocklist"].browse(entry).erased_date)
        self.sign_in(self.admin)
        server = self.call_kw(
            "ir.mail_server",
            "create",
            [{"name": "Admin's", "smtp_host": "smtp.example.com"}],
            context={
                "default_owner_user_id": self.victim.id,
                "default_mail_sync_account_id": self.victim_box.id,
            },
        )
        server = self.env["ir.mail_server"].browse(server)
        self.assertFalse(server.owner_user_id)
        self.assertFalse(server.mail_sync_account_id)
        # The defaults of the owner's own fields still fill her new mailbox
        # (the "My Mail Sync" form gives default_email).
        self.sign_in(self.sales_manager)
        values = self.connect_values(self.sales_manager)
        address = values.pop("email")
        own = self.call_kw(
            "mail.sync.account", "create", [values], context={"default_email": address}
        )
        self.assertEqual(self.env["mail.sync.account"].browse(own).email, address)

    def test_no_rpc_client_makes_odoo_connect_anywhere(self):
        """Odoo's ir.mail_server.connect() and send_email() connect to the host
        and port of their arguments: over RPC, a salesperson's port scanner."""
        listener = socket.create_server(("127.0.0.1", 0))
        self.addCleanup(listener.close)
        listener.settimeout(0.5)
        port = listener.getsockname()[1]
        self.sign_in(self.attacker)
        for method, args, kwargs in (
            ("connect", [[]], {"host": "127.0.0.1", "port": port}),
            (
                "send_email",
                [{"From": BUYER}],
                {"smtp_server": "127.0.0.1", "smtp_port": port},
            ),
        ):
            with self.subTest(method=method), self.live():
                with self.assertRaises(Exception) as caught:
                    self.call_kw("ir.mail_server", method, args, kwargs)
                self.assertIn("AccessError", str(caught.exception))
        with self.assertRaises(TimeoutError):
            listener.accept()

    def test_a_mailbox_status_is_read_within_its_company_only(self):
        def status(reader):
            return self.rpc(
                reader, "res.users", "read", [self.victim.id], ["mail_sync_state"]
            )[0]["mail_sync_state"]

        self.assertEqual(status(self.attacker), "enabled")
        self.assertFalse(status(self.other_company_user))
