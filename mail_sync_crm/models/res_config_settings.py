# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    mail_sync_user_limit = fields.Integer(
        related="company_id.mail_sync_user_limit", readonly=False
    )
    mail_sync_block_own_domain = fields.Boolean(
        related="company_id.mail_sync_block_own_domain", readonly=False
    )
    mail_sync_daily_cap = fields.Integer(
        related="company_id.mail_sync_daily_cap", readonly=False
    )
    mail_sync_attachment_cap = fields.Integer(
        related="company_id.mail_sync_attachment_cap", readonly=False
    )
    mail_sync_billable_count = fields.Integer(
        related="company_id.mail_sync_billable_count"
    )

    # OAuth: Odoo's own client credentials (the same fields as the google_gmail
    # and microsoft_outlook modules declare, so either can be installed beside).
    google_gmail_client_identifier = fields.Char(
        "Gmail Client Id", config_parameter="google_gmail_client_id"
    )
    google_gmail_client_secret = fields.Char(
        "Gmail Client Secret", config_parameter="google_gmail_client_secret"
    )
    microsoft_outlook_client_identifier = fields.Char(
        "Outlook Client Id", config_parameter="microsoft_outlook_client_id"
    )
    microsoft_outlook_client_secret = fields.Char(
        "Outlook Client Secret", config_parameter="microsoft_outlook_client_secret"
    )
    mail_sync_oauth_redirect_uri = fields.Char(
        string="Redirect URI", compute="_compute_mail_sync_oauth"
    )
    mail_sync_google_ready = fields.Boolean(compute="_compute_mail_sync_oauth")
    mail_sync_microsoft_ready = fields.Boolean(compute="_compute_mail_sync_oauth")

    @api.depends(
        "google_gmail_client_identifier",
        "google_gmail_client_secret",
        "microsoft_outlook_client_identifier",
        "microsoft_outlook_client_secret",
    )
    def _compute_mail_sync_oauth(self):
        uri = self.env["mail.sync.account"]._oauth_redirect_uri()
        for settings in self:
            settings.mail_sync_oauth_redirect_uri = uri
            settings.mail_sync_google_ready = bool(
                (settings.google_gmail_client_identifier or "").strip()
                and (settings.google_gmail_client_secret or "").strip()
            )
            settings.mail_sync_microsoft_ready = bool(
                (settings.microsoft_outlook_client_identifier or "").strip()
                and (settings.microsoft_outlook_client_secret or "").strip()
            )

    @api.onchange("mail_sync_user_limit")
    def _onchange_mail_sync_user_limit(self):
        """Say, before saving, which mailboxes a lower limit moves to Pending."""
        company = self.company_id
        surplus = self.env["mail.sync.account"]._over_limit(
            company, self.mail_sync_user_limit
        )
        if not surplus:
            return None
        return {
            "warning": {
                "title": self.env._("Mailboxes over the limit"),
                "message": self.env._(
                    "%(company)s syncs %(used)s mailboxes. With a limit of "
                    "%(limit)s, the %(count)s most recently connected stop "
                    "syncing when you save and wait as Pending: %(names)s. Their "
                    "owners are told; they start again on their own when the "
                    "limit is raised or someone disconnects.",
                    company=company.name,
                    used=company.mail_sync_billable_count,
                    limit=self.mail_sync_user_limit,
                    count=len(surplus),
                    names=", ".join(surplus.mapped("display_name")),
                ),
            }
        }
