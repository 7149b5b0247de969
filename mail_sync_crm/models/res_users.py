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
        """What the top bar tells the current user about their mailbox (see
        :meth:`_mail_sync_top_bar_state_of`)."""
        return self._mail_sync_top_bar_state_of(self.env.user)

    @api.model
    def _mail_sync_top_bar_state_of(self, user):
        """What the top bar tells ``user`` about their mailbox: "pending",
        "error" or "connection" for a mailbox they connected; "none" (the
        "Your Mail Sync is not configured" nudge) for a salesperson without a
        connected mailbox; "enabled" (syncing: nothing to say) otherwise.

        The nudge goes to those whose mail Mail Sync is for: users with CRM
        access (Sales: User: Own Documents Only or more) who are not Settings
        administrators. An administrator sets Mail Sync up for the others and
        connects a mailbox of their own only if they want one (My Mail Sync);
        a user without CRM access has no leads to sync mail with."""
        # sudo: the status of the user's own mailbox, read for the top bar of
        # that user (the bus notification is sent by whoever changed it).
        account = (
            self.env["mail.sync.account"]
            .sudo()
            .search([("user_id", "=", user.id)], limit=1)
        )
        if account and account.state != "draft":
            return account.state
        if user.has_group("sales_team.group_sale_salesman") and not user.has_group(
            "base.group_system"
        ):
            return "none"
        return "enabled"

    def _mail_sync_notify_top_bar(self):
        """Tell each of these users' open pages their top-bar state (the
        badge of ``static/src/systray`` changes without a reload)."""
        for user in self:
            self.env["bus.bus"]._sendone(
                user.partner_id,
                "mail_sync_crm/top_bar",
                {"state": self._mail_sync_top_bar_state_of(user)},
            )

    @api.model
    def _mail_sync_configured(self):
        """Whether the current user has a mailbox that syncs (Enabled or Error)."""
        return bool(
            self.env["mail.sync.account"].search_count(
                [("user_id", "=", self.env.uid), ("state", "in", ("enabled", "error"))],
                limit=1,
            )
        )
