# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Shared set-up of the OAuth tests: a real local authorization server standing
in for Google's and Microsoft's, Dovecot and an SMTP server that check its
tokens themselves, the system parameters pointing at it."""

import urllib.parse

from mail_sync_testing import DovecotServer, OAuthServer, SmtpServer

from ..lib.oauth.providers import CLIENT_PARAMS, param_name
from ..models.mail_sync_oauth import CALLBACK_PATH
from .common import PASSWORD, MailSyncHttpCase, login_password


class OAuthCase(MailSyncHttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.auth = OAuthServer(user=cls.salesman.email)
        cls.auth.start()
        cls.addClassCleanup(cls.auth.stop)
        cls.oauth_imap = DovecotServer(oauth=cls.auth)
        cls.oauth_imap.start()
        cls.addClassCleanup(cls.oauth_imap.stop)
        cls.oauth_smtp = SmtpServer(oauth=cls.auth)
        cls.oauth_smtp.start()
        cls.addClassCleanup(cls.oauth_smtp.stop)
        for user in (cls.salesman, cls.salesman_all):
            cls.auth.add_user(user.email)
            cls.oauth_imap.add_user(user.email, PASSWORD)
        ICP = cls.env["ir.config_parameter"].sudo()
        ICP.set_param("web.base.url", cls.base_url())
        ICP.set_param("web.base.url.freeze", "1")
        for provider, (id_param, secret_param) in CLIENT_PARAMS.items():
            ICP.set_param(id_param, cls.auth.client_id)
            ICP.set_param(secret_param, cls.auth.client_secret)
            for kind, url in cls.auth.urls.items():
                ICP.set_param(param_name(provider, kind), url)

    def setUp(self):
        super().setUp()
        self.auth.user = self.salesman.email
        self.auth.authorize_error = None
        self.auth.token_error = None

    def oauth_account(self, user, provider="gmail"):
        """``user``'s own Gmail (or Microsoft) mailbox on the OAuth test servers."""
        return (
            self.env["mail.sync.account"]
            .with_user(user)
            .create(
                {
                    "provider": provider,
                    "email": user.email,
                    "imap_host": self.oauth_imap.host,
                    "imap_port": self.oauth_imap.ssl_port,
                    "imap_encryption": "ssl",
                    "imap_allow_self_signed": True,
                    "smtp_host": self.oauth_smtp.host,
                    "smtp_port": self.oauth_smtp.ssl_port,
                    "smtp_encryption": "ssl",
                    "smtp_allow_self_signed": True,
                }
            )
        )

    def login(self, user):
        self.authenticate(user.login, login_password(user.login))

    def start(self, user, account):
        """Press "Connect with Google" as ``user`` and play the browser at the
        provider: the parameters it sends back to the callback."""
        self.login(user)
        action = account.with_user(user).action_connect_oauth()
        self.assertEqual(action["type"], "ir.actions.act_url")
        answer = self.url_open(action["url"], allow_redirects=False)
        self.assertIn(answer.status_code, (302, 303))
        location = answer.headers["Location"]
        self.assertTrue(location.startswith(self.auth.urls["authorize"]), location)
        return self.auth.authorize(location)

    def callback(self, params):
        """Open the real callback with ``params``; the redirect's target."""
        query = urllib.parse.urlencode(params)
        answer = self.url_open(f"{CALLBACK_PATH}?{query}", allow_redirects=False)
        self.assertIn(answer.status_code, (302, 303), answer.text[:300])
        return answer.headers["Location"]

    def connect(self, user, account):
        """The whole flow, following every redirect as a browser does."""
        self.login(user)
        action = account.with_user(user).action_connect_oauth()
        answer = self.url_open(action["url"])
        self.assertEqual(answer.status_code, 200)
        account.invalidate_recordset()
        return answer

    def last_log(self, account):
        return self.env["mail.sync.log"].search(
            [("account_id", "=", account.id)], order="id desc", limit=1
        )

    def token_row(self, account):
        return (
            self.env["mail.sync.oauth.token"]
            .sudo()
            .search([("account_id", "=", account.id)])
        )
