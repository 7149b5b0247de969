# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models


class ResUsers(models.Model):
    _inherit = "res.users"

    mail_sync_account_ids = fields.One2many("mail.sync.account", "user_id")
    mail_sync_state = fields.Selection(
        related="mail_sync_account_ids.state", string="Mail Sync Status"
    )

    @property
    def SELF_READABLE_FIELDS(self):
        return super().SELF_READABLE_FIELDS + ["mail_sync_state"]

    def action_open_my_mail_sync(self):
        return self.env["mail.sync.account"].action_open_my_account()

    @api.model
    def _mail_sync_top_bar_state(self):
        """What the top bar tells the current user about their mailbox: "none"
        (no mailbox, or not connected), "pending", "error", "connection", or
        "enabled" (syncing: nothing to say)."""
        account = self.env["mail.sync.account"].search(
            [("user_id", "=", self.env.uid)], limit=1
        )
        if not account or account.state == "draft":
            return "none"
        return account.state

    @api.model
    def _mail_sync_configured(self):
        """Whether the current user has a mailbox that syncs (Enabled or Error)."""
        return bool(
            self.env["mail.sync.account"].search_count(
                [("user_id", "=", self.env.uid), ("state", "in", ("enabled", "error"))],
                limit=1,
            )
        )
