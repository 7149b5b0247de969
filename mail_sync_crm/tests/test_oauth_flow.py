# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Connect with Google / Microsoft through the real routes: the start route, a
real authorization server (PKCE, rotating refresh tokens), the real callback,
then the same real IMAP and SMTP test as a password connect (XOAUTH2 checked
by Dovecot and the SMTP server themselves)."""

from datetime import datetime, timedelta

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged
from odoo.tools.misc import hash_sign

from ..models.mail_sync_oauth import STATE_SCOPE
from .oauth_common import OAuthCase


@tagged("post_install", "-at_install")
class TestOAuthFlow(OAuthCase):
    def test_connect_with_google_through_the_callback_ends_enabled(self):
        account = self.oauth_account(self.salesman)
        answer = self.connect(self.salesman, account)
        steps = [r.url for r in answer.history]
        self.assertTrue(any("/mail_sync_crm/oauth/callback?" in url for url in steps))
        self.assertTrue(answer.url.endswith(f"/{account.id}"), answer.url)
        self.assertEqual(account.state, "enabled")
        self.assertTrue(account.oauth_connected)
        self.assertTrue(account.connected_date)
        self.assertEqual(account.oauth_notice_level, "success")
        row = self.token_row(account)
        self.assertEqual(len(row), 1)
        self.assertTrue(row.expires_at > datetime.now())
        # PKCE S256 went to the provider, the verifier came back to it.
        authorize = [r for r in self.auth.requests if r.path == "/authorize"][-1]
        self.assertEqual(authorize.params["code_challenge_method"], "S256")
        self.assertEqual(authorize.params["login_hint"], self.salesman.email)
        token = [r for r in self.auth.requests if r.path == "/token"][-1]
        self.assertTrue(token.params.get("code_verifier"))
        # The personal outgoing server follows, storing no secret.
        server = (
            self.env["ir.mail_server"]
            .sudo()
            .search([("mail_sync_account_id", "=", account.id)])
        )
        self.assertTrue(server)
        self.assertFalse(server.smtp_pass)

    def test_connect_with_microsoft_ends_enabled(self):
        account = self.oauth_account(self.salesman, provider="microsoft")
        self.connect(self.salesman, account)
        self.assertEqual(account.state, "enabled")
        self.assertEqual(self.token_row(account).provider, "microsoft")

    def assert_refused(self, account, code, state="draft"):
        account.invalidate_recordset()
        self.assertEqual(account.state, state)
        self.assertFalse(self.token_row(account))
        self.assertEqual(account.oauth_notice_level, "danger")
        self.assertIn("How to fix it", account.oauth_notice)
        log = self.last_log(account)
        self.assertEqual(log.code, code)
        self.assertTrue(log.hint)

    def test_cancelled_consent_comes_back_to_the_form(self):
        account = self.oauth_account(self.salesman)
        self.auth.authorize_error = "access_denied"
        params = self.start(self.salesman, account)
        self.assertEqual(params.get("error"), "access_denied")
        location = self.callback(params)
        self.assertTrue(location.endswith(f"/{account.id}"), location)
        self.assert_refused(account, "oauth_denied")

    def test_provider_error_is_refused(self):
        account = self.oauth_account(self.salesman)
        params = self.start(self.salesman, account)
        self.auth.token_error = (400, "invalid_client")
        self.callback(params)
        self.assert_refused(account, "oauth_provider_error")

    def test_consent_by_another_account_is_refused(self):
        account = self.oauth_account(self.salesman)
        self.auth.add_user("mallory@elsewhere.example.com")
        self.auth.user = "mallory@elsewhere.example.com"
        self.callback(self.start(self.salesman, account))
        self.assert_refused(account, "oauth_wrong_account")
        self.assertIn("mallory@elsewhere.example.com", self.last_log(account).detail)

    def test_tampered_state_is_refused(self):
        account = self.oauth_account(self.salesman)
        params = self.start(self.salesman, account)
        state = params["state"]
        params["state"] = state[:-3] + ("AAA" if state[-3:] != "AAA" else "BBB")
        self.callback(params)
        self.assert_refused(account, "oauth_state_invalid")
        self.callback({"code": params["code"], "state": "garbage!"})
        self.assert_refused(account, "oauth_state_invalid")

    def test_expired_state_is_refused(self):
        account = self.oauth_account(self.salesman)
        params = self.start(self.salesman, account)
        expired = hash_sign(
            self.env(su=True),
            STATE_SCOPE,
            {"user": self.salesman.id, "account": account.id, "provider": "google"}
            | {"n": "x"},
            expiration=datetime.now() - timedelta(minutes=1),
        )
        self.callback({"code": params["code"], "state": expired})
        self.assert_refused(account, "oauth_state_invalid")

    def test_replayed_state_is_refused(self):
        account = self.oauth_account(self.salesman)
        params = self.start(self.salesman, account)
        self.callback(params)
        account.invalidate_recordset()
        self.assertEqual(account.state, "enabled")
        self.callback(params)  # the same answer again
        account.invalidate_recordset()
        self.assertEqual(account.state, "enabled")  # the replay changed nothing
        self.assertEqual(self.last_log(account).code, "oauth_state_invalid")
        self.assertEqual(account.oauth_notice_level, "danger")

    def test_another_users_state_is_refused(self):
        mine = self.oauth_account(self.salesman)
        theirs = self.oauth_account(self.salesman_all)
        params = self.start(self.salesman, mine)
        self.login(self.salesman_all)
        self.callback(params)
        mine.invalidate_recordset()
        self.assertEqual(mine.state, "draft")
        self.assertFalse(self.token_row(mine))
        self.assert_refused(theirs, "oauth_state_invalid")

    def test_an_administrator_cannot_connect_someone_elses_mailbox(self):
        account = self.oauth_account(self.salesman)
        before = self.auth.count("/authorize")
        with self.assertRaises(AccessError):
            account.with_user(self.admin).action_connect_oauth()
        self.login(self.admin)
        answer = self.url_open(
            f"/mail_sync_crm/oauth/start?account_id={account.id}",
            allow_redirects=False,
        )
        self.assertIn(answer.status_code, (302, 303))
        self.assertNotIn(self.auth.urls["authorize"], answer.headers["Location"])
        self.assertEqual(self.auth.count("/authorize"), before)
        account.invalidate_recordset()
        self.assertEqual(account.state, "draft")

    def test_not_configured_provider_says_whom_to_ask(self):
        account = self.oauth_account(self.salesman)
        self.env["ir.config_parameter"].sudo().set_param(
            "google_gmail_client_secret", ""
        )
        account.invalidate_recordset()
        self.assertFalse(account.oauth_ready)
        with self.assertRaisesRegex(UserError, "administrator"):
            account.with_user(self.salesman).action_connect_oauth()

    def test_tour_connect_with_google_comes_back_enabled(self):
        account = self.oauth_account(self.salesman)
        # Generous timeout: the first page load after an update compiles the assets.
        self.start_tour(
            f"/odoo/action-mail_sync_crm.mail_sync_account_action/{account.id}",
            "mail_sync_crm_oauth_tour",
            login=self.salesman.login,
            timeout=180,
        )
        account.invalidate_recordset()
        self.assertEqual(account.state, "enabled")
        self.assertTrue(self.token_row(account))

    def test_settings_show_readiness_and_the_redirect_uri(self):
        settings = self.env["res.config.settings"].with_user(self.admin).create({})
        self.assertTrue(settings.mail_sync_google_ready)
        self.assertTrue(settings.mail_sync_microsoft_ready)
        self.assertEqual(
            settings.mail_sync_oauth_redirect_uri,
            self.base_url() + "/mail_sync_crm/oauth/callback",
        )
        settings.microsoft_outlook_client_secret = False
        self.assertFalse(settings.mail_sync_microsoft_ready)
        settings.execute()
        account = self.oauth_account(self.salesman, provider="microsoft")
        self.assertFalse(account.oauth_ready)
        self.assertTrue(self.oauth_account(self.salesman_all).oauth_ready)
