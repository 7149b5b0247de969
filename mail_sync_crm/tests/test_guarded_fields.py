# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Fields only the addon writes, attempted over real XML-RPC by each role."""

import time

from odoo import Command
from odoo.tests import tagged

from mail_sync_testing import DovecotServer, SmtpServer

from ..lib import errors
from .common import PASSWORD, MailSyncHttpCase

GUARD_MESSAGE = "Only Mail Sync itself"
FORGED_DATE = "2001-02-03 04:05:06"
LOGIN_LINE = "user=<salesman>"  # Dovecot's log line of a login attempt by salesman


def logged_logins(server, expected):
    """How many login attempts of salesman the Dovecot ``server`` logged, once
    its log shows ``expected`` of them (its log process writes a moment after
    the login; a deadline for that only, the count is what is asserted)."""
    deadline = time.monotonic() + 15
    while True:
        count = server.log_tail(100000).count(LOGIN_LINE)
        if count >= expected or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


@tagged("post_install", "-at_install")
class TestGuardedFieldsOverRpc(MailSyncHttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.own = cls._connected(cls.salesman)
        cls.own.sudo().env["mail.sync.turn"]._record_error(
            cls.own.sudo(),
            errors.MailSyncError("timeout", side="imap", host="h", port=1),
        )
        cls.manager_box = cls._connected(cls.sales_manager)
        cls.admin_box = cls._connected(cls.admin)

    @classmethod
    def _connected(cls, user):
        account = (
            cls.env["mail.sync.account"]
            .with_user(user)
            .create(cls.connect_values(cls, user))
        )
        account.action_connect()
        return account

    def forged_values(self, account, user):
        """A valid, different value for each field only the addon writes."""
        folder = account.folder_ids[:1]
        log = account.log_ids[:1]
        self.assertTrue(folder, "a connected mailbox has folders")
        return {
            # A mailbox given to a colleague, or taken by the administrator.
            "user_id": (self.salesman_all if user == account.user_id else user).id,
            "company_id": self.company_2.id,
            "state": "enabled" if account.state != "enabled" else "draft",
            "connected_date": FORGED_DATE,
            "pending_date": FORGED_DATE,
            "first_error_date": FORGED_DATE,
            "last_sync_date": FORGED_DATE,
            "last_attempt_date": FORGED_DATE,
            "next_attempt_date": FORGED_DATE,
            "auth_failure_count": 99,
            "last_error": "forged",
            "imap_cert_fingerprint": "ab" * 32,
            "smtp_cert_fingerprint": "ab" * 32,
            "inbox_folder": "Junk",
            "sent_folder": "Junk",
            # x2many commands as an XML-RPC client sends them (plain numbers)
            "folder_ids": [[int(Command.UPDATE), folder.id, {"last_uid": 999999}]],
            "log_ids": [[int(Command.DELETE), log.id]]
            if log
            else [[int(Command.CLEAR)]],
            "imap_secret": "forged-token",
            "smtp_secret": "forged-token",
            # what the turns and the reconciliation found (Completeness)
            "waiting_since": FORGED_DATE,
            "reconciled_date": FORGED_DATE,
            "reconciled_held_count": 99,
            "held_growing": not account.held_growing,
        }

    def snapshot(self, account):
        self.env.invalidate_all()
        account = account.sudo()
        values = account.read(
            [
                name
                for name in self.forged_values(account, account.user_id)
                if name not in ("folder_ids", "log_ids")
            ]
        )[0]
        values["folders"] = account.folder_ids.read(
            ["name", "uidvalidity", "last_uid", "historical_done"]
        )
        values["log_ids"] = account.log_ids.ids
        return values

    def test_no_role_writes_what_only_the_addon_writes(self):
        attempts = [
            (self.salesman, self.own),
            (self.sales_manager, self.manager_box),
            (self.sales_manager, self.own),
            (self.admin, self.admin_box),
            (self.admin, self.own),
        ]
        for user, account in attempts:
            before = self.snapshot(account)
            for name, value in self.forged_values(account, user).items():
                with (
                    self.subTest(user=user.login, mailbox=account.id, field=name),
                    self.attempt(),
                ):
                    error = self.refused(
                        user, "mail.sync.account", "write", [account.id], {name: value}
                    )
                    if user == account.user_id or user == self.admin:
                        self.assertIn(GUARD_MESSAGE, error)
                    self.assertEqual(self.snapshot(account), before)

    def test_create_sets_the_owner_and_nothing_else_the_addon_writes(self):
        user = self.salesman_all  # has no mailbox yet
        Account = self.env["mail.sync.account"].sudo()
        base = {"email": user.email, "imap_host": self.imap.host}
        forged = self.forged_values(self.own, user)
        forged["user_id"] = self.salesman.id  # a mailbox made for someone else
        for name, value in forged.items():
            if name in ("folder_ids", "log_ids"):
                continue
            with self.subTest(field=name), self.attempt():
                self.refused(user, "mail.sync.account", "create", {**base, name: value})
                self.assertFalse(Account.search([("user_id", "=", user.id)]))
        self.refused(
            self.admin,
            "mail.sync.account",
            "create",
            {**base, "user_id": user.id},
        )
        created = self.rpc(user, "mail.sync.account", "create", base)
        account = Account.browse(created)
        self.assertEqual(account.user_id, user)
        self.assertEqual(account.company_id, self.company)
        self.assertEqual(account.state, "draft")

    def test_folders_and_checkpoints_are_the_sync_own(self):
        folder = self.own.folder_ids[:1]
        before = folder.read(["name", "uidvalidity", "last_uid"])
        for user in (self.salesman, self.sales_manager, self.admin):
            with self.subTest(user=user.login):
                self.refused(
                    user, "mail.sync.folder", "write", [folder.id], {"last_uid": 1}
                )
                self.refused(user, "mail.sync.folder", "unlink", [folder.id])
                self.refused(
                    user,
                    "mail.sync.folder",
                    "create",
                    {"account_id": self.own.id, "name": "Junk", "direction": "in"},
                )
        self.env.invalidate_all()
        self.assertEqual(folder.read(["name", "uidvalidity", "last_uid"]), before)
        self.assertEqual(len(self.own.folder_ids), 2)

    def test_no_role_writes_a_folders_completeness(self):
        """Scanned, on the server, not yet scanned, the lag's moments: a
        salesperson (the owner), a manager or an administrator writing them
        over RPC is refused, on the folder or through the mailbox."""
        folder = self.own.folder_ids[:1]
        fields = [
            "scanned",
            "server_count",
            "unscanned_count",
            "waiting_since",
            "caught_up_date",
            "server_checked_date",
        ]
        before = folder.read(fields)
        forged = {
            "scanned": 999,
            "server_count": 999,
            "unscanned_count": 0,
            "waiting_since": FORGED_DATE,
            "caught_up_date": FORGED_DATE,
            "server_checked_date": FORGED_DATE,
        }
        for user in (self.salesman, self.sales_manager, self.admin):
            for name, value in forged.items():
                with self.subTest(user=user.login, field=name), self.attempt():
                    error = self.refused(
                        user, "mail.sync.folder", "write", [folder.id], {name: value}
                    )
                    self.assertIn(GUARD_MESSAGE, error)
                    error = self.refused(
                        user,
                        "mail.sync.account",
                        "write",
                        [self.own.id],
                        {
                            "folder_ids": [
                                [int(Command.UPDATE), folder.id, {name: value}]
                            ]
                        },
                    )
                    if user in (self.salesman, self.admin):
                        self.assertIn(GUARD_MESSAGE, error)
        self.env.invalidate_all()
        self.assertEqual(folder.read(fields), before)

    def test_admin_cannot_make_a_personal_server_his(self):
        """The owner's personal outgoing server carries mail as the owner: an
        administrator cannot take it over, nor make another server one."""
        Server = self.env["ir.mail_server"].sudo()
        personal = Server.search([("mail_sync_account_id", "=", self.own.id)])
        self.assertEqual(personal.owner_user_id, self.salesman)
        company_server = Server.create(
            {"name": "Company", "smtp_host": self.smtp.host, "smtp_port": 25}
        )
        takeovers = [
            ("write", [personal.id], {"owner_user_id": self.admin.id}),
            ("write", [company_server.id], {"mail_sync_account_id": self.own.id}),
            ("write", [company_server.id], {"owner_user_id": self.salesman.id}),
            (
                "create",
                {
                    "name": "Mine",
                    "smtp_host": self.smtp.host,
                    "owner_user_id": self.admin.id,
                    "mail_sync_account_id": self.own.id,
                },
            ),
        ]
        for method, *args in takeovers:
            with self.subTest(method=method, args=args), self.attempt():
                error = self.refused(self.admin, "ir.mail_server", method, *args)
                self.assertIn(GUARD_MESSAGE, error)
        self.env.invalidate_all()
        self.assertEqual(personal.owner_user_id, self.salesman)
        self.assertFalse(company_server.owner_user_id)
        self.assertEqual(
            Server.search([("mail_sync_account_id", "=", self.own.id)]), personal
        )

    def test_admin_cannot_get_the_owners_password_sent_to_his_server(self):
        """The issue's attack: take the mailbox, point it at one's own server,
        press Connect. Each step is refused and the password never leaves."""
        self.admin_box.sudo().unlink()  # an administrator without a mailbox
        with DovecotServer() as evil:
            evil.add_user("salesman", PASSWORD)  # would even accept it
            evil_settings = {
                "imap_host": evil.host,
                "imap_port": evil.port,
                "imap_encryption": "none",
            }
            mailbox = [self.own.id]
            self.refused(
                self.admin,
                "mail.sync.account",
                "write",
                mailbox,
                {"user_id": self.admin.id},
            )
            self.refused(
                self.admin, "mail.sync.account", "write", mailbox, evil_settings
            )
            self.refused(self.admin, "mail.sync.account", "action_connect", mailbox)
            self.refused(
                self.admin,
                "mail.sync.account",
                "write",
                mailbox,
                {**evil_settings, "user_id": self.admin.id},
            )
            # One login of our own: the log shows it, and it is the only one.
            evil.connect("salesman").logout()
            self.assertEqual(logged_logins(evil, 1), 1, evil.log_tail())
        self.env.invalidate_all()
        self.assertEqual(self.own.user_id, self.salesman)
        self.assertEqual(self.own.imap_host, self.imap.host)
        self.assertTrue(self.own.imap_password_set)

    def test_a_new_server_gets_the_password_only_when_typed_again(self):
        """Whoever changes where the password goes (a hijacked session of the
        owner included) must type it again: Connect sends nothing meanwhile."""
        owner, mailbox = self.salesman, [self.own.id]
        with DovecotServer() as evil, SmtpServer() as evil_smtp:
            evil.add_user("salesman", PASSWORD)
            evil_smtp.add_user("salesman", PASSWORD)
            evil_imap = {
                "imap_host": evil.host,
                "imap_port": evil.port,
                "imap_encryption": "none",
            }
            # A connected mailbox's change is tried before it is saved: without
            # the password typed again, it is refused before any connection.
            error = self.refused(
                owner, "mail.sync.account", "write", mailbox, evil_imap
            )
            self.assertIn("Not saved", error)
            self.assertIn("IMAP password", error)
            # SMTP elsewhere: with "same credentials" the IMAP password would go
            # there; refused the same way.
            error = self.refused(
                owner,
                "mail.sync.account",
                "write",
                mailbox,
                {
                    "smtp_host": evil_smtp.host,
                    "smtp_port": evil_smtp.plain_port,
                    "smtp_encryption": "none",
                },
            )
            self.assertIn("IMAP password", error)
            [read] = self.rpc(
                owner,
                "mail.sync.account",
                "read",
                mailbox,
                ["imap_password_set", "imap_host", "smtp_port"],
            )
            self.assertTrue(read["imap_password_set"], "the working one stays")
            self.assertEqual(read["smtp_port"], self.own.smtp_port)
            self.assertEqual(evil_smtp.auth_attempts, [])
            self.assertEqual(logged_logins(evil, 0), 0)
            # The owner types it for the new servers: now it goes there, as the
            # owner chose; the server's log shows that login, and only that one.
            self.rpc(
                owner,
                "mail.sync.account",
                "write",
                mailbox,
                {**evil_imap, "imap_password": PASSWORD},
            )
            self.rpc(owner, "mail.sync.account", "action_connect", mailbox)
            # typed again, it goes there: once when the change is tried before
            # it is saved, once more for Connect
            self.assertEqual(logged_logins(evil, 2), 2, evil.log_tail())
            # its SMTP change was refused above: the real server kept
            self.assertEqual(evil_smtp.auth_attempts, [])
