# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The OAuth tokens of a mailbox in use: stored encrypted, handed to IMAP and
SMTP, refreshed shortly before they expire, erased and revoked on disconnect.

A refresh runs on a cursor of its own that first locks the token row, then
reads it (Odoo's cursors are REPEATABLE READ: another worker may have
refreshed it meanwhile, then its token is used), and commits the new tokens at
once: a rotated refresh token must outlive a sync rolled back later.
"""

import logging

import psycopg2.errors

from odoo import api, models
from odoo.exceptions import UserError

from ..lib import errors
from ..lib.oauth import client as oauth
from ..lib.oauth.providers import PROVIDERS
from ..lib.secrets import crypto

_logger = logging.getLogger(__name__)

# Another worker holding the token row while it refreshes: read it again.
REFRESH_ATTEMPTS = 3
TOKEN_FIELDS = ("refresh_secret", "access_secret")


class MailSyncAccount(models.Model):
    _inherit = "mail.sync.account"

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
        # sudo: the passwords of the mailbox its owner just signed in with OAuth go
        # (_oauth_finish checked the owner); constants.
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
        return self._decrypt(key, token, "the OAuth tokens", side="oauth")

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
        row.flush_recordset()
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
            log_exceptions=False,  # a serialization failure is retried
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

    # ------------------------------------------------------------------
    # Key rotation: the tokens are re-encrypted with the passwords
    # ------------------------------------------------------------------
    @api.model
    def _reencrypt_secrets(self, old_key, new_key, forget_undecryptable):
        reencrypted, forgotten = super()._reencrypt_secrets(
            old_key, new_key, forget_undecryptable
        )
        # sudo: key rotation (superuser only: _rotate_secret_key's guard): every token
        # row re-encrypted with the new key, nothing else changed.
        rows = self.env["mail.sync.oauth.token"].sudo().search([])
        if rows:
            self.env.cr.execute(
                "SELECT id FROM mail_sync_oauth_token WHERE id = ANY(%s)"
                " FOR NO KEY UPDATE",
                [rows.ids],
            )
        for row in rows:
            try:
                if not old_key:
                    raise crypto.SecretKeyError("no key")
                values = {
                    field: crypto.encrypt(new_key, crypto.decrypt(old_key, row[field]))
                    for field in TOKEN_FIELDS
                    if row[field]
                }
            except crypto.SecretKeyError as exc:
                if not forget_undecryptable:
                    raise UserError(
                        self.env._(
                            "The sign-in of %(mailbox)s cannot be decrypted with the "
                            "current key: nothing was changed. Restore the key it was "
                            "stored with, or rotate with forget_undecryptable=True "
                            "(its owner then connects again).",
                            mailbox=row.account_id.display_name,
                        )
                    ) from exc
                row.unlink()
                forgotten += 1
                continue
            row.write(values)
            reencrypted += 1
        return reencrypted, forgotten
