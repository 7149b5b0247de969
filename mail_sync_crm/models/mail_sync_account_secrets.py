# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Mailbox passwords: write-only for every role, stored encrypted."""

import logging

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import config

from ..lib import crypto

_logger = logging.getLogger(__name__)


SECRET_KEY_OPTION = "mail_sync_crm_key"


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
    # Encryption
    # ------------------------------------------------------------------
    @api.model
    def _secret_key(self):
        """The encryption key of mailbox secrets, kept in Odoo's configuration file
        (option ``mail_sync_crm_key``), never in the database. Generated and saved on
        first use when absent."""
        key = config.get(SECRET_KEY_OPTION)
        if not key:
            key = crypto.generate_key()
            config[SECRET_KEY_OPTION] = key
            if config.rcfile:
                config.save([SECRET_KEY_OPTION])
                _logger.info(
                    "mail_sync_crm: generated the mailbox secret key in %s",
                    config.rcfile,
                )
            else:
                _logger.warning(
                    "mail_sync_crm: generated a mailbox secret key but Odoo has no "
                    "configuration file to keep it in; set %s in it",
                    SECRET_KEY_OPTION,
                )
        return key

    def _store_secret(self, field, plaintext):
        self.ensure_one()
        self.sudo().write({field: crypto.encrypt(self._secret_key(), plaintext)})

    def _read_secret(self, field):
        self.ensure_one()
        token = self.sudo()[field]
        if not token:
            return ""
        try:
            return crypto.decrypt(self._secret_key(), token)
        except crypto.SecretKeyError as exc:
            raise UserError(
                _(
                    "The stored password of %(mailbox)s cannot be decrypted: the "
                    "key in Odoo's configuration file (%(option)s) changed. Enter "
                    "the password again and reconnect.",
                    mailbox=self.display_name,
                    option=SECRET_KEY_OPTION,
                )
            ) from exc
