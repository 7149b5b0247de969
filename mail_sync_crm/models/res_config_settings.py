# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models


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
