# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Smart Mail: mail sent from Odoo leaves through the owner's own SMTP server,
within the provider's limits (personal ir.mail_server, governor and usage:
ir_mail_server.py, mail_mail.py, mail_sync_send_event.py,
mail_sync_quota_override.py)."""

from odoo import api, fields, models


class MailSyncAccount(models.Model):
    _inherit = "mail.sync.account"

    quota_profile = fields.Selection(
        selection="_selection_quota_profile",
        string="Sending Limits",
        compute="_compute_quota_profile",
        store=True,
        readonly=False,
        help="The provider's sending limits that apply to this mailbox (chosen from "
        "the provider and the address; an administrator may lower or raise them "
        "per company). Mail over a limit waits until it resets; it is never lost.",
    )
    smart_mail_usage = fields.Char(
        string="Sent Today", compute="_compute_smart_mail_usage"
    )
    smart_mail_limits = fields.Char(
        string="Limits", compute="_compute_smart_mail_usage"
    )

    def _selection_quota_profile(self):
        return self.env["mail.sync.quota.override"]._profile_selection()

    @api.depends("provider", "email")
    def _compute_quota_profile(self):
        overrides = self.env["mail.sync.quota.override"]
        for account in self:
            account.quota_profile = overrides._default_profile_key(
                account.provider, account.email
            )

    def _compute_smart_mail_usage(self):
        events = self.env["mail.sync.send.event"]
        for account in self:
            usage, limits = events._usage_display(account)
            account.smart_mail_usage = usage
            account.smart_mail_limits = limits

    def _mail_sync_quota_profile(self):
        """The limits (``lib.quota.QuotaProfile``) this mailbox sends within."""
        self.ensure_one()
        return self.env["mail.sync.quota.override"]._profile_for(self)

    def _mail_sync_smtp_login(self):
        self.ensure_one()
        if self.smtp_same_credentials:
            return (self.imap_login or self.email or "").strip()
        return (self.smtp_login or "").strip()
