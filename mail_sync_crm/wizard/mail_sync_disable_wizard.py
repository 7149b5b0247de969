# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import _, fields, models


class MailSyncDisableWizard(models.TransientModel):
    _name = "mail.sync.disable.wizard"
    _description = "Disconnect a Mailbox"

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
        """Disconnect, then say what became of the mailbox and its emails."""
        self.ensure_one()
        account = self.account_id
        keep = self.history == "keep"
        account.action_disable(keep_history=keep)
        if account.user_id == self.env.user:
            title = _("Mailbox disconnected")
            what = _("%(email)s no longer syncs.", email=account.email)
        else:
            title = _("%(owner)s's mailbox disconnected", owner=account.user_id.name)
            what = _(
                "%(email)s no longer syncs; %(owner)s can connect it again.",
                email=account.email,
                owner=account.user_id.name,
            )
        if keep:
            history = _("The emails it recorded stay on the leads.")
        else:
            history = _(
                "The emails it recorded were removed from the leads, except those "
                "another connected mailbox has too."
            )
        return account._notification(f"{what} {history}", "success", title=title)
