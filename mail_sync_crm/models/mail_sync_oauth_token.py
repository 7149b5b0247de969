# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The OAuth tokens of a mailbox, in a row of their own, and everything done
with them: stored encrypted, handed to IMAP and SMTP, refreshed shortly before
they expire, revoked and erased on disconnect, re-encrypted by a key rotation.

Not on the mailbox row: a turn holds that row for its whole length, and a
rotated refresh token must be committed at once from a cursor of its own. A
refresh runs on such a cursor: it first locks the token row, then reads it
(Odoo's cursors are REPEATABLE READ: another worker may have refreshed it
meanwhile, then its token is used), and commits the new tokens at once.

Both tokens are encrypted with the deployment's secret key; no role has any
access to this model (no access rule at all): only the addon, as superuser,
reads or writes it, and every method here is private (no RPC).
"""

import logging

import psycopg2.errors

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..lib import errors
from ..lib.oauth import client as oauth
from ..lib.oauth.providers import PROVIDERS
from ..lib.secrets import crypto

_logger = logging.getLogger(__name__)

# Another worker holding the token row while it refreshes: read it again.
REFRESH_ATTEMPTS = 3
TOKEN_FIELDS = ("refresh_secret", "access_secret")


class MailSyncOAuthToken(models.Model):
    _name = "mail.sync.oauth.token"
    _description = "Mail Sync OAuth Tokens"
    _log_access = False

    account_id = fields.Many2one(
        "mail.sync.account", required=True, index=True, ondelete="cascade"
    )
    provider = fields.Selection(
        [("google", "Google"), ("microsoft", "Microsoft")], required=True
    )
    refresh_secret = fields.Char(
        groups="mail_sync_crm.group_mail_sync_secret", copy=False
    )
    access_secret = fields.Char(
        groups="mail_sync_crm.group_mail_sync_secret", copy=False
    )
    expires_at = fields.Datetime(
        help="When the access token expires (UTC); refreshed shortly before."
    )

    _sql_constraints = [
        ("account_uniq", "UNIQUE(account_id)", "A mailbox has one set of tokens."),
    ]

    # ------------------------------------------------------------------
    # The row of a mailbox
    # ------------------------------------------------------------------
    @api.model
    def _of(self, account):
        """The token row of ``account`` (empty when it signs in with a password)."""
        # sudo: the token row of this mailbox (by its id), for the addon's own sign-in,
        # refresh and revocation; never returned to a client.
        return self.sudo().search([("account_id", "=", account.id)], limit=1)

    @api.model
    def _signing_in(self, accounts):
        """The ids of those of ``accounts`` that sign in with OAuth tokens."""
        # sudo: which of these mailboxes (by id) have a token row, for the addon's own
        # sign-in; only their ids come back, never a token.
        rows = self.sudo().search_fetch(
            [("account_id", "in", accounts.ids)], ["account_id"]
        )
        return set(rows.account_id.ids)

    @api.model
    def _erase(self, accounts):
        """The tokens of ``accounts`` go (their address or provider changed:
        the tokens were the consent of another account)."""
        # sudo: erasing the tokens of the mailboxes whose address or provider a write
        # changed (mail.sync.account.write allowed the caller to), found by mailbox.
        self.sudo().search([("account_id", "in", accounts.ids)]).unlink()

    # ------------------------------------------------------------------
    # Stored encrypted
    # ------------------------------------------------------------------
    @api.model
    def _store(self, account, tokens):
        """Store ``tokens`` (lib.oauth.Tokens) of ``account`` encrypted; its
        passwords go."""
        account.ensure_one()
        key = self.env["mail.sync.secret.key"]._key_for_storing()
        values = {
            "account_id": account.id,
            "provider": account.oauth_provider,
            "refresh_secret": crypto.encrypt(key, tokens.refresh_token),
            "access_secret": crypto.encrypt(key, tokens.access_token),
            "expires_at": tokens.expires_at,
        }
        row = self._of(account)
        if row:
            row.write(values)
        else:
            row.create(values)
        # sudo: the passwords of the mailbox its owner just signed in with OAuth go
        # (mail.sync.oauth._finish checked the owner); constants.
        account.sudo().write({"imap_secret": False, "smtp_secret": False})

    def _decrypt(self, key, token, account):
        return self.env["mail.sync.secret.key"]._decrypt(
            key, token, "the OAuth tokens", account, side="oauth"
        )

    # ------------------------------------------------------------------
    # Handed to IMAP and SMTP, refreshed before they expire
    # ------------------------------------------------------------------
    @api.model
    def _access_token(self, account, refused=None):
        """A valid access token of ``account``: the stored one, or a new one
        when it expires soon (``lib.oauth.needs_refresh``) or is ``refused``
        (the token a server just refused before its expiry: the listener's
        watches; unless another worker replaced it meanwhile). Raises a
        MailSyncError (``oauth_invalid_grant``: connect again)."""
        account.ensure_one()
        row = self._of(account)
        if not row:
            raise oauth.OAuthInvalidGrant(
                "no tokens stored",
                provider=self.env["mail.sync.oauth"]._label(account),
            )
        key = self.env["mail.sync.secret.key"]._key()
        if row.access_secret and not oauth.needs_refresh(row.expires_at):
            token = self._decrypt(key, row.access_secret, account)
            if token != refused:
                return token
        return row._refresh(key, refused)

    def _refresh(self, key, refused=None):
        """Refresh this row on a cursor of its own: lock it first, then read
        it (another worker may have refreshed it meanwhile: then its token is
        used), and commit the new tokens at once."""
        self.ensure_one()
        self.flush_recordset()
        for _attempt in range(REFRESH_ATTEMPTS):
            try:
                with self.env.registry.cursor() as cr:
                    return self._refresh_locked(cr, key, refused)
            except psycopg2.errors.SerializationFailure:
                # Changed by another worker after this transaction began: the
                # next attempt starts a new transaction and reads its tokens.
                continue
        raise errors.MailSyncError(
            "oauth_provider_error",
            "the tokens kept changing while refreshing",
            side="oauth",
            params={"provider": PROVIDERS[self.provider].label},
        )

    def _refresh_locked(self, cr, key, refused=None):
        account, provider = self.account_id, self.provider
        cr.execute(
            """SELECT refresh_secret, access_secret, expires_at
                 FROM mail_sync_oauth_token WHERE id = %s FOR NO KEY UPDATE""",
            [self.id],
            log_exceptions=False,  # a serialization failure is retried
        )
        found = cr.fetchone()
        if not found or not found[0]:
            raise oauth.OAuthInvalidGrant(
                "no tokens stored", provider=PROVIDERS[provider].label
            )
        refresh_secret, access_secret, expires_at = found
        if access_secret and not oauth.needs_refresh(expires_at):
            token = self._decrypt(key, access_secret, account)
            if token != refused:
                return token  # refreshed meanwhile
        client = self.env["mail.sync.oauth"]._client(provider)
        tokens = client.refresh(self._decrypt(key, refresh_secret, account))
        cr.execute(
            """UPDATE mail_sync_oauth_token
                  SET refresh_secret = %s, access_secret = %s, expires_at = %s
                WHERE id = %s""",
            [
                crypto.encrypt(key, tokens.refresh_token),
                crypto.encrypt(key, tokens.access_token),
                tokens.expires_at,
                self.id,
            ],
        )
        self.invalidate_model()
        _logger.info(
            "mail_sync_crm: mailbox %s: %s access token refreshed%s",
            account.id,
            provider,
            " (refresh token rotated)" if tokens.rotated else "",
        )
        return tokens.access_token

    # ------------------------------------------------------------------
    # Disconnect: tokens erased, and revoked where the provider can
    # ------------------------------------------------------------------
    @api.model
    def _revoke_and_erase(self, accounts):
        """The tokens of ``accounts`` (being disconnected) are revoked at their
        provider where it can, and erased."""
        for account in accounts:
            row = self._of(account)
            if row:
                row._revoke()
                row.unlink()

    def _revoke(self):
        self.ensure_one()
        try:
            key = self.env["mail.sync.secret.key"]._key()
            token = self._decrypt(key, self.refresh_secret, self.account_id)
            self.env["mail.sync.oauth"]._client(self.provider).revoke(token)
        except errors.MailSyncError as err:
            # The tokens are erased anyway; the grant ends with the provider's
            # own expiry, or when the user removes the app at the provider.
            _logger.warning(
                "mail_sync_crm: mailbox %s: revoking the %s grant failed: %s",
                self.account_id.id,
                self.provider,
                err.code,
            )

    # ------------------------------------------------------------------
    # Key rotation (mail.sync.secret.key._rotate)
    # ------------------------------------------------------------------
    @api.model
    def _reencrypt(self, old_key, new_key, forget_undecryptable):
        """Every token row re-encrypted with ``new_key``; returns the numbers
        of secrets (reencrypted, forgotten)."""
        # sudo: key rotation (superuser only: mail.sync.secret.key._rotate's guard):
        # every token row re-encrypted with the new key, nothing else changed.
        rows = self.sudo().search([])
        if rows:
            self.env.cr.execute(
                "SELECT id FROM mail_sync_oauth_token WHERE id = ANY(%s)"
                " FOR NO KEY UPDATE",
                [rows.ids],
            )
        reencrypted = forgotten = 0
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
