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
with the passwords' key; ``mail_sync_account_oauth_tokens.py`` stores, refreshes
and revokes them.
"""

import secrets
from datetime import timedelta

from odoo import _, api, fields, models
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
        # sudo: read-only: whether each of these mailboxes has a token row (a bool
        # leaves; no one may read the tokens model).
        rows = (
            self.env["mail.sync.oauth.token"]
            .sudo()
            .search([("account_id", "in", self.ids)])
        )
        connected = set(rows.account_id.ids)
        for account in self:
            account.oauth_connected = account.id in connected

    def write(self, vals):
        # Tokens are the consent of one account at one provider: another
        # address or provider erases them (as a moved password is erased).
        moved = self.browse()
        if "email" in vals or "provider" in vals:
            moved = self.filtered(
                lambda a: (
                    (a.email or "").strip().lower()
                    != (vals.get("email", a.email) or "").strip().lower()
                    or a.provider != vals.get("provider", a.provider)
                )
            )
        result = super().write(vals)
        if moved:
            # sudo: erasing the tokens of the mailboxes whose address or provider this
            # write changed (super().write() above allowed the caller to), found by
            # mailbox.
            self.env["mail.sync.oauth.token"].sudo().search(
                [("account_id", "in", moved.ids)]
            ).unlink()
        return result

    def _mail_sync_uses_oauth(self):
        """Whether this mailbox signs in with OAuth tokens (not a password)."""
        self.ensure_one()
        return bool(self.id) and bool(self._oauth_token_row())

    def _oauth_token_row(self):
        # sudo: the token row of this mailbox (by its id), for the addon's own sign-in,
        # refresh and revocation; never returned to a client.
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
        # sudo: read-only: system parameters of fixed names (the provider's client id
        # and secret).
        get_param = self.env["ir.config_parameter"].sudo().get_param
        return all((get_param(param) or "").strip() for param in CLIENT_PARAMS[name])

    @api.model
    def _oauth_redirect_uri(self):
        """The one redirect URI to register at Google and Microsoft."""
        # sudo: read-only: the system parameter web.base.url.
        base = self.env["ir.config_parameter"].sudo().get_param("web.base.url") or ""
        return base.rstrip("/") + CALLBACK_PATH

    @api.model
    def _oauth_client(self, name):
        """The lib's OAuth client of provider ``name`` (raises
        ``OAuthNotConfigured``)."""
        # sudo: read-only: system parameters of fixed names (the provider's client id,
        # secret and URLs).
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
        # sudo: read-only: system parameters of fixed names (the provider's URLs).
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
            raise MailSyncUserError(
                _("Only Gmail and Microsoft mailboxes sign in with their provider."),
                _("Sign-in not available"),
            )
        if not self.oauth_ready:
            raise MailSyncUserError(
                _(
                    "Connecting with %(provider)s is not set up yet. Ask your Odoo "
                    "administrator to enter the %(provider)s client ID and secret "
                    "in Settings > CRM > Mail Sync.",
                    provider=self._oauth_label(),
                ),
                _("Sign-in not set up"),
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
        # sudo: the database secret signs values computed here: the current user, this
        # mailbox (its owner: _check_owner() above), its provider, a random nonce.
        state = hash_sign(
            self.sudo().env,
            STATE_SCOPE,
            {"user": self.env.uid, "account": self.id, "provider": name, "n": nonce},
            expiration=STATE_LIFETIME,
        )
        request = client.authorization_request(state, login_hint=self.email)
        # sudo: clearing the notice of the owner's own mailbox (_check_owner() above).
        self.sudo().write({"oauth_notice": False, "oauth_notice_level": False})
        return request.url, nonce, request.code_verifier

    @api.model
    def _oauth_read_state(self, state):
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
        # sudo: the notice of the owner's own mailbox (callers: the OAuth routes on
        # _own_account(), _oauth_finish and action_dismiss_oauth_notice after
        # _check_owner()); text is the addon's own (a catalogue message and hint, or the
        # connected message).
        self.sudo().write({"oauth_notice": text, "oauth_notice_level": level})

    def action_dismiss_oauth_notice(self):
        self.ensure_one()
        self._check_owner()
        self._oauth_notify(False, False)
        return True
