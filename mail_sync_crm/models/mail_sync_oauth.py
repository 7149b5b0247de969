# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Connecting a Gmail or Microsoft mailbox with OAuth 2.0 ("Connect with Google").

The flow (``controllers/oauth.py`` drives it over HTTP)::

    mail.sync.account.action_connect_oauth()
                                      -> /mail_sync_crm/oauth/start?account_id=
    _authorization(account)           -> provider's URL, PKCE verifier (web session),
                                         signed state naming user, mailbox, provider
    /mail_sync_crm/oauth/callback     -> _read_state(), then _finish(account, ...):
                                         code exchanged, account checked, tokens
                                         stored, IMAP and SMTP tested, Enabled

The tokens live in ``mail.sync.oauth.token`` (one row per mailbox), which
stores, refreshes and revokes them. A service: every method is private (no
RPC); the mailbox's buttons and the routes call it.
"""

import secrets
from datetime import timedelta

from odoo import _, api, models
from odoo.tools.misc import hash_sign, verify_hash_signed

from ..exceptions import MailSyncUserError
from ..lib import errors
from ..lib.oauth import client as oauth
from ..lib.oauth.providers import CLIENT_PARAMS, PROVIDERS, provider_from_params

# mail.sync.account provider -> OAuth provider (lib.oauth_providers).
OAUTH_PROVIDERS = {"gmail": "google", "microsoft": "microsoft"}
START_PATH = "/mail_sync_crm/oauth/start"
CALLBACK_PATH = "/mail_sync_crm/oauth/callback"
STATE_SCOPE = "mail_sync_crm.oauth_state"
STATE_LIFETIME = timedelta(minutes=15)


class MailSyncOAuth(models.AbstractModel):
    _name = "mail.sync.oauth"
    _description = "Mail Sync OAuth Sign-in"

    # ------------------------------------------------------------------
    # Configuration (Odoo's own system parameters)
    # ------------------------------------------------------------------
    @api.model
    def _configured(self, name):
        # sudo: read-only: system parameters of fixed names (the provider's client id
        # and secret).
        get_param = self.env["ir.config_parameter"].sudo().get_param
        return all((get_param(param) or "").strip() for param in CLIENT_PARAMS[name])

    @api.model
    def _redirect_uri(self):
        """The one redirect URI to register at Google and Microsoft."""
        # sudo: read-only: the system parameter web.base.url.
        base = self.env["ir.config_parameter"].sudo().get_param("web.base.url") or ""
        return base.rstrip("/") + CALLBACK_PATH

    @api.model
    def _client(self, name):
        """The lib's OAuth client of provider ``name`` (raises
        ``OAuthNotConfigured``)."""
        # sudo: read-only: system parameters of fixed names (the provider's client id,
        # secret and URLs).
        return oauth.client_from_params(
            name,
            self.env["ir.config_parameter"].sudo().get_param,
            self._redirect_uri(),
        )

    @api.model
    def _client_provider(self, account):
        """The lib's provider of ``account`` (its URLs read from the system
        parameters), or None."""
        account.ensure_one()
        if not account.oauth_provider:
            return None
        # sudo: read-only: system parameters of fixed names (the provider's URLs).
        get_param = self.env["ir.config_parameter"].sudo().get_param
        return provider_from_params(account.oauth_provider, get_param)

    @api.model
    def _label(self, account):
        name = account.oauth_provider
        return PROVIDERS[name].label if name else _("your provider")

    # ------------------------------------------------------------------
    # The flow
    # ------------------------------------------------------------------
    @api.model
    def _start(self, account):
        """Start "Connect with Google / Microsoft" for ``account`` (its owner
        checked by the button): the browser goes to the provider through the
        addon's own route (PKCE verifier in the web session)."""
        if not account.oauth_provider:
            raise MailSyncUserError(
                _("Only Gmail and Microsoft mailboxes sign in with their provider."),
                _("Sign-in not available"),
            )
        if not account.oauth_ready:
            raise MailSyncUserError(
                _(
                    "Connecting with %(provider)s is not set up yet. Ask your Odoo "
                    "administrator to enter the %(provider)s client ID and secret "
                    "in Settings > CRM > Mail Sync.",
                    provider=self._label(account),
                ),
                _("Sign-in not set up"),
            )
        return {
            "type": "ir.actions.act_url",
            "url": f"{START_PATH}?account_id={account.id}",
            "target": "self",
        }

    @api.model
    def _authorization(self, account):
        """(URL to send the browser to, nonce, PKCE code verifier). The signed
        state names the user, the mailbox, the provider and the nonce under
        which the verifier waits in the web session; it expires."""
        account.ensure_one()
        account._check_owner()
        name = account.oauth_provider
        if not name:
            raise errors.MailSyncError("oauth_state_invalid", "not an OAuth provider")
        client = self._client(name)
        nonce = secrets.token_urlsafe(16)
        # sudo: the database secret signs values computed here: the current user, this
        # mailbox (its owner: _check_owner() above), its provider, a random nonce.
        state = hash_sign(
            self.sudo().env,
            STATE_SCOPE,
            {"user": self.env.uid, "account": account.id, "provider": name, "n": nonce},
            expiration=STATE_LIFETIME,
        )
        request = client.authorization_request(state, login_hint=account.email)
        # sudo: clearing the notice of the owner's own mailbox (_check_owner() above).
        account.sudo().write({"oauth_notice": False, "oauth_notice_level": False})
        return request.url, nonce, request.code_verifier

    @api.model
    def _read_state(self, state):
        """The values of a state this database signed and that has not
        expired, else None."""
        try:
            # sudo: read-only: the database secret checks the state the request brings;
            # its values count only when this database signed them, and the callback
            # then checks the user and the mailbox.
            values = verify_hash_signed(self.sudo().env, STATE_SCOPE, state or "")
        except (ValueError, TypeError, UnicodeError):
            return None
        if not isinstance(values, dict) or not {
            "user",
            "account",
            "provider",
            "n",
        } <= set(values):
            return None
        return values

    @api.model
    def _finish(self, account, code, verifier):
        """The callback's second half: exchange ``code``, check the consenting
        account is the mailbox's address, store the tokens, test IMAP and SMTP
        and enable. Raises a MailSyncError (the caller rolls back)."""
        account.ensure_one()
        account._check_owner()
        client = self._client(account.oauth_provider)
        tokens = client.exchange_code(code, verifier)
        oauth.check_account(client.identity(tokens), account.email, client.provider)
        self.env["mail.sync.oauth.token"]._store(account, tokens)
        connector = self.env["mail.sync.connector"]
        connector._test_and_enable(account)
        title, message = connector._connected_message(account)
        self._notify(
            account,
            f"{title}: {message}",
            "success" if account.state == "enabled" else "warning",
        )

    @api.model
    def _refused(self, account, err):
        """Log a refused or failed sign-in on ``account`` and show it on its
        form."""
        account.ensure_one()
        self.env["mail.sync.log"]._record(account, err)
        message, hint = account._describe(err)
        self._notify(
            account,
            self.env._(
                "%(message)s\nHow to fix it: %(hint)s", message=message, hint=hint
            ),
            "danger",
        )

    @api.model
    def _notify(self, account, text, level):
        # sudo: the notice of the owner's own mailbox (callers: the OAuth routes on
        # _own_account(), _finish and action_dismiss_oauth_notice after
        # _check_owner()); text is the addon's own (a catalogue message and hint, or the
        # connected message).
        account.sudo().write({"oauth_notice": text, "oauth_notice_level": level})
