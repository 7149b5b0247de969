# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A failed change never breaks a working mailbox: a connected mailbox's new
settings are tried for real before they are saved (over XML-RPC, as the form
saves them before its buttons run), presets write the servers they show, and
ports are port numbers."""

from odoo.exceptions import UserError
from odoo.tests import tagged

from mail_sync_testing._common import free_port

from .common import PASSWORD, MailSyncHttpCase


@tagged("post_install", "-at_install")
class TestSettingsChanges(MailSyncHttpCase):
    def setUp(self):
        super().setUp()
        self.account = self.connected_account(self.salesman)
        self.assertEqual(self.account.state, "enabled")

    def secrets(self):
        self.env.invalidate_all()
        account = self.account.sudo()
        return account.imap_secret, account.imap_port, account.imap_host

    def rpc_write(self, values):
        return self.rpc(
            self.salesman, "mail.sync.account", "write", [self.account.id], values
        )

    def test_a_wrong_password_is_not_saved_over_the_working_one(self):
        before = self.secrets()
        error = self.refused(
            self.salesman,
            "mail.sync.account",
            "write",
            [self.account.id],
            {"imap_password": "wrong-password"},
        )
        self.assertIn("Not saved", error)
        self.assertIn("keeps the settings that work", error)
        self.assertEqual(self.secrets(), before, "the working password stays")
        self.assertEqual(self.account.state, "enabled")
        # In the owner's own session too, saying which side failed and why, in
        # the log as well (no assertRaises: Odoo's rolls back what the block
        # wrote, the log entry kept through a cursor of its own included).
        try:
            self.account.with_user(self.salesman).write({"imap_password": "wrong"})
        except UserError as caught:
            self.assertIn("Login refused by the IMAP server", str(caught))
        else:
            self.fail("the wrong password was saved")
        self.assertEqual(self.account.log_ids[:1].code, "auth_failed")
        self.assertEqual(self.secrets(), before)
        # and it still works
        self.assertTrue(
            self.env["mail.sync.scheduler"]._claim_turn(self.account.sudo()) is None
        )

    def test_an_unreachable_server_is_not_saved(self):
        before = self.secrets()
        for values in (
            {"imap_port": free_port(), "imap_password": PASSWORD},  # closed
            {"imap_host": "localhost.invalid", "imap_password": PASSWORD},
            {"imap_port": self.imap.port},  # no password typed for the new port
        ):
            with self.subTest(values=values):
                error = self.refused(
                    self.salesman,
                    "mail.sync.account",
                    "write",
                    [self.account.id],
                    values,
                )
                self.assertIn("Not saved", error)
                self.assertEqual(self.secrets(), before)
                self.assertEqual(self.account.state, "enabled")

    def test_a_change_that_works_is_saved_and_tested(self):
        self.rpc_write(
            {
                "imap_port": self.imap.port,
                "imap_encryption": "starttls",
                "imap_password": PASSWORD,
            }
        )
        self.env.invalidate_all()
        self.assertEqual(self.account.imap_port, self.imap.port)
        self.assertEqual(self.account.imap_encryption, "starttls")
        self.assertEqual(self.account.state, "enabled")
        self.assertTrue(
            self.env["mail.sync.scheduler"]._claim_turn(self.account.sudo()) is None
        )

    def test_what_is_not_the_connection_saves_without_a_test(self):
        connections = self.smtp.connection_count
        self.rpc_write({"quota_profile": "gmail"})
        self.assertEqual(self.smtp.connection_count, connections)

    def test_ports_are_port_numbers(self):
        draft = self.make_account(self.salesman_all)
        for port in (0, 99999, -1):
            with self.subTest(port=port):
                error = self.refused(
                    self.salesman_all,
                    "mail.sync.account",
                    "write",
                    [draft.id],
                    {"smtp_port": port},
                )
                self.assertIn("from 1 to 65535", error)

    def test_a_preset_writes_the_servers_it_shows(self):
        draft = self.make_account(self.salesman_all)
        # The form sends only the provider: its servers are read-only there.
        self.rpc(
            self.salesman_all,
            "mail.sync.account",
            "write",
            [draft.id],
            {"provider": "gmail"},
        )
        self.env.invalidate_all()
        self.assertEqual(draft.imap_host, "imap.gmail.com")
        self.assertEqual(draft.smtp_host, "smtp.gmail.com")
        self.assertEqual((draft.imap_port, draft.smtp_port), (993, 465))

    def test_switching_to_a_preset_says_what_it_replaces_and_custom_restores(self):
        draft = self.make_account(self.salesman_all)
        form = draft.new(origin=draft)
        form.provider = "gmail"
        result = form._onchange_provider()
        self.assertIn(self.imap.host, result["warning"]["message"])
        self.assertEqual(form.imap_host, "imap.gmail.com")
        form.provider = "custom"
        form._onchange_provider()
        self.assertEqual(
            (form.imap_host, form.imap_port), (draft.imap_host, draft.imap_port)
        )
