# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Mailbox passwords: write-only for every role, stored encrypted."""

from odoo import fields, models
from odoo.exceptions import UserError

from ..lib import errors
from ..lib.secrets import crypto, secret_key


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
        # sudo: read-only: whether each secret is set (a bool leaves, never the secret).
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
        # sudo: the password the owner typed (the inverse of
        # imap_password/smtp_password, fields that create() and write() allow the owner
        # only), stored encrypted in the secret field the inverse names.
        self.sudo().write({field: crypto.encrypt(key, plaintext)})

    def _read_secret(self, field, side=None):
        """The stored secret in clear ("" when none). Raises a classified
        MailSyncError (``secret_key_unavailable`` / ``secret_key_mismatch``)
        when it cannot be decrypted: a key problem, never a wrong password."""
        self.ensure_one()
        # sudo: read-only: this mailbox's stored secret, decrypted for its own IMAP and
        # SMTP sessions (_password); never returned to a client.
        token = self.sudo()[field]
        if not token:
            return ""
        return self._decrypt(self._secret_key(), token, f"the stored {field}", side)

    def _decrypt(self, key, token, what, side=None):
        """``token`` decrypted with ``key``; ``secret_key_mismatch`` naming
        ``what`` when the key is not the one it was made with."""
        try:
            return crypto.decrypt(key, token)
        except crypto.SecretKeyError as exc:
            raise errors.MailSyncError(
                "secret_key_mismatch",
                f"{what} of mailbox {self.id}: made with another key than the one "
                f"in use (fingerprint {secret_key.fingerprint(key)})",
                side=side,
            ) from exc

    # ------------------------------------------------------------------
    # A password goes only where it was entered for
    # ------------------------------------------------------------------
    def _secret_destinations(self):
        """For each secret, where it is sent: (protocol, host, port, encryption,
        login) of each server it logs in to."""
        self.ensure_one()
        imap = (
            "imap",
            (self.imap_host or "").strip().lower(),
            self.imap_port,
            self.imap_encryption,
            (self.imap_login or self.email or "").strip(),
        )
        smtp = (
            "smtp",
            (self.smtp_host or "").strip().lower(),
            self.smtp_port,
            self.smtp_encryption,
            self._mail_sync_smtp_login(),
        )
        if self.smtp_same_credentials:
            return {"imap_secret": {imap, smtp}, "smtp_secret": set()}
        return {"imap_secret": {imap}, "smtp_secret": {smtp}}

    def _erase_moved_secrets(self, before, vals):
        """Erase each stored secret that would now go to a server, port,
        encryption or login it was not entered for (``before``: the
        destinations before writing ``vals``), unless ``vals`` enters it anew."""
        typed = {
            secret
            for password, secret in (
                ("imap_password", "imap_secret"),
                ("smtp_password", "smtp_secret"),
            )
            if vals.get(password)
        }
        for account in self:
            after = account._secret_destinations()
            erase = {
                field: False
                for field, destinations in after.items()
                if field not in typed and destinations - before[account.id][field]
            }
            # sudo: erasing (False) the secrets whose destination this write moved
            # (write() allowed it to the caller); nothing of vals is stored.
            if erase and any(account.sudo()[field] for field in erase):
                account.sudo().write(erase)
