# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from psycopg2 import IntegrityError

from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, tagged
from odoo.tools import mute_logger

from mail_sync_testing import DovecotServer

from .common import PASSWORD, MailSyncCase


@tagged("post_install", "-at_install")
class TestConnect(MailSyncCase):
    def _connect_error(self, account):
        """action_connect's UserError text (caught without Odoo's assertRaises, whose
        savepoint would also roll back the persistent log entry)."""
        try:
            account.action_connect()
        except UserError as exc:
            return str(exc)
        self.fail("action_connect() did not fail")

    def test_connect_implicit_tls_pinned(self):
        account = self.make_account(self.salesman)
        self.assertEqual(account.state, "draft")
        account.action_connect()
        self.assertEqual(account.state, "enabled")
        self.assertTrue(account.connected_date)
        self.assertEqual(account.inbox_folder, "INBOX")
        self.assertEqual(account.sent_folder, "Sent")
        self.assertEqual(account.imap_cert_fingerprint, self.fingerprint(self.imap))
        self.assertEqual(account.smtp_cert_fingerprint, self.fingerprint(self.smtp))
        self.assertTrue(
            any(login == "salesman" and ok for login, ok in self.smtp.auth_attempts),
            "the SMTP server saw a successful AUTH of the user",
        )

    def test_connect_starttls(self):
        account = self.make_account(
            self.salesman,
            imap_port=self.imap.port,
            imap_encryption="starttls",
            smtp_port=self.smtp.port,
            smtp_encryption="starttls",
        )
        account.action_connect()
        self.assertEqual(account.state, "enabled")
        self.assertEqual(account.imap_cert_fingerprint, self.fingerprint(self.imap))

    def test_wrong_password(self):
        account = self.make_account(self.salesman, imap_password="not-the-password")
        error = self._connect_error(account)
        self.assertIn("IMAP", error)
        self.assertIn("password", error.lower())
        self.assertEqual(account.state, "draft")
        log = account.log_ids
        self.assertEqual(log.mapped("code"), ["auth_failed"])
        self.assertEqual(log.side, "imap")
        self.assertTrue(log.hint)

    def test_smtp_wrong_password(self):
        account = self.make_account(
            self.salesman,
            smtp_same_credentials=False,
            smtp_login="salesman",
            smtp_password="wrong",
        )
        error = self._connect_error(account)
        self.assertIn("SMTP", error)
        self.assertEqual(account.log_ids.code, "smtp_auth_failed")
        self.assertEqual(account.log_ids.side, "smtp")
        self.assertEqual(account.state, "draft")

    def test_closed_port(self):
        with DovecotServer() as gone:
            closed_port = gone.ssl_port
        account = self.make_account(self.salesman, imap_port=closed_port)
        error = self._connect_error(account)
        self.assertIn(str(closed_port), error)
        self.assertEqual(account.log_ids.code, "host_unreachable")

    def test_self_signed_refused_unless_allowed(self):
        account = self.make_account(self.salesman, imap_allow_self_signed=False)
        error = self._connect_error(account)
        self.assertIn("certificate", error.lower())
        self.assertEqual(account.log_ids.code, "cert_untrusted")
        self.assertEqual(account.state, "draft")
        account.imap_allow_self_signed = True
        account.action_connect()
        self.assertEqual(account.state, "enabled")

    def test_pinned_certificate_changed(self):
        account = self.connected_account(self.salesman)
        pinned = account.imap_cert_fingerprint
        with DovecotServer() as impostor:
            impostor.add_user("salesman", PASSWORD)
            # A new port erases the stored password: the owner types it again.
            # The change is tried before it is saved: the impostor's certificate
            # is refused there, and nothing of the change is kept.
            # (no assertRaises: Odoo's rolls back what the block wrote, the
            # log entry Mail Sync keeps through a cursor of its own included)
            try:
                account.write(
                    {"imap_port": impostor.ssl_port, "imap_password": PASSWORD}
                )
            except UserError as caught:
                error = str(caught)
            else:
                self.fail("the change was saved")
        self.assertIn("certificate", error.lower())
        self.assertEqual(account.log_ids.code, "cert_changed")
        self.assertEqual(account.imap_cert_fingerprint, pinned, "the pin is kept")
        self.assertNotEqual(account.imap_port, impostor.ssl_port, "nothing saved")

    def test_gmail_preset(self):
        account = (
            self.env["mail.sync.account"]
            .with_user(self.salesman)
            .create({"provider": "gmail", "email": "someone@gmail.com"})
        )
        self.assertEqual(
            (account.imap_host, account.imap_port, account.imap_encryption),
            ("imap.gmail.com", 993, "ssl"),
        )
        self.assertEqual(account.smtp_host, "smtp.gmail.com")
        microsoft = (
            self.env["mail.sync.account"]
            .with_user(self.salesman_all)
            .create({"provider": "microsoft", "email": "someone@contoso.com"})
        )
        self.assertEqual(
            (microsoft.smtp_host, microsoft.smtp_port, microsoft.smtp_encryption),
            ("smtp.office365.com", 587, "starttls"),
        )

    def test_missing_password_says_what_to_fill(self):
        account = self.make_account(self.salesman, imap_password=False)
        with self.assertRaisesRegex(UserError, "IMAP password"):
            account.action_connect()

    def test_admin_cannot_connect_for_someone_else(self):
        Account = self.env["mail.sync.account"].with_user(self.admin)
        with self.assertRaises(AccessError):
            Account.create(
                {**self.connect_values(self.salesman), "user_id": self.salesman.id}
            )
        account = self.make_account(self.salesman)
        with self.assertRaises(AccessError):
            account.with_user(self.admin).action_connect()
        with self.assertRaises(AccessError):
            account.with_user(self.admin).write({"imap_host": "evil.example.com"})
        self.assertEqual(account.state, "draft")

    @mute_logger("odoo.sql_db")
    def test_one_mailbox_per_user(self):
        self.make_account(self.salesman)
        with self.assertRaises(IntegrityError), self.cr.savepoint():
            self.make_account(self.salesman)

    def test_a_preset_resets_the_fields_it_owns(self):
        """Switching from a self-signed custom server to Gmail or Microsoft puts
        in the provider's servers, ports and encryption and unticks
        "Self-Signed Certificate" (Google's certificate must not be pinned)."""
        Account = self.env["mail.sync.account"].with_user(self.salesman)
        for provider, imap_host, smtp_port in (
            ("gmail", "imap.gmail.com", 465),
            ("microsoft", "outlook.office365.com", 587),
        ):
            with Form(Account) as form:
                form.email = self.salesman.email
                form.provider = "custom"
                form.imap_host = "mail.example.com"
                form.imap_port = 143
                form.imap_encryption = "starttls"
                form.imap_allow_self_signed = True
                form.smtp_host = "mail.example.com"
                form.smtp_allow_self_signed = True
                form.provider = provider
                self.assertEqual(
                    (form.imap_host, form.imap_port, form.imap_encryption),
                    (imap_host, 993, "ssl"),
                )
                self.assertEqual(form.smtp_port, smtp_port)
                self.assertFalse(form.imap_allow_self_signed)
                self.assertFalse(form.smtp_allow_self_signed)
            account = form.record
            self.assertFalse(account.imap_allow_self_signed)
            self.assertFalse(account.smtp_allow_self_signed)
            account.sudo().unlink()  # one mailbox per user: make room for the next
