# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models


class MailSyncDisableWizard(models.TransientModel):
    _name = "mail.sync.disable.wizard"
    _description = "Disconnect a Synced Mailbox"

    account_id = fields.Many2one("mail.sync.account", required=True, readonly=True)
    history = fields.Selection(
        [
            ("keep", "Keep the synced communication"),
            ("remove", "Remove all previously synced communication"),
        ],
        required=True,
        default="keep",
        help="Remove: every email this mailbox recorded disappears from leads and "
        "opportunities (unless another connected mailbox recorded it too).",
    )

    def action_confirm(self):
        self.ensure_one()
        self.account_id.action_disable(keep_history=self.history == "keep")
        return {"type": "ir.actions.client", "tag": "soft_reload"}
