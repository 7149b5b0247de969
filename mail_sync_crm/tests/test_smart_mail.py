# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Smart Mail against real SMTP servers: routing to the owner's own server, the
quota governor, deferrals, failures and TLS pinning.

Odoo 18 does not connect nor send in test mode (``modules.module.current_test``
in ``ir.mail_server.connect`` and ``send_email``); :meth:`TestSmartMail.live`
lifts only that switch, the network and the servers stay real.
"""

import base64
import contextlib
import logging
from datetime import datetime, timedelta
from email.utils import parseaddr
from unittest.mock import patch

from freezegun import freeze_time

from odoo import Command, modules
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from odoo.addons.base.models.ir_mail_server import IrMailServer as StockIrMailServer
from odoo.addons.mail.models.mail_mail import MailMail as StockMailMail

from mail_sync_testing import SmtpServer

from ..lib.sending import quota
from .common import PASSWORD, MailSyncCase, started

CUSTOMER = "ceo@acme.example.com"
# The servers' threads keep real time while the test's clock is frozen.
FREEZE_IGNORE = ["asyncio", "aiosmtpd", "concurrent"]


@tagged("post_install", "-at_install")
class TestSmartMail(MailSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_smtp = started(SmtpServer(), cls.addClassCleanup)
        servers = cls.env["ir.mail_server"].search([])
        servers.write({"active": False})
        cls.company_server = cls.env["ir.mail_server"].create(
            {
                "name": "Company SMTP",
                "smtp_host": cls.company_smtp.host,
                "smtp_port": cls.company_smtp.plain_port,
                "smtp_encryption": "none",
                "sequence": 1,
            }
        )
        cls.customer = cls.env["res.partner"].create(
            {"name": "ACME CEO", "email": CUSTOMER}
        )
        cls.lead = cls.env["crm.lead"].create(
            {
                "name": "ACME deal",
                "partner_id": cls.customer.id,
                "email_from": CUSTOMER,
                "user_id": cls.salesman.id,
            }
        )

    def setUp(self):
        super().setUp()
        for server in (self.smtp, self.company_smtp):
            server.clear_faults()
            server.clear_messages()
            server.auth_attempts.clear()

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------
    @contextlib.contextmanager
    def live(self):
        """Let Odoo connect and send for real (only the test-mode switch)."""
        with patch.object(modules.module, "current_test", False):
            yield

    def connected(self, user=None, **overrides):
        account = self.connected_account(user or self.salesman, **overrides)
        self.assertEqual(account.state, "enabled")
        self.smtp.auth_attempts.clear()  # the connection test's own login
        return account

    def server_of(self, account):
        return self.env["ir.mail_server"].search(
            [("mail_sync_account_id", "=", account.id)]
        )

    def make_mail(self, user, email_to=CUSTOMER, **values):
        """An outgoing mail written by ``user`` on the lead, from their address
        unless ``email_from`` says otherwise: created in ``user``'s session (its
        ``create_uid``), as Odoo creates the mail of a message they post."""
        vals = {
            "subject": "Our proposal",
            "body_html": "<p>Please find our proposal.</p>",
            "email_to": email_to,
            "email_from": user.email_formatted,
            "author_id": user.partner_id.id,
            "model": "crm.lead",
            "res_id": self.lead.id,
        }
        vals.update(values)
        mail = self.env["mail.mail"].with_user(user).sudo().create(vals)
        return self.env["mail.mail"].browse(mail.ids)

    def send(self, mails):
        with self.live():
            mails.send()
        mails.invalidate_recordset()

    def run_queue(self):
        with self.live():
            self.env["mail.mail"].process_email_queue()
        self.env.invalidate_all()

    def override(self, **figures):
        return self.env["mail.sync.quota.override"].create(
            {"company_id": self.company.id, "profile": "custom", **figures}
        )

    def events(self, account):
        return self.env["mail.sync.send.event"].search(
            [("account_id", "=", account.id)], order="id"
        )

    def last_log(self, account):
        return self.env["mail.sync.log"].search(
            [("account_id", "=", account.id)], order="id desc", limit=1
        )

    def assertNothingSent(self):
        self.assertEqual(self.smtp.messages, [])
        self.assertEqual(self.company_smtp.messages, [])

    # ------------------------------------------------------------------
    # The personal server
    # ------------------------------------------------------------------
    def test_connect_creates_the_personal_server_without_password(self):
        account = self.connected()
        server = self.server_of(account)
        self.assertEqual(len(server), 1)
        self.assertEqual(server.owner_user_id, self.salesman)
        self.assertEqual(server.from_filter, self.salesman.email)
        self.assertEqual(server.smtp_host, self.smtp.host)
        self.assertEqual(server.smtp_port, self.smtp.ssl_port)
        self.assertEqual(server.smtp_encryption, "ssl")
        self.assertEqual(server.smtp_user, "salesman")
        self.assertFalse(server.smtp_pass, "the password stays encrypted")
        self.env.flush_all()
        self.env.cr.execute(
            "SELECT row_to_json(s)::text FROM ir_mail_server s WHERE id = %s",
            [server.id],
        )
        self.assertNotIn(PASSWORD, self.env.cr.fetchone()[0])
        # Salespeople cannot read any outgoing server (stock access rights).
        with self.assertRaises(AccessError):
            server.with_user(self.salesman).read(["smtp_user"])

        # Reconnecting (STARTTLS now, the password typed again for it) updates
        # the same server.
        account.write(
            {
                "smtp_port": self.smtp.port,
                "smtp_encryption": "starttls",
                "imap_password": PASSWORD,
            }
        )
        account.action_connect()
        self.assertEqual(self.server_of(account), server)
        self.assertEqual(server.smtp_encryption, "starttls")
        self.assertEqual(server.smtp_port, self.smtp.port)

        account.action_disable(keep_history=True)
        self.assertFalse(server.exists(), "disconnecting removes the server")

    def test_quota_profile_default_and_usage_display(self):
        account = self.connected()
        self.assertEqual(account.quota_profile, "custom")
        gmail = self.make_account(self.salesman_all, email="someone@gmail.com")
        self.assertEqual(gmail.quota_profile, "gmail")
        workspace = self.make_account(self.sales_manager, provider="gmail")
        self.assertEqual(workspace.quota_profile, "google_workspace")

        account.quota_profile = "gmail"
        self.salesman.tz = "Europe/Brussels"
        self.assertEqual(account.smart_mail_usage, "0 / 500 emails today")
        self.assertIn("Gmail: 100 recipients per email", account.smart_mail_limits)
        self.override(recipients_per_email=2)  # another profile: no effect
        with freeze_time("2024-05-13 12:05:00", ignore=FREEZE_IGNORE):
            self.send(self.make_mail(self.salesman) | self.make_mail(self.salesman))
        self.assertEqual(len(self.smtp.messages), 2)
        with freeze_time("2024-05-14 09:00:00", ignore=FREEZE_IGNORE):
            account.invalidate_recordset(["smart_mail_usage"])
            self.assertEqual(
                account.with_user(self.salesman).smart_mail_usage,
                "2 / 500 emails today, resets at 14:05",
            )

    # ------------------------------------------------------------------
    # Routing
    # ------------------------------------------------------------------
    def test_owner_mail_leaves_through_own_server(self):
        account = self.connected()
        mail = self.make_mail(self.salesman)
        self.send(mail)
        self.assertEqual(mail.state, "sent")
        [received] = self.smtp.messages
        self.assertEqual(self.company_smtp.messages, [])
        self.assertEqual(received.mail_from, self.salesman.email)
        self.assertEqual(received.rcpt_tos, [CUSTOMER])
        self.assertEqual(received.auth_user, "salesman")
        self.assertTrue(received.tls)
        self.assertEqual(received.port, self.smtp.ssl_port)
        self.assertIn(self.salesman.email, received.message["From"])
        event = self.events(account)
        self.assertEqual(event.recipient_count, 1)
        self.assertEqual(event.mail_id, mail.id)
        self.assertEqual(event.message_id, received.message["Message-Id"])

    def test_others_and_notifications_use_the_company_server(self):
        self.connected()
        colleague = self.make_mail(self.salesman_all)
        notification = self.make_mail(
            self.env.ref("base.user_root"),
            email_from=self.company.email_formatted,
        )
        self.send(colleague | notification)
        self.assertEqual((colleague | notification).mapped("state"), ["sent"] * 2)
        self.assertEqual(self.smtp.messages, [])
        self.assertEqual(len(self.company_smtp.messages), 2)
        self.assertEqual(self.smtp.auth_attempts, [])

    def test_colleague_on_owners_lead_with_owners_address(self):
        """A template rendering the owner's address for a colleague's mail: not
        the owner's mail, whoever has a mailbox."""
        self.connected()
        self.connected(self.salesman_all)
        mail = self.make_mail(
            self.salesman_all, email_from=self.salesman.email_formatted
        )
        self.send(mail)
        self.assertEqual(mail.state, "sent")
        self.assertEqual(self.smtp.messages, [], "neither the owner's nor B's server")
        self.assertEqual(len(self.company_smtp.messages), 1)
        # The owner writing from another address is not "their own" mail either.
        other = self.make_mail(self.salesman, email_from="sales@ourcompany.example.com")
        self.send(other)
        self.assertEqual(self.smtp.messages, [])
        self.assertEqual(len(self.company_smtp.messages), 2)

    def test_forcing_another_owners_server_is_refused(self):
        owner_server = self.server_of(self.connected())
        mail = self.make_mail(self.salesman_all, mail_server_id=owner_server.id)
        notification = self.make_mail(
            self.env.ref("base.user_root"),
            email_from=self.company.email_formatted,
            mail_server_id=owner_server.id,
        )
        self.send(mail | notification)
        for refused in (mail, notification):
            self.assertEqual(refused.state, "exception")
            self.assertIn("only mail that", refused.failure_reason)
            self.assertIn(self.salesman.name, refused.failure_reason)
        self.assertNothingSent()
        # The owner may force their own server.
        own = self.make_mail(self.salesman, mail_server_id=owner_server.id)
        self.send(own)
        self.assertEqual(own.state, "sent")
        self.assertEqual(len(self.smtp.messages), 1)

    def test_connect_refuses_another_owners_server(self):
        server = self.server_of(self.connected())
        servers = self.env["ir.mail_server"].with_user(self.salesman_all).sudo()
        with self.assertRaisesRegex(UserError, "only mail that"):
            servers.connect(mail_server_id=server.id)
        with self.live():
            connection = (
                self.env["ir.mail_server"]
                .with_user(self.salesman)
                .sudo()
                .connect(mail_server_id=server.id)
            )
        try:
            self.assertTrue(connection.noop()[0] == 250)
        finally:
            connection.quit()
        self.assertIn(("salesman", True), self.smtp.auth_attempts)

    def test_without_mailbox_odoo_chooses_exactly_as_stock(self):
        """Module installed, no mailbox: same server, same From as Odoo 18."""
        self.assertFalse(self.env["ir.mail_server"]._mail_sync_personal_servers())
        servers = self.env["ir.mail_server"]
        mails = self.make_mail(self.salesman) | self.make_mail(
            self.env.ref("base.user_root"), email_from=self.company.email_formatted
        )
        for email_from in (self.salesman.email_formatted, "nobody@elsewhere.example"):
            self.assertEqual(
                servers._find_mail_server(email_from),
                StockIrMailServer._find_mail_server(servers, email_from),
            )
        self.assertEqual(
            list(mails._split_by_mail_configuration()),
            list(StockMailMail._split_by_mail_configuration(mails)),
        )
        self.send(mails)
        self.assertEqual(len(self.company_smtp.messages), 2)
        received = {
            msg.message["Message-Id"]: msg for msg in self.company_smtp.messages
        }
        for mail in mails:
            msg = received[mail.message_id]
            server, smtp_from = StockIrMailServer._find_mail_server(
                servers, mail.email_from
            )
            self.assertEqual(server, self.company_server)
            self.assertEqual(parseaddr(msg.message["From"]), parseaddr(smtp_from))

    def test_message_id_on_the_lead_chatter(self):
        self.connected()
        self.lead.message_subscribe(partner_ids=self.customer.ids)
        with self.live():
            message = self.lead.with_user(self.salesman).message_post(
                body="Here is our proposal",
                partner_ids=self.customer.ids,
                message_type="comment",
                subtype_xmlid="mail.mt_comment",
            )
        [received] = self.smtp.messages
        self.assertEqual(received.message["Message-Id"], message.message_id)
        self.assertEqual(received.auth_user, "salesman")
        self.assertEqual(self.company_smtp.messages, [])

    # ------------------------------------------------------------------
    # The governor
    # ------------------------------------------------------------------
    def test_recipients_split_per_email_and_connection(self):
        account = self.connected()
        self.override(recipients_per_email=2)
        rcpts = [f"lead{i}@acme.example.com" for i in range(5)]
        mail = self.make_mail(self.salesman, email_to=", ".join(rcpts))
        before = self.smtp.connection_count
        self.send(mail)
        self.assertEqual(mail.state, "sent")
        received = self.smtp.messages
        self.assertEqual([len(m.rcpt_tos) for m in received], [2, 2, 1])
        self.assertEqual(sorted(rcpt for m in received for rcpt in m.rcpt_tos), rcpts)
        self.assertEqual({m.message["Message-Id"] for m in received}, {mail.message_id})
        self.assertEqual(self.smtp.connection_count - before, 1, "one connection")
        self.assertEqual(self.events(account).mapped("recipient_count"), [2, 2, 1])

        self.smtp.clear_messages()
        self.env["mail.sync.quota.override"].search([]).recipients_per_connection = 3
        mail = self.make_mail(self.salesman, email_to=", ".join(rcpts))
        before = self.smtp.connection_count
        self.send(mail)
        # 2 + 2 > 3: a second connection for the second email, which the third
        # (1 recipient) shares.
        self.assertEqual([len(m.rcpt_tos) for m in self.smtp.messages], [2, 2, 1])
        self.assertEqual(self.smtp.connection_count - before, 2)

    def test_too_large_fails_at_once(self):
        account = self.connected()
        self.override(max_size_mb=1)
        attachment = self.env["ir.attachment"].create(
            {
                "name": "brochure.pdf",
                "datas": base64.b64encode(b"%PDF" + b"x" * (2 * 1024 * 1024)),
                "res_model": "mail.compose.message",
            }
        )
        mail = self.make_mail(
            self.salesman, attachment_ids=[Command.link(attachment.id)]
        )
        small = self.make_mail(self.salesman)
        self.send(mail | small)
        self.assertEqual(mail.state, "exception")
        self.assertIn("can never be sent", mail.failure_reason)
        self.assertIn("links", mail.failure_reason)
        self.assertEqual(small.state, "sent", "the next mail goes on")
        self.assertEqual(len(self.smtp.messages), 1)
        self.assertEqual(account.log_ids.mapped("code"), ["message_too_large"])
        self.assertEqual(account.state, "enabled")

    def test_large_lead_attachment_becomes_a_link(self):
        """Odoo's own remedy for a file of the record: a download link instead,
        at the provider's size limit (here the company's 1 MB)."""
        self.connected()
        self.override(max_size_mb=1)
        attachment = self.env["ir.attachment"].create(
            {
                "name": "catalogue.pdf",
                "datas": base64.b64encode(b"%PDF" + b"x" * (2 * 1024 * 1024)),
                "res_model": "crm.lead",
                "res_id": self.lead.id,
            }
        )
        mail = self.make_mail(
            self.salesman, attachment_ids=[Command.link(attachment.id)]
        )
        self.send(mail)
        self.assertEqual(mail.state, "sent")
        [received] = self.smtp.messages
        self.assertLess(len(received.data), 1024 * 1024)
        self.assertIn("catalogue.pdf", received.data.decode(errors="replace"))
        self.assertFalse(list(received.message.iter_attachments()))

    def test_per_minute_limit_defers_to_the_next_minute(self):
        self.connected()
        self.override(messages_per_minute=2)
        start = datetime(2024, 5, 13, 12, 5, 30)
        mails = [self.make_mail(self.salesman) for _i in range(3)]
        with freeze_time(start, ignore=FREEZE_IGNORE):
            self.send(self.env["mail.mail"].concat(*mails))
        self.assertEqual([m.state for m in mails], ["sent", "sent", "outgoing"])
        self.assertEqual(mails[2].scheduled_date, start + quota.MINUTE)
        self.assertIn("2 emails per minute", mails[2].failure_reason)
        with freeze_time(start + quota.MINUTE, ignore=FREEZE_IGNORE):
            self.run_queue()
        self.assertEqual(mails[2].state, "sent")
        self.assertEqual(len(self.smtp.messages), 3)

    def test_daily_limit_defers_to_the_exact_instant_then_sends(self):
        account = self.connected()
        self.override(emails_per_day=2)
        start = datetime(2024, 5, 13, 12, 5, 0)
        first, second, third = (self.make_mail(self.salesman) for _i in range(3))
        with freeze_time(start, ignore=FREEZE_IGNORE):
            self.send(first)
        with freeze_time(start + timedelta(minutes=1), ignore=FREEZE_IGNORE):
            self.send(second)
        with freeze_time(start + timedelta(minutes=2), ignore=FREEZE_IGNORE):
            self.send(third)
        self.assertEqual((first | second).mapped("state"), ["sent", "sent"])
        self.assertEqual(third.state, "outgoing")
        self.assertEqual(third.scheduled_date, start + quota.DAY)
        self.assertIn("2 emails per 24 h", third.failure_reason)
        self.assertIn("resumes at 12:05", third.failure_reason)
        self.assertEqual(len(self.smtp.messages), 2)
        cron = self.env.ref("mail.ir_cron_mail_scheduler_action")
        trigger = self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)])
        self.assertIn(start + quota.DAY, trigger.mapped("call_at"))

        with freeze_time(
            start + quota.DAY - timedelta(seconds=1), ignore=FREEZE_IGNORE
        ):
            self.run_queue()
        self.assertEqual(third.state, "outgoing", "not before the window frees")
        with freeze_time(start + quota.DAY, ignore=FREEZE_IGNORE):
            self.run_queue()
        self.assertEqual(third.state, "sent")
        self.assertFalse(third.failure_reason)
        self.assertEqual(len(self.smtp.messages), 3)
        self.assertEqual(len(self.events(account)), 3)

    def test_quota_replies_from_the_server_defer(self):
        account = self.connected()
        replies = [
            (550, "5.4.5 Daily user sending quota exceeded.", "MAIL"),
            (432, "4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded", "MAIL"),
            (
                554,
                (
                    "5.2.0 STOREDRV.Submission.Exception:"
                    "SubmissionQuotaExceededException; Failed to process message"
                ),
                "DATA",
            ),
            (421, "4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred", "RCPT"),
        ]
        for code, text, stage in replies:
            with self.subTest(code=code):
                self.smtp.clear_messages()
                self.smtp.fail_next(code, text, stage=stage)
                mail, following = (
                    self.make_mail(self.salesman),
                    self.make_mail(self.salesman),
                )
                self.send(mail | following)
                for waiting in (mail, following):
                    self.assertEqual(waiting.state, "outgoing", text)
                    self.assertTrue(waiting.scheduled_date)
                    self.assertGreater(waiting.scheduled_date, datetime.now())
                self.assertIn(str(code), mail.failure_reason)
                self.assertEqual(self.smtp.messages, [])
                self.assertEqual(self.last_log(account).code, "quota_exceeded")
                self.assertEqual(account.state, "enabled", "a quota is not an error")
                (mail | following).scheduled_date = False
                self.run_queue()
                self.assertEqual((mail | following).mapped("state"), ["sent"] * 2)
                self.assertEqual(len(self.smtp.messages), 2)
        self.assertEqual(self.company_smtp.messages, [], "never rerouted")

    def test_partial_delivery_is_completed_exactly_once(self):
        """The provider accepts the first batch then refuses for quota: the mail
        waits, and its retry reaches only the recipients still missing."""
        self.connected()
        self.override(recipients_per_email=2)
        rcpts = [f"lead{i}@acme.example.com" for i in range(4)]
        mail = self.make_mail(self.salesman, email_to=", ".join(rcpts))
        take_fault = SmtpServer._take_fault
        transactions = []

        def second_transaction_refused(server, stage):
            if server is self.smtp and stage == "MAIL":
                transactions.append(stage)
                if len(transactions) == 2:
                    return "550 5.4.5 Daily user sending quota exceeded"
            return take_fault(server, stage)

        with patch.object(SmtpServer, "_take_fault", second_transaction_refused):
            self.send(mail)
        self.assertEqual(mail.state, "outgoing")
        self.assertEqual([m.rcpt_tos for m in self.smtp.messages], [rcpts[:2]])
        mail.scheduled_date = False
        self.run_queue()
        self.assertEqual(mail.state, "sent")
        self.assertEqual(
            [m.rcpt_tos for m in self.smtp.messages], [rcpts[:2], rcpts[2:]]
        )

    # ------------------------------------------------------------------
    # Failures of the user's server
    # ------------------------------------------------------------------
    def test_smtp_down_keeps_the_mail_and_delivers_it_once(self):
        account = self.connected()
        self.smtp.drop_connections()
        mail, following = self.make_mail(self.salesman), self.make_mail(self.salesman)
        self.send(mail | following)
        self.assertEqual((mail | following).mapped("state"), ["outgoing"] * 2)
        self.assertEqual(account.state, "error")
        self.assertEqual(self.last_log(account).code, "connection_lost")
        self.assertIn("never sent through another server", mail.failure_reason)
        self.assertNothingSent()

        self.smtp.drop_connections(False)
        self.run_queue()
        self.assertEqual((mail | following).mapped("state"), ["sent"] * 2)
        self.assertEqual(len(self.smtp.messages), 2)
        self.assertEqual(account.state, "enabled", "a successful send clears Error")
        self.run_queue()
        self.assertEqual(len(self.smtp.messages), 2, "exactly once")
        self.assertEqual(self.company_smtp.messages, [])

    def test_smtp_unreachable(self):
        account = self.connected()
        with SmtpServer() as gone:
            closed_port = gone.ssl_port
        # (a new port erases the password: typed again, as the owner would)
        account.sudo().write({"smtp_port": closed_port, "imap_password": PASSWORD})
        mail = self.make_mail(self.salesman)
        self.send(mail)
        self.assertEqual(mail.state, "outgoing")
        self.assertFalse(mail.scheduled_date)
        self.assertEqual(account.state, "error")
        self.assertEqual(self.last_log(account).code, "host_unreachable")
        self.assertNothingSent()

    def test_connection_state_waits_without_trying(self):
        account = self.connected()
        account.sudo().state = "connection"
        mail = self.make_mail(self.salesman)
        before = self.smtp.connection_count
        self.send(mail)
        self.assertEqual(mail.state, "outgoing")
        self.assertIn("Reconnect", mail.failure_reason)
        self.assertEqual(self.smtp.connection_count, before)
        self.assertNothingSent()

    # ------------------------------------------------------------------
    # TLS and secrets
    # ------------------------------------------------------------------
    def test_pinned_self_signed_certificate(self):
        account = self.connected(smtp_port=self.smtp.port, smtp_encryption="starttls")
        self.assertEqual(account.smtp_cert_fingerprint, self.fingerprint(self.smtp))
        self.send(self.make_mail(self.salesman))
        [received] = self.smtp.messages
        self.assertTrue(received.tls)

        # Another certificate on the same address: refused before any login.
        self.company_smtp.add_user("salesman", PASSWORD)
        account.sudo().write(
            {
                "smtp_port": self.company_smtp.ssl_port,
                "smtp_encryption": "ssl",
                "imap_password": PASSWORD,
            }
        )
        mail = self.make_mail(self.salesman)
        self.send(mail)
        self.assertEqual(mail.state, "outgoing")
        self.assertEqual(account.state, "error")
        self.assertEqual(self.last_log(account).code, "cert_changed")
        self.assertEqual(self.company_smtp.auth_attempts, [])
        self.assertEqual(self.company_smtp.messages, [])

    def test_no_password_in_any_log_line(self):
        with self.assertLogs(level=logging.DEBUG) as captured:
            logging.getLogger("odoo.addons.mail_sync_crm").info("capture start")
            account = self.connected()
            self.send(self.make_mail(self.salesman))
            self.smtp.drop_connections()
            self.send(self.make_mail(self.salesman))
            self.smtp.drop_connections(False)
            self.smtp.users["salesman"] = "changed"
            self.send(self.make_mail(self.salesman))
        self.smtp.users["salesman"] = PASSWORD
        self.assertEqual(len(self.smtp.messages), 1)
        self.assertEqual(self.last_log(account).code, "smtp_auth_failed")
        self.assertNotIn(PASSWORD, "\n".join(captured.output))
        for entry in account.log_ids:
            self.assertNotIn(PASSWORD, f"{entry.message} {entry.hint} {entry.detail}")
        mails = self.env["mail.mail"].search(
            [("author_id", "=", self.salesman.partner_id.id)]
        )
        self.assertNotIn(PASSWORD, str(mails.mapped("failure_reason")))
