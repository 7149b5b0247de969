# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import logging

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from .common import PASSWORD, MailSyncCase


@tagged("post_install", "-at_install")
class TestSecrets(MailSyncCase):
    def test_password_write_only_for_every_role(self):
        account = self.connected_account(self.salesman)
        for user in (self.salesman, self.sales_manager, self.admin):
            record = account.with_user(user)
            record.invalidate_recordset()
            self.assertFalse(record.imap_password, user.login)
            self.assertFalse(record.smtp_password, user.login)
            data = record.read(["imap_password", "smtp_password"])[0]
            self.assertNotIn(PASSWORD, str(data))
            for field in ("imap_secret", "smtp_secret"):
                with self.assertRaises(AccessError, msg=(user.login, field)):
                    record.read([field])
        self.assertTrue(account.imap_password_set)
        self.admin.groups_id += self.env.ref("base.group_allow_export")
        exported = account.with_user(self.admin).export_data(
            ["email", "imap_password", "smtp_password"]
        )["datas"]
        self.assertEqual(exported[0][0], self.salesman.email)
        self.assertNotIn(PASSWORD, str(exported))

    def test_secret_fields_hidden_from_the_web_client(self):
        fields = self.env["mail.sync.account"].with_user(self.admin).fields_get()
        self.assertNotIn("imap_secret", fields)
        self.assertNotIn("smtp_secret", fields)

    def test_database_holds_no_plain_password_nor_key(self):
        account = self.connected_account(self.salesman)
        self.env.flush_all()
        self.env.cr.execute(
            "SELECT row_to_json(a)::text FROM mail_sync_account a WHERE id = %s",
            [account.id],
        )
        row = self.env.cr.fetchone()[0]
        self.assertNotIn(PASSWORD, row)
        self.assertIn(account.sudo().imap_secret, row, "the encrypted token is stored")
        key = self.env["mail.sync.secret.key"]._key()
        self.env.cr.execute(
            "SELECT count(*) FROM ir_config_parameter WHERE value LIKE %s",
            [f"%{key}%"],
        )
        self.assertEqual(self.env.cr.fetchone()[0], 0, "no key in the parameters")
        self.assertNotIn(key, row)

    def test_no_password_in_logs_or_error_log(self):
        account = self.make_account(self.salesman, imap_password="Wr0ng-" + PASSWORD)
        with self.assertLogs(level=logging.DEBUG) as captured:
            logging.getLogger("odoo.addons.mail_sync_crm").info("capture start")
            try:
                account.action_connect()
            except UserError as exc:
                message = str(exc)
        self.assertNotIn(PASSWORD, "\n".join(captured.output))
        self.assertNotIn(PASSWORD, message)
        entry = account.log_ids
        self.assertEqual(entry.code, "auth_failed")
        self.assertNotIn(PASSWORD, f"{entry.message} {entry.hint} {entry.detail}")

    def test_disconnect_erases_credentials(self):
        account = self.connected_account(self.salesman)
        account.action_disable(keep_history=True)
        self.assertEqual(account.state, "draft")
        self.assertFalse(account.sudo().imap_secret)
        self.assertFalse(account.imap_cert_fingerprint)
        self.assertFalse(account.sent_folder)
        with self.assertRaisesRegex(UserError, "IMAP password"):
            account.action_connect()

    def test_a_password_follows_only_where_it_was_entered_for(self):
        """Changing where a password would be sent (host, port, encryption,
        login, the address standing for the login, SMTP with the IMAP password)
        erases it; typing it again in the same change keeps the new one; the
        rest leaves it alone."""
        account = self.make_account(self.salesman, imap_login=False)
        separate = {
            "smtp_same_credentials": False,
            "smtp_login": "salesman",
        }
        cases = [
            ({}, {"imap_host": "imap.elsewhere.example.com"}, {"imap_secret"}),
            ({}, {"imap_port": 143}, {"imap_secret"}),
            ({}, {"imap_encryption": "starttls"}, {"imap_secret"}),
            ({}, {"imap_login": "someone.else"}, {"imap_secret"}),
            ({}, {"email": "other@ourcompany.example.com"}, {"imap_secret"}),
            ({}, {"smtp_host": "smtp.elsewhere.example.com"}, {"imap_secret"}),
            ({}, {"smtp_port": 587}, {"imap_secret"}),
            # The SMTP password now goes to a server it was not typed for.
            ({}, {"smtp_same_credentials": False}, {"smtp_secret"}),
            ({}, {"imap_allow_self_signed": False}, set()),
            (
                {},
                {"imap_host": "imap.elsewhere.example.com", "imap_password": "n"},
                set(),
            ),
            (separate, {"smtp_port": 25}, {"smtp_secret"}),
            (separate, {"smtp_login": "someone.else"}, {"smtp_secret"}),
            (separate, {"imap_host": "imap.elsewhere.example.com"}, {"imap_secret"}),
            (separate, {"smtp_same_credentials": True}, {"imap_secret"}),
        ]
        for setup, change, erased in cases:
            with self.subTest(setup=setup, change=change):
                reset = {
                    **self.connect_values(self.salesman, imap_login=False),
                    "smtp_same_credentials": True,
                    "smtp_password": PASSWORD,
                    **setup,
                }
                account.write(reset)
                before = account.sudo().read(["imap_secret", "smtp_secret"])[0]
                self.assertTrue(before["imap_secret"] and before["smtp_secret"])
                account.write(change)
                after = account.sudo().read(["imap_secret", "smtp_secret"])[0]
                for field in ("imap_secret", "smtp_secret"):
                    if field in erased:
                        self.assertFalse(after[field], field)
                    elif field[:4] + "_password" in change:
                        self.assertEqual(
                            self.env["mail.sync.secret.key"]._read(account, field), "n"
                        )
                    else:
                        self.assertEqual(after[field], before[field], field)

    def test_sync_without_a_password_says_so(self):
        """A connected mailbox whose password was erased (its server changed)
        does not log in with an empty password: the sync says what is missing."""
        account = self.connected_account(self.salesman)
        # The addon's own write (a client's change of server is tested before
        # it is saved, and refused without the password: test_settings_changes).
        account.sudo().write(
            {"imap_port": self.imap.port, "imap_encryption": "starttls"}
        )
        self.assertFalse(account.imap_password_set)
        self.env["mail.sync.scheduler"]._claim_turn(account.sudo())
        self.assertEqual(account.log_ids[:1].code, "password_missing")
        self.assertEqual(account.state, "error")
        self.assertIn("No password is stored", account.last_error)
