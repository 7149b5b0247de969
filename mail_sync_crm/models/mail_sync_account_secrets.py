# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Mailbox passwords: write-only for every role, stored encrypted."""

from odoo import fields, models
from odoo.exceptions import UserError

from ..lib import crypto, errors, secret_key


class MailSyncAccount(models.Model):
    _inherit = "mail.sync.account"

    imap_password = fields.Char(
        string="IMAP Password",
        compute="_compute_imap_password",
        inverse="_inverse_imap_password",
        help="Stored encrypted; nobody can read it back, administrators included. "
        "With Gmail or Microsoft, use an app password.",
    )
    imap_password_set = fields.Boolean(compute="_compute_password_set")
    imap_secret = fields.Char(groups="mail_sync_crm.group_mail_sync_secret", copy=False)
    smtp_password = fields.Char(
        string="SMTP Password",
        compute="_compute_smtp_password",
        inverse="_inverse_smtp_password",
        help="Stored encrypted; nobody can read it back, administrators included.",
    )
    smtp_password_set = fields.Boolean(compute="_compute_password_set")
    smtp_secret = fields.Char(groups="mail_sync_crm.group_mail_sync_secret", copy=False)

    # ------------------------------------------------------------------
    # Compute / inverse: passwords are write-only
    # ------------------------------------------------------------------
    def _compute_imap_password(self):
        self.imap_password = False

    def _compute_smtp_password(self):
        self.smtp_password = False

    def _inverse_imap_password(self):
        for account in self:
            if account.imap_password:
                account._store_secret("imap_secret", account.imap_password)

    def _inverse_smtp_password(self):
        for account in self:
            if account.smtp_password:
                account._store_secret("smtp_secret", account.smtp_password)

    def _compute_password_set(self):
        for account, sudo in zip(self, self.sudo(), strict=True):
            account.imap_password_set = bool(sudo.imap_secret)
            account.smtp_password_set = bool(sudo.smtp_secret)

    # ------------------------------------------------------------------
    # Encryption (the key: mail_sync_account_key.py)
    # ------------------------------------------------------------------
    def _store_secret(self, field, plaintext):
        self.ensure_one()
        try:
            key = self._secret_key_for_storing()
        except errors.MailSyncError as err:
            message, hint = self._describe(err)
            raise UserError(
                self.env._(
                    "%(message)s\n\nHow to fix it: %(hint)s", message=message, hint=hint
                )
            ) from err
        self.sudo().write({field: crypto.encrypt(key, plaintext)})

    def _read_secret(self, field, side=None):
        """The stored secret in clear ("" when none). Raises a classified
        MailSyncError (``secret_key_unavailable`` / ``secret_key_mismatch``)
        when it cannot be decrypted: a key problem, never a wrong password."""
        self.ensure_one()
        token = self.sudo()[field]
        if not token:
            return ""
        key = self._secret_key()
        try:
            return crypto.decrypt(key, token)
        except crypto.SecretKeyError as exc:
            raise errors.MailSyncError(
                "secret_key_mismatch",
                f"the stored {field} of mailbox {self.id} was not made with the key "
                f"in use (fingerprint {secret_key.fingerprint(key)})",
                side=side,
            ) from exc
