# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models


class MailSyncEraseWizard(models.TransientModel):
    _name = "mail.sync.erase.wizard"
    _description = "Erase Everything Synced About an Address"

    email = fields.Char(
        string="Address",
        required=True,
        help="The person's email address. Every synced email naming it, on every "
        "lead and in every mailbox, is removed with its attachments, and the "
        "address is blocklisted so that it is never recorded again.",
    )

    def action_erase(self):
        self.ensure_one()
        erasure = self.env["mail.sync.erasure"]._erase(self.email)
        return {
            "type": "ir.actions.act_window",
            "res_model": "mail.sync.erasure",
            "res_id": erasure.id,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "current",
        }
