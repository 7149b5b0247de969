# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Connecting a Gmail or Microsoft mailbox with OAuth 2.0 ("Connect with Google").

The flow (``controllers/oauth.py`` drives it over HTTP)::

    action_connect_oauth()            -> /mail_sync_crm/oauth/start?account_id=
    _oauth_authorization()            -> provider's URL, PKCE verifier (web session),
                                         signed state naming user, mailbox, provider
    /mail_sync_crm/oauth/callback     -> _oauth_read_state(), then _oauth_finish():
                                         code exchanged, account checked, tokens
                                         stored, IMAP and SMTP tested, Enabled

The tokens live in ``mail.sync.oauth.token`` (one row per mailbox), encrypted
with the passwords' key. The access token is refreshed shortly before it
expires, on a cursor of its own under a lock of the token row, and committed at
once (a rotated refresh token must outlive a sync rolled back later).
"""

import logging
import secrets
from datetime import timedelta

import psycopg2.errors

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools.misc import hash_sign, verify_hash_signed

from ..lib import crypto, errors, oauth
from ..lib.oauth_providers import CLIENT_PARAMS, PROVIDERS, provider_from_params

_logger = logging.getLogger(__name__)

# mail.sync.account provider -> OAuth provider (lib.oauth_providers).
OAUTH_PROVIDERS = {"gmail": "google", "microsoft": "microsoft"}
START_PATH = "/mail_sync_crm/oauth/start"
CALLBACK_PATH = "/mail_sync_crm/oauth/callback"
STATE_SCOPE = "mail_sync_crm.oauth_state"
STATE_LIFETIME = timedelta(minutes=15)
# Another worker holding the token row while it refreshes: read it again.
REFRESH_ATTEMPTS = 3


class MailSyncAccount(models.Model):
    _inherit = "mail.sync.account"

    oauth_provider = fields.Selection(
        [("google", "Google"), ("microsoft", "Microsoft")],
        compute="_compute_oauth_provider",
    )
    oauth_ready = fields.Boolean(
        compute="_compute_oauth_provider",
        help="An administrator entered the provider's client ID and secret.",
    )
    oauth_connected = fields.Boolean(
        string="Signed In With Provider", compute="_compute_oauth_connected"
    )
    oauth_notice = fields.Text(readonly=True, copy=False)
    oauth_notice_level = fields.Selection(
        [("success", "Success"), ("warning", "Warning"), ("danger", "Danger")],
        readonly=True,
        copy=False,
    )

    def _compute_oauth_provider(self):
        for account in self:
            name = OAUTH_PROVIDERS.get(account.provider)
            account.oauth_provider = name or False
            account.oauth_ready = bool(name) and self._oauth_configured(name)

    def _compute_oauth_connected(self):
        rows = (
            self.env["mail.sync.oauth.token"]
            .sudo()
            .search([("account_id", "in", self.ids)])
        )
        connected = set(rows.account_id.ids)
        for account in self:
            account.oauth_connected = account.id in connected

    def _mail_sync_uses_oauth(self):
        """Whether this mailbox signs in with OAuth tokens (not a password)."""
        self.ensure_one()
        return bool(self.id) and bool(self._oauth_token_row())

    def _oauth_token_row(self):
        return (
            self.env["mail.sync.oauth.token"]
            .sudo()
            .search([("account_id", "=", self.id)], limit=1)
        )

    # ------------------------------------------------------------------
    # Configuration (Odoo's own system parameters)
    # ------------------------------------------------------------------
    @api.model
    def _oauth_configured(self, name):
        get_param = self.env["ir.config_parameter"].sudo().get_param
        return all((get_param(param) or "").strip() for param in CLIENT_PARAMS[name])

    @api.model
    def _oauth_redirect_uri(self):
        """The one redirect URI to register at Google and Microsoft."""
        base = self.env["ir.config_parameter"].sudo().get_param("web.base.url") or ""
        return base.rstrip("/") + CALLBACK_PATH

    @api.model
    def _oauth_client(self, name):
        """The lib's OAuth client of provider ``name`` (raises
        ``OAuthNotConfigured``)."""
        return oauth.client_from_params(
            name,
            self.env["ir.config_parameter"].sudo().get_param,
            self._oauth_redirect_uri(),
        )

    def _oauth_client_provider(self):
        """The lib's provider of this mailbox (its URLs read from the system
        parameters), or None."""
        self.ensure_one()
        if not self.oauth_provider:
            return None
        get_param = self.env["ir.config_parameter"].sudo().get_param
        return provider_from_params(self.oauth_provider, get_param)

    def _oauth_label(self):
        name = self.oauth_provider
        return PROVIDERS[name].label if name else _("your provider")

    # ------------------------------------------------------------------
    # The flow
    # ------------------------------------------------------------------
    def action_connect_oauth(self):
        """Start "Connect with Google / Microsoft": the browser goes to the
        provider through the addon's own route (PKCE verifier in the web
        session)."""
        self.ensure_one()
        self._check_owner()
        if not self.oauth_provider:
            raise UserError(
                _("Only Gmail and Microsoft mailboxes sign in with their provider.")
            )
        if not self.oauth_ready:
            raise UserError(
                _(
                    "Connecting with %(provider)s is not set up yet. Ask your Odoo "
                    "administrator to enter the %(provider)s client ID and secret "
                    "in Settings > CRM > Mail Sync.",
                    provider=self._oauth_label(),
                )
            )
        return {
            "type": "ir.actions.act_url",
            "url": f"{START_PATH}?account_id={self.id}",
            "target": "self",
        }

    def _oauth_authorization(self):
        """(URL to send the browser to, nonce, PKCE code verifier). The signed
        state names the user, the mailbox, the provider and the nonce under
        which the verifier waits in the web session; it expires."""
        self.ensure_one()
        self._check_owner()
        name = self.oauth_provider
        if not name:
            raise errors.MailSyncError("oauth_state_invalid", "not an OAuth provider")
        client = self._oauth_client(name)
        nonce = secrets.token_urlsafe(16)
        state = hash_sign(
            self.sudo().env,
            STATE_SCOPE,
            {"user": self.env.uid, "account": self.id, "provider": name, "n": nonce},
            expiration=STATE_LIFETIME,
        )
        request = client.authorization_request(state, login_hint=self.email)
        self.sudo().write({"oauth_notice": False, "oauth_notice_level": False})
        return request.url, nonce, request.code_verifier

    @api.model
    def _oauth_read_state(self, state):
        """The values of a state this database signed and that has not
        expired, else None."""
        try:
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

    def _oauth_finish(self, code, verifier):
        """The callback's second half: exchange ``code``, check the consenting
        account is the mailbox's address, store the tokens, test IMAP and SMTP
        and enable. Raises a MailSyncError (the caller rolls back)."""
        self.ensure_one()
        self._check_owner()
        client = self._oauth_client(self.oauth_provider)
        tokens = client.exchange_code(code, verifier)
        oauth.check_account(client.identity(tokens), self.email, client.provider)
        self._oauth_store(tokens)
        self._test_and_enable()
        title, message = self._connected_message()
        self._oauth_notify(
            f"{title}: {message}", "success" if self.state == "enabled" else "warning"
        )

    def _oauth_refused(self, err):
        """Log a refused or failed sign-in on this mailbox and show it on its
        form."""
        self.ensure_one()
        self._log_error(err)
        message, hint = self._describe(err)
        self._oauth_notify(
            self.env._(
                "%(message)s\nHow to fix it: %(hint)s", message=message, hint=hint
            ),
            "danger",
        )

    def _oauth_notify(self, text, level):
        self.sudo().write({"oauth_notice": text, "oauth_notice_level": level})

    def action_dismiss_oauth_notice(self):
        self.ensure_one()
        self._check_owner()
        self._oauth_notify(False, False)
        return True

    # ------------------------------------------------------------------
    # Tokens: stored encrypted, refreshed before they expire
    # ------------------------------------------------------------------
    def _oauth_store(self, tokens):
        """Store ``tokens`` (lib.oauth.Tokens) encrypted; the passwords go."""
        self.ensure_one()
        key = self._secret_key_for_storing()
        values = {
            "account_id": self.id,
            "provider": self.oauth_provider,
            "refresh_secret": crypto.encrypt(key, tokens.refresh_token),
            "access_secret": crypto.encrypt(key, tokens.access_token),
            "expires_at": tokens.expires_at,
        }
        row = self._oauth_token_row()
        if row:
            row.write(values)
        else:
            row.create(values)
        self.sudo().write({"imap_secret": False, "smtp_secret": False})

    def _mail_sync_credentials(self, login, field, side, host, port):
        if not self._mail_sync_uses_oauth():
            return super()._mail_sync_credentials(login, field, side, host, port)
        return {
            "login": (self.email or "").strip(),
            "password": "",
            "access_token": self._oauth_access_token(),
        }

    def _oauth_decrypt(self, key, token):
        try:
            return crypto.decrypt(key, token)
        except crypto.SecretKeyError as exc:
            raise errors.MailSyncError(
                "secret_key_mismatch",
                f"the OAuth tokens of mailbox {self.id} were not made with the key "
                "in use",
                side="oauth",
            ) from exc

    def _oauth_access_token(self):
        """A valid access token: the stored one, or a new one when it expires
        soon (``lib.oauth.needs_refresh``). Raises a MailSyncError
        (``oauth_invalid_grant``: connect again)."""
        self.ensure_one()
        row = self._oauth_token_row()
        if not row:
            raise oauth.OAuthInvalidGrant(
                "no tokens stored", provider=self._oauth_label()
            )
        key = self._secret_key()
        if row.access_secret and not oauth.needs_refresh(row.expires_at):
            return self._oauth_decrypt(key, row.access_secret)
        return self._oauth_refresh(row, key)

    def _oauth_refresh(self, row, key):
        """Refresh on a cursor of its own: lock the token row first, then read
        it (another worker may have refreshed it meanwhile: then its token is
        used), and commit the new tokens at once."""
        for _attempt in range(REFRESH_ATTEMPTS):
            try:
                with self.env.registry.cursor() as cr:
                    return self._oauth_refresh_locked(cr, row.id, row.provider, key)
            except psycopg2.errors.SerializationFailure:
                # Changed by another worker after this transaction began: the
                # next attempt starts a new transaction and reads its tokens.
                continue
        raise errors.MailSyncError(
            "oauth_provider_error",
            "the tokens kept changing while refreshing",
            side="oauth",
            params={"provider": self._oauth_label()},
        )

    def _oauth_refresh_locked(self, cr, row_id, provider, key):
        cr.execute(
            """SELECT refresh_secret, access_secret, expires_at
                 FROM mail_sync_oauth_token WHERE id = %s FOR NO KEY UPDATE""",
            [row_id],
        )
        found = cr.fetchone()
        if not found or not found[0]:
            raise oauth.OAuthInvalidGrant(
                "no tokens stored", provider=PROVIDERS[provider].label
            )
        refresh_secret, access_secret, expires_at = found
        if access_secret and not oauth.needs_refresh(expires_at):
            return self._oauth_decrypt(key, access_secret)  # refreshed meanwhile
        client = self._oauth_client(provider)
        tokens = client.refresh(self._oauth_decrypt(key, refresh_secret))
        cr.execute(
            """UPDATE mail_sync_oauth_token
                  SET refresh_secret = %s, access_secret = %s, expires_at = %s
                WHERE id = %s""",
            [
                crypto.encrypt(key, tokens.refresh_token),
                crypto.encrypt(key, tokens.access_token),
                tokens.expires_at,
                row_id,
            ],
        )
        self.env["mail.sync.oauth.token"].invalidate_model()
        _logger.info(
            "mail_sync_crm: mailbox %s: %s access token refreshed%s",
            self.id,
            provider,
            " (refresh token rotated)" if tokens.rotated else "",
        )
        return tokens.access_token

    # ------------------------------------------------------------------
    # Disconnect: tokens erased, and revoked where the provider can
    # ------------------------------------------------------------------
    def _before_disconnect(self):
        result = super()._before_disconnect()
        for account in self:
            row = account._oauth_token_row()
            if row:
                account._oauth_revoke(row)
                row.unlink()
        return result

    def _oauth_revoke(self, row):
        try:
            key = self._secret_key()
            token = self._oauth_decrypt(key, row.refresh_secret)
            self._oauth_client(row.provider).revoke(token)
        except errors.MailSyncError as err:
            # The tokens are erased anyway; the grant ends with the provider's
            # own expiry, or when the user removes the app at the provider.
            _logger.warning(
                "mail_sync_crm: mailbox %s: revoking the %s grant failed: %s",
                self.id,
                row.provider,
                err.code,
            )
