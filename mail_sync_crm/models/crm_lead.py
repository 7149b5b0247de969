# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models
from odoo.tools.sql import create_index

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

    def action_view_synced_emails(self):
        self.ensure_one()
        return self.env["mail.sync.message"]._action_list([("lead_id", "=", self.id)])
