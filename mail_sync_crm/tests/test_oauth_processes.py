# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Two real Odoo processes need a fresh access token for the same mailbox at
the same moment: one refreshes (the token row locked on a cursor of its own,
the rotated refresh token committed at once), the other waits, then uses the
new token; both sign in to the real IMAP and SMTP servers."""

import os
import time

from odoo.tests import tagged

from mail_sync_testing import DovecotServer, OAuthServer, SmtpServer

from ..lib.oauth import client as oauth
from ..lib.oauth.providers import CLIENT_PARAMS, get_provider, param_name
from .common import PASSWORD
from .odoo_process_case import OdooProcessCase

LOGIN = "oauth_race"
EMAIL = f"{LOGIN}@example.com"  # PRELUDE's owner() gives login@example.com

SETUP = """
from datetime import timedelta
from odoo import fields
from odoo.addons.mail_sync_crm.lib.oauth import client as oauth
for key, value in ARGS["params"].items():
    env["ir.config_parameter"].sudo().set_param(key, value)
user = owner(ARGS["login"])
account = env["mail.sync.account"].with_user(user).create({
    "provider": "gmail", "email": user.email,
    "imap_host": ARGS["host"], "imap_port": ARGS["oauth_imap_port"],
    "imap_encryption": "ssl", "imap_allow_self_signed": True,
    "smtp_host": ARGS["host"], "smtp_port": ARGS["oauth_smtp_port"],
    "smtp_encryption": "ssl", "smtp_allow_self_signed": True,
})
env["mail.sync.oauth.token"]._store(account, oauth.Tokens(
    access_token=ARGS["access"], refresh_token=ARGS["refresh"],
    expires_at=fields.Datetime.now() + timedelta(hours=1),
))
env["mail.sync.connector"]._test_and_enable(account)
env.cr.commit()
# The access token is now due for a refresh.
env["mail.sync.oauth.token"]._of(account).expires_at = fields.Datetime.now()
env.cr.commit()
result(account_id=account.id, state=account.state)
"""

RACE = """
from odoo.addons.mail_sync_crm.lib.imap import session as imap_session
from odoo.addons.mail_sync_crm.lib.sending import smtp_session
account = env["mail.sync.account"].sudo().browse(ARGS["account_id"])
account.email  # this transaction's snapshot starts before the other's refresh
open(os.path.join(ARGS["workdir"], "ready-" + ARGS["name"]), "w").close()
wait_for(os.path.join(ARGS["workdir"], "go"))
imap = imap_session.check_imap(env["mail.sync.connector"]._imap_settings(account))
smtp_session.check_smtp(env["mail.sync.connector"]._smtp_settings(account))
env.cr.commit()
result(inbox=imap.inbox)
"""


@tagged("post_install", "-at_install")
class TestOAuthRefreshAcrossProcesses(OdooProcessCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.auth = OAuthServer(user=EMAIL)
        cls.auth.start()
        cls.addClassCleanup(cls.auth.stop)
        cls.oauth_imap = DovecotServer(oauth=cls.auth)
        cls.oauth_imap.start()
        cls.addClassCleanup(cls.oauth_imap.stop)
        cls.oauth_imap.add_user(EMAIL, PASSWORD)
        cls.oauth_smtp = SmtpServer(oauth=cls.auth)
        cls.oauth_smtp.start()
        cls.addClassCleanup(cls.oauth_smtp.stop)

    def params(self):
        values = {"web.base.url": "http://127.0.0.1:8069"}
        for provider, (id_param, secret_param) in CLIENT_PARAMS.items():
            values[id_param] = self.auth.client_id
            values[secret_param] = self.auth.client_secret
            for kind, url in self.auth.urls.items():
                values[param_name(provider, kind)] = url
        return values

    def consent(self):
        """Tokens of the user's consent, as the callback gets them."""
        client = oauth.OAuthClient(
            get_provider("google", urls=self.auth.urls),
            self.auth.client_id,
            self.auth.client_secret,
            "http://127.0.0.1:8069/mail_sync_crm/oauth/callback",
        )
        request = client.authorization_request("state", login_hint=EMAIL)
        code = oauth.parse_callback(self.auth.authorize(request.url))
        return client, client.exchange_code(code, request.code_verifier)

    def test_two_processes_refresh_once_and_both_sign_in_then_a_key_rotation(self):
        client, tokens = self.consent()
        results, _log = self.run_odoo(
            SETUP,
            params=self.params(),
            login=LOGIN,
            access=tokens.access_token,
            refresh=tokens.refresh_token,
            oauth_imap_port=self.oauth_imap.ssl_port,
            oauth_smtp_port=self.oauth_smtp.ssl_port,
        )
        self.assertEqual(results["state"], "enabled")
        before = self.auth.count("/token", grant_type="refresh_token")
        racers = [
            self.start(RACE, account_id=results["account_id"], name=name)
            for name in ("a", "b")
        ]
        deadline = time.monotonic() + 150
        ready = [os.path.join(self.workdir, f"ready-{name}") for name in "ab"]
        while not all(os.path.exists(path) for path in ready):
            self.assertLess(time.monotonic(), deadline, "the processes never started")
            time.sleep(0.05)
        open(os.path.join(self.workdir, "go"), "w").close()
        outcomes = [racer.finish()[0] for racer in racers]
        self.assertEqual([o.get("inbox") for o in outcomes], ["INBOX", "INBOX"])
        self.assertEqual(
            self.auth.count("/token", grant_type="refresh_token"), before + 1
        )
        # The rotated refresh token was committed: the first one is spent, the
        # stored one is not due for a refresh any more.
        with self.assertRaises(oauth.OAuthInvalidGrant):
            client.refresh(tokens.refresh_token)
        rows = self.db.sql(
            "SELECT expires_at > now() at time zone 'utc' FROM mail_sync_oauth_token"
        )
        self.assertEqual(rows, [["t"]])
        # A key rotation re-encrypts the tokens with the passwords: the
        # mailbox still signs in afterwards.
        rotated, _log = self.run_odoo(
            """
            done = env["mail.sync.secret.key"]._rotate()
            env.cr.commit()
            result(reencrypted=done["reencrypted"], forgotten=done["forgotten"])
            """
        )
        self.assertEqual(
            (rotated["reencrypted"], rotated["forgotten"]), (1, 0)
        )  # its row
        outcome, _log = self.run_odoo(
            RACE.replace("wait_for(", "(lambda path: None)("),
            account_id=results["account_id"],
            name="after-rotation",
        )
        self.assertEqual(outcome["inbox"], "INBOX")
