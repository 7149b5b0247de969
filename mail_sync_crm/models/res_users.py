# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models


class ResUsers(models.Model):
    _inherit = "res.users"

    mail_sync_account_ids = fields.One2many("mail.sync.account", "user_id")
    mail_sync_state = fields.Selection(
        selection=lambda self: (
            self.env["mail.sync.account"]
            ._fields["state"]
            ._description_selection(self.env)
        ),
        string="Mail Sync Status",
        compute="_compute_mail_sync_state",
        help="The status of the user's synced mailbox; shown to the users of the "
        "companies the user works in only.",
    )

    @api.depends_context("uid")
    @api.depends("mail_sync_account_ids.state")
    def _compute_mail_sync_state(self):
        """The mailbox's status, for readers who share a company with the user
        (a colleague of another company learns nothing of it)."""
        mine = self.env.user.company_ids
        # sudo: reading the status of mailboxes whose rows the reader may not
        # read (a colleague's); only ``state`` leaves, filtered by company.
        for user in self:
            account = user.sudo().mail_sync_account_ids[:1]
            # sudo: read-only: the user's companies, only to decide whether the state
            # leaves.
            shared = user == self.env.user or user.sudo().company_ids & mine
            user.mail_sync_state = account.state if account and shared else False

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
