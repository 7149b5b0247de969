# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models

from ..lib.sending import quota


def _profile_selection(_model=None):
    return [(key, profile.label) for key, profile in quota.PROFILES.items()]


class MailSyncQuotaOverride(models.Model):
    """A company's own figures for one provider profile (e.g. a Microsoft 365
    tenant whose administrator lowered the recipients per message). Empty
    figures keep the provider's."""

    _name = "mail.sync.quota.override"
    _description = "Mail Sync Sending Limits Override"
    _order = "company_id, profile"
    _rec_name = "profile"

    company_id = fields.Many2one(
        "res.company",
        required=True,
        index=True,
        ondelete="cascade",
        default=lambda self: self.env.company,
    )
    profile = fields.Selection(_profile_selection, required=True)
    recipients_per_email = fields.Integer(
        help="Recipients of one email; more are sent as several emails."
    )
    recipients_per_connection = fields.Integer(
        help="Recipients over one SMTP connection; more open a new connection."
    )
    max_size_mb = fields.Integer(
        string="Max Size per Email (MB)",
        help="A larger mail fails at once: share large files as links.",
    )
    emails_per_day = fields.Integer(
        string="Emails per 24 h", help="Rolling 24 hours; more mail waits."
    )
    recipients_per_day = fields.Integer(
        string="Recipients per 24 h", help="Rolling 24 hours; more mail waits."
    )
    messages_per_minute = fields.Integer(
        string="Emails per Minute", help="More mail waits for the next minute."
    )

    _sql_constraints = [
        (
            "company_profile_uniq",
            "UNIQUE(company_id, profile)",
            "One override per provider profile and company.",
        ),
        (
            "figures_positive",
            (
                "CHECK(recipients_per_email >= 0 AND recipients_per_connection >= 0"
                " AND max_size_mb >= 0 AND emails_per_day >= 0"
                " AND recipients_per_day >= 0 AND messages_per_minute >= 0)"
            ),
            "Limits are positive numbers (0 keeps the provider's figure).",
        ),
    ]

    def _overrides(self):
        """The figures as ``quota.profile_with_overrides`` takes them (0: keep)."""
        self.ensure_one()
        values = {
            name: self[name] or 0
            for name in quota.LIMIT_FIELDS
            if name != "max_size_bytes"
        }
        values["max_size_bytes"] = (self.max_size_mb or 0) * quota.MB
        return values

    @api.model
    def _apply(self, company, profile):
        """``profile`` with ``company``'s override applied, if it has one."""
        # sudo: read-only: the sending limits the mailbox's own company set for its
        # profile.
        override = self.sudo().search(
            [("company_id", "=", company.id), ("profile", "=", profile.key)], limit=1
        )
        if not override:
            return profile
        return quota.profile_with_overrides(profile, override._overrides())

    @api.model
    def _profile_selection(self):
        return _profile_selection()

    @api.model
    def _default_profile_key(self, provider, email):
        return quota.default_profile_for(provider or "custom", email or "")

    @api.model
    def _profile_for(self, account):
        """The limits that apply to ``account``: its profile, with its company's
        override."""
        key = account.quota_profile or self._default_profile_key(
            account.provider, account.email
        )
        profile = quota.PROFILES.get(key) or quota.PROFILES["custom"]
        return self._apply(account.company_id, profile)
