# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models

from ..lib import addresses


class ResCompany(models.Model):
    _inherit = "res.company"

    mail_sync_user_limit = fields.Integer(
        string="Synced Mailboxes Limit",
        default=0,
        help="Maximum number of mailboxes this company syncs (Enabled + Error). "
        "0 means unlimited. A mailbox connected beyond the limit waits as Pending "
        "until the limit is raised or someone disconnects; lowering the limit "
        "below the mailboxes in use moves the most recently connected ones to "
        "Pending.",
    )
    mail_sync_block_own_domain = fields.Boolean(
        string="Block Own Domain",
        default=True,
        help="Never record mail exchanged with addresses of the company's own email "
        "domain (colleagues, internal mail).",
    )
    mail_sync_daily_cap = fields.Integer(
        string="Daily Synced Emails Cap",
        default=0,
        help="Maximum number of emails recorded per mailbox per day; the rest wait "
        "for the next day. 0 means unlimited.",
    )
    mail_sync_attachment_cap = fields.Integer(
        string="Synced Attachments Cap (MB)",
        default=10,
        help="Attachments kept per synced email; beyond it the chatter message "
        "says which attachments were left out.",
    )
    mail_sync_billable_count = fields.Integer(
        string="Billable Mailboxes",
        compute="_compute_mail_sync_billable_count",
        help="Mailboxes counted against the limit: Enabled and Error.",
    )

    _sql_constraints = [
        (
            "mail_sync_user_limit_positive",
            "CHECK(mail_sync_user_limit >= 0)",
            "The synced mailboxes limit cannot be negative.",
        ),
        (
            "mail_sync_daily_cap_positive",
            "CHECK(mail_sync_daily_cap >= 0)",
            "The daily synced emails cap cannot be negative.",
        ),
    ]

    @property
    def mail_sync_attachment_cap_bytes(self):
        return max(0, self.mail_sync_attachment_cap) * 1024 * 1024

    def _compute_mail_sync_billable_count(self):
        counts = dict(
            self.env["mail.sync.account"]
            .sudo()
            ._read_group(
                [("company_id", "in", self.ids), ("state", "in", ("enabled", "error"))],
                ["company_id"],
                ["__count"],
            )
        )
        for company in self:
            company.mail_sync_billable_count = counts.get(company, 0)

    def _mail_sync_own_domains(self):
        """The company's own email domains, blocked when the setting is on."""
        self.ensure_one()
        if not self.mail_sync_block_own_domain:
            return set()
        domains = {addresses.domain_of(self.email or "")}
        if "alias_domain_id" in self._fields and self.alias_domain_id:
            domains.add(self.alias_domain_id.name.lower())
        return {d for d in domains if d}

    def write(self, vals):
        res = super().write(vals)
        if "mail_sync_user_limit" in vals:
            accounts = self.env["mail.sync.account"].sudo()
            accounts._demote_over_limit(self)
            accounts._promote_pending(self)
        return res

    def _mail_sync_has_room(self, exclude=None):
        """Whether this company may enable one more mailbox (locks the company row
        so that two simultaneous connects cannot both take the last place)."""
        self.ensure_one()
        if not self.mail_sync_user_limit:
            return True
        self.env.cr.execute(
            "SELECT id FROM res_company WHERE id = %s FOR NO KEY UPDATE", [self.id]
        )
        domain = [("company_id", "=", self.id), ("state", "in", ("enabled", "error"))]
        if exclude:
            domain.append(("id", "not in", exclude.ids))
        used = self.env["mail.sync.account"].sudo().search_count(domain)
        return used < self.mail_sync_user_limit
