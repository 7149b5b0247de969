# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models

from ..lib.message import addresses
from ..lib.sync import skip_reasons
from ..superuser import addon_sudo
from .mail_sync_account import VISIBILITY_LEVELS

# The company settings whose change moves content in or out of the vault.
VISIBILITY_FIELDS = ("mail_sync_visibility", "mail_sync_visibility_floor")


class ResCompany(models.Model):
    _inherit = "res.company"

    mail_sync_user_limit = fields.Integer(
        string="Mailbox Limit",
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
    mail_sync_skip_mailing_lists = fields.Boolean(
        string="Leave Out Mailing Lists",
        default=True,
        help="Do not record mailing-list mail and newsletters (a List-Id header, or "
        "List-Unsubscribe with Precedence bulk, list or junk). A message addressed "
        "to the lead itself (its address in To or Cc) is still recorded.",
    )
    mail_sync_skip_automated = fields.Boolean(
        string="Leave Out Automated Mail",
        default=True,
        help="Do not record mail that says it was sent automatically (an "
        "Auto-Submitted header other than 'no'): out-of-office and other automatic "
        "replies, notifications.",
    )
    mail_sync_skip_role_senders = fields.Boolean(
        string="Leave Out No-Reply Senders",
        default=True,
        help="Do not record mail from role addresses rather than people: no-reply, "
        "do-not-reply, mailer-daemon, postmaster, notifications, bounces.",
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
    mail_sync_visibility = fields.Selection(
        VISIBILITY_LEVELS,
        string="Colleagues See (Forced)",
        help="What colleagues see of everyone's synced mail, whatever each owner "
        "chose. Empty: each owner chooses (within the most they may share).",
    )
    mail_sync_visibility_floor = fields.Selection(
        VISIBILITY_LEVELS,
        string="Most an Owner May Share",
        help="Owners choose this level or a more private one. Empty: any level.",
    )
    mail_sync_admins_read_hidden = fields.Boolean(
        string="Administrators Read Hidden Mail",
        help="Administrators read the synced mail hidden from colleagues (by a "
        "mailbox's level or a private thread). Off: they see what colleagues see.",
    )
    mail_sync_retention_months = fields.Integer(
        string="Synced Mail Retention (Months)",
        default=0,
        help="Synced mail older than this is reduced to its participants and date "
        "for everyone, its owner included (daily). 0: kept.",
    )
    mail_sync_past_mail = fields.Selection(
        [("auto", "Automatic"), ("on_request", "On request only"), ("off", "Off")],
        string="Past Emails of New Leads",
        default="auto",
        required=True,
        help="A lead or opportunity created after the mailboxes were connected (or "
        "given a new email address) gets the older mail of that address from the "
        "company's connected mailboxes: Automatic: searched in the background as "
        "soon as it has the address; On request only: when a salesperson presses "
        '"Find past emails" on it; Off: it gets only the mail dated from its '
        "creation on.",
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
            "mail_sync_retention_months_positive",
            "CHECK(mail_sync_retention_months >= 0)",
            "The retention of synced mail cannot be negative.",
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
        # sudo: read-only: counts of these companies' billable mailboxes.
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

    def _mail_sync_noise_rules(self):
        """The noise rules (``lib/sync/noise.py``) the company's settings keep
        on, as skip reasons."""
        self.ensure_one()
        switches = {
            skip_reasons.MAILING_LIST: self.mail_sync_skip_mailing_lists,
            skip_reasons.AUTOMATED: self.mail_sync_skip_automated,
            skip_reasons.ROLE_SENDER: self.mail_sync_skip_role_senders,
        }
        return frozenset(rule for rule, on in switches.items() if on)

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
            # sudo: the limit the caller just wrote (a company write it is allowed)
            # moves mailboxes over it to Pending and frees places for Pending ones
            # of these companies (constants).
            status = self.env["mail.sync.status"].sudo()
            status._demote_over_limit(self)
            status._promote_pending(self)
        if any(name in vals for name in VISIBILITY_FIELDS):
            # sudo: read-only: the mailboxes of the companies the caller just
            # changed (a company write it is allowed), whose levels now apply to
            # the mail they synced; nothing of vals is written there.
            accounts = addon_sudo(self.env["mail.sync.account"]).search(
                [("company_id", "in", self.ids)]
            )
            self.env["mail.sync.content"]._mail_sync_apply_mailboxes(accounts)
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
        # sudo: read-only: a count of the company's billable mailboxes.
        used = self.env["mail.sync.account"].sudo().search_count(domain)
        return used < self.mail_sync_user_limit
