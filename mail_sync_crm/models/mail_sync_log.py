# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from datetime import timedelta

from odoo import api, fields, models

LOG_RETENTION = timedelta(days=30)


class MailSyncLog(models.Model):
    _name = "mail.sync.log"
    _description = "Mail Sync Error Log"
    _order = "create_date desc, id desc"
    _rec_name = "message"

    account_id = fields.Many2one(
        "mail.sync.account",
        string="Mailbox",
        required=True,
        index=True,
        ondelete="cascade",
        readonly=True,
    )
    user_id = fields.Many2one(
        related="account_id.user_id", store=True, index=True, string="Owner"
    )
    company_id = fields.Many2one(
        related="account_id.company_id", store=True, index=True
    )
    code = fields.Char(required=True, readonly=True, index=True)
    side = fields.Selection(
        [("imap", "IMAP (receiving)"), ("smtp", "SMTP (sending)")], readonly=True
    )
    message = fields.Char(string="What Happened", required=True, readonly=True)
    hint = fields.Text(string="How to Fix It", readonly=True)
    detail = fields.Text(
        string="Technical Detail",
        readonly=True,
        help="The server's own words; passwords never appear here.",
    )

    @api.autovacuum
    def _gc_old_entries(self):
        """Entries older than 30 days go."""
        limit = fields.Datetime.now() - LOG_RETENTION
        self.sudo().search([("create_date", "<", limit)]).unlink()
