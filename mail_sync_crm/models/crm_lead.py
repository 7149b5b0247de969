# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models
from odoo.tools import email_normalize
from odoo.tools.sql import create_index

from ..superuser import addon_sudo, superuser_context

# Exact-address lookups of a sync run (CRM's own index on the column is a
# trigram one, of no use for equality); dropped by the uninstall hook.
LEAD_EMAIL_INDEX = "mail_sync_crm_lead_email_normalized_index"


class CrmLead(models.Model):
    _inherit = "crm.lead"

    def init(self):
        result = super().init()
        create_index(self.env.cr, LEAD_EMAIL_INDEX, self._table, ["email_normalized"])
        return result

    mail_sync_message_ids = fields.One2many("mail.sync.message", "lead_id")
    mail_sync_count = fields.Integer(
        string="Synced Emails", compute="_compute_mail_sync_stats"
    )
    mail_sync_first_user_id = fields.Many2one(
        "res.users",
        string="First Contact By",
        compute="_compute_mail_sync_stats",
        help="Whose mailbox holds the earliest email exchanged with this lead: who "
        "first owned the conversation.",
    )

    def _compute_mail_sync_stats(self):
        self.mail_sync_count = 0
        self.mail_sync_first_user_id = False
        if not self.ids:
            return
        self.env["mail.sync.message"].flush_model()
        self.env.cr.execute(
            """
            SELECT lead_id,
                   COUNT(DISTINCT message_id),
                   (ARRAY_AGG(user_id ORDER BY date, id))[1]
              FROM mail_sync_message
             WHERE lead_id = ANY(%s)
             GROUP BY lead_id
            """,
            [list(self.ids)],
        )
        stats = {lead: (count, user) for lead, count, user in self.env.cr.fetchall()}
        for lead in self:
            count, user = stats.get(lead.id, (0, False))
            lead.mail_sync_count = count
            lead.mail_sync_first_user_id = user

    def _mail_sync_recipient_partners(self, emails):
        """The contacts for ``emails`` that this lead itself suggests as
        recipients (its customer's address), found or created for a salesperson
        who may write the lead but not create contacts: Odoo's chatter would
        otherwise drop those addresses and post to nobody. Other addresses are
        left to Odoo's own rule (contact creators only).

        A new contact is made of the lead's own data only (Odoo's suggestion:
        ``create_values`` of ``_message_get_suggested_recipients``); no value a
        client sends is used, so nothing it chooses reaches the superuser
        ``create`` below: not the request's values, not its context (Odoo's
        suggestion reads the contact's salesperson from ``default_user_id``
        there)."""
        self.ensure_one()
        self.check_access("write")
        lead = self.with_env(self.env(context=superuser_context(self.env.context)))
        suggested = {}
        for recipient in lead._message_get_suggested_recipients():
            email = email_normalize(recipient.get("email") or "")
            if email and not recipient.get("partner_id"):
                suggested[email] = recipient.get("create_values") or {}
        wanted = [email for email in emails if email_normalize(email) in suggested]
        if not wanted:
            return self.env["res.partner"]
        values = {email: _scalar_values(vals) for email, vals in suggested.items()}
        # sudo: creating the lead's own contact, the one recipient the chatter
        # suggests on a lead the user may write; addresses are filtered to that
        # suggestion, the values are Odoo's own, computed here from the lead
        # (scalars only), and the caller's context stays out (addon_sudo).
        partners = addon_sudo(self.env["res.partner"])._find_or_create_from_emails(
            wanted, values
        )
        return self.env["res.partner"].browse([p.id for p in partners if p])


def _scalar_values(values):
    """Odoo's suggested contact values without relational commands: a lead's
    data gives plain values and record ids, never x2many commands (kept out
    even if another module's suggestion added some)."""
    return {
        name: value
        for name, value in values.items()
        if not isinstance(value, (list, tuple, dict))
    }
