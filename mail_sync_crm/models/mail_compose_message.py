# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models


class MailComposeMessage(models.TransientModel):
    _inherit = "mail.compose.message"

    mail_sync_sending_route = fields.Char(
        string="Sending Route",
        compute="_compute_mail_sync_sending_route",
        help="From which address and through which server this mail leaves "
        "(shown by the Reply of a lead's Emails view, context "
        "``mail_sync_show_route``).",
    )

    @api.depends("email_from", "author_id")
    @api.depends_context("uid", "mail_sync_show_route")
    def _compute_mail_sync_sending_route(self):
        show = self.env.context.get("mail_sync_show_route")
        Servers = self.env["ir.mail_server"]
        for composer in self:
            composer.mail_sync_sending_route = (
                Servers._mail_sync_sending_route(composer.email_from)
                if show and composer.email_from
                else False
            )
