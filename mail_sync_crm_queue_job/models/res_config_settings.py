# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    def action_mail_sync_job_channel(self):
        """Open the job channel of the mailbox syncs, whose Capacity is how many
        mailboxes sync at once."""
        channel = self.env.ref("mail_sync_crm_queue_job.channel_mail_sync")
        return {
            "type": "ir.actions.act_window",
            "res_model": "queue.job.channel",
            "res_id": channel.id,
            "view_mode": "form",
            "target": "current",
        }
