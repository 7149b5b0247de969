# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""OAuth tokens in use: sync and Smart Mail over XOAUTH2 (checked by the real
servers), refresh with rotation, a revoked grant, disconnect, and tokens no
role can read and no log shows."""

import logging
from datetime import datetime, timedelta

from odoo.exceptions import AccessError
from odoo.tests import tagged

from mail_sync_testing import make_message

from ..lib.oauth import client as oauth
from ..lib.secrets import crypto
from .oauth_common import OAuthCase

CUSTOMER = "ceo@acme.example.com"


@tagged("post_install", "-at_install")
class TestOAuthTokens(OAuthCase):
    def connected(self, user=None, provider="gmail"):
        user = user or self.salesman
        account = self.oauth_account(user, provider)
        self.connect(user, account)
        self.assertEqual(account.state, "enabled")
        return account

    def stored(self, account):
        """(refresh token, access token) as stored, decrypted."""
        row = self.token_row(account)
        row.invalidate_recordset()
        key = self.env["mail.sync.secret.key"]._key()
        return (
            crypto.decrypt(key, row.refresh_secret),
            crypto.decrypt(key, row.access_secret),
        )

    def make_due(self, account):
        """The stored access token now expires within the refresh margin."""
        self.token_row(account).write({"expires_at": datetime.now()})
        self.env.flush_all()

    def refreshes(self):
        return self.auth.count("/token", grant_type="refresh_token")

    def test_sync_over_xoauth2_records_mail_on_the_lead(self):
        lead = self.env["crm.lead"].create({"name": "Acme", "email_from": CUSTOMER})
        account = self.connected()
        raw = make_message(CUSTOMER, self.salesman.email, subject="Quote over OAuth")
        self.oauth_imap.append(self.salesman.email, "INBOX", raw)
        self.assertTrue(
            self.env["mail.sync.scheduler"]._claim_turn(account.sudo()) is None
        )
        self.assertIn("Quote over OAuth", lead.message_ids.mapped("subject"))
        self.assertEqual(account.state, "enabled")

    def test_smart_mail_sends_over_xoauth2(self):
        account = self.connected()
        server = (
            self.env["ir.mail_server"]
            .sudo()
            .search([("mail_sync_account_id", "=", account.id)])
        )
        self.assertFalse(server.smtp_pass)
        connection = server.with_user(self.salesman)._mail_sync_open_connection()
        try:
            connection.sendmail(
                self.salesman.email, [CUSTOMER], b"Subject: hi\r\n\r\nover OAuth\r\n"
            )
        finally:
            connection.quit()
        received = self.oauth_smtp.messages[-1]
        self.assertEqual(received.rcpt_tos, [CUSTOMER])
        self.assertEqual(received.auth_user, self.salesman.email)

    def test_refresh_rotates_and_nothing_breaks(self):
        account = self.connected()
        old_refresh, old_access = self.stored(account)
        self.make_due(account)
        before = self.refreshes()
        settings = self.env["mail.sync.connector"]._imap_settings(account.sudo())
        self.assertEqual(self.refreshes(), before + 1)
        new_refresh, new_access = self.stored(account)
        self.assertNotEqual(new_refresh, old_refresh)
        self.assertNotEqual(new_access, old_access)
        self.assertEqual(settings.access_token, new_access)
        self.assertGreater(self.token_row(account).expires_at, datetime.now())
        # A valid token is used as it is: no second refresh.
        self.env["mail.sync.connector"]._smtp_settings(account.sudo())
        self.assertEqual(self.refreshes(), before + 1)
        # Sync and the connection test work with the new tokens.
        self.assertTrue(
            self.env["mail.sync.scheduler"]._claim_turn(account.sudo()) is None
        )
        account.with_user(self.salesman).action_connect()
        self.assertEqual(account.state, "enabled")
        # The old refresh token is spent at the provider.
        with self.assertRaises(oauth.OAuthInvalidGrant):
            self.env["mail.sync.oauth"]._client("google").refresh(old_refresh)

    def test_a_batch_of_mailboxes_signs_in_with_its_own_secrets(self):
        """The check for news builds the sign-in of a batch of mailboxes at
        once: the OAuth mailbox gets its access token, each password mailbox
        its own password, and a batch of seven takes no more SQL statements
        than a batch of two (no token look-up or key read per mailbox)."""
        oauth_account = self.connected()
        passwords = {}
        for i in range(6):
            user = self._user(f"batch_{i}", "sales_team.group_sale_salesman")
            account = self.make_account(user, imap_password=f"pw-{i}-{user.login}")
            passwords[account.id] = f"pw-{i}-{user.login}"
        accounts = self.env["mail.sync.account"].browse([oauth_account.id, *passwords])
        # each one's history synced: a check for news, not a turn, is next
        accounts.folder_ids.unlink()
        self.env["mail.sync.folder"].create(
            [
                {
                    "account_id": account.id,
                    "name": "INBOX",
                    "direction": "in",
                    "uidvalidity": 1,
                    "historical_done": True,
                }
                for account in accounts
            ]
        )
        _refresh, access = self.stored(oauth_account)
        news = self.env["mail.sync.news"]

        def statements(batch):
            self.env.flush_all()
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            targets = news._targets(batch, {})
            return self.env.cr.sql_log_count - before, targets

        statements(accounts[:1])  # what is read once per process (cached)
        few, _targets = statements(accounts[:2])
        many, targets = statements(accounts)
        self.assertEqual(few, many)
        signed_in = {t.key: t.settings for t in targets}
        self.assertEqual(signed_in[oauth_account.id].access_token, access)
        self.assertEqual(signed_in[oauth_account.id].password, "")
        self.assertEqual({key: signed_in[key].password for key in passwords}, passwords)
        self.assertFalse(any(signed_in[key].access_token for key in passwords))

    def test_revoked_grant_is_an_error_saying_connect_again(self):
        account = self.connected()
        self.auth.revoke_user(self.salesman.email)
        self.make_due(account)
        self.assertFalse(
            self.env["mail.sync.scheduler"]._claim_turn(account.sudo()) is None
        )
        account.invalidate_recordset()
        self.assertEqual(account.state, "error")
        log = self.last_log(account)
        self.assertEqual(log.code, "oauth_invalid_grant")
        self.assertIn("Connect again with Google", log.hint)
        # The 48-hour decay applies as for any error.
        account.sudo().first_error_date = datetime.now() - timedelta(hours=49)
        self.env["mail.sync.status"]._cron_update_status()
        self.assertEqual(account.state, "connection")

    def test_disconnect_erases_and_revokes_the_tokens(self):
        account = self.connected()
        _refresh, access = self.stored(account)
        self.assertTrue(self.auth.is_active(access))
        before = self.auth.count("/revoke")
        account.with_user(self.salesman).action_disable(keep_history=True)
        self.assertFalse(self.token_row(account))
        self.assertEqual(self.auth.count("/revoke"), before + 1)
        self.assertFalse(self.auth.is_active(access))
        self.assertEqual(account.state, "draft")
        self.assertFalse(account.oauth_connected)

    def test_another_address_or_provider_erases_the_tokens(self):
        account = self.connected()
        account.sudo().state = "connection"
        account.with_user(self.salesman).provider = "custom"
        self.assertFalse(self.token_row(account))
        self.assertFalse(account.oauth_connected)

    def test_tokens_are_unreadable_by_every_role(self):
        account = self.connected()
        refresh, access = self.stored(account)
        for user in (self.salesman, self.sales_manager, self.admin):
            Tokens = self.env["mail.sync.oauth.token"].with_user(user)
            with self.assertRaises(AccessError):
                Tokens.search_read([])
            fault = self.refused(user, "mail.sync.oauth.token", "search_read", [])
            self.assertNotIn(refresh, fault)
            try:
                values = account.with_user(user).read()
            except AccessError:  # another user's mailbox, by record rule
                values = []
            self.assertNotIn(refresh, str(values))
            self.assertNotIn(access, str(values))
        self.env.cr.execute(
            "SELECT refresh_secret, access_secret FROM mail_sync_oauth_token"
            " WHERE account_id = %s",
            [account.id],
        )
        in_database = " ".join(self.env.cr.fetchone())
        self.assertNotIn(refresh, in_database)
        self.assertNotIn(access, in_database)

    def test_tokens_never_reach_the_log(self):
        seen = []
        handler = logging.Handler()
        handler.emit = lambda record: seen.append(record.getMessage())
        logging.getLogger().addHandler(handler)
        addon_logger = logging.getLogger("odoo.addons.mail_sync_crm")
        level = addon_logger.level
        addon_logger.setLevel(logging.DEBUG)  # every line the addon may log
        try:
            account = self.connected()
            self.make_due(account)
            self.assertTrue(
                self.env["mail.sync.scheduler"]._claim_turn(account.sudo()) is None
            )
            self.auth.revoke_user(self.salesman.email)
            self.make_due(account)
            self.assertFalse(
                self.env["mail.sync.scheduler"]._claim_turn(account.sudo()) is None
            )
        finally:
            addon_logger.setLevel(level)
            logging.getLogger().removeHandler(handler)
        logs = self.env["mail.sync.log"].search([("account_id", "=", account.id)])
        text = "\n".join(seen) + str(logs.read(["message", "hint", "detail"]))
        self.assertIn("access token refreshed", text)
        self.assertIn("oauth_invalid_grant", text)
        issued = [
            value
            for saved in self.auth._tokens
            for value in (saved.access_token, saved.refresh_token)
            if value
        ]
        self.assertTrue(issued)
        for value in issued:
            self.assertNotIn(value, text)
