# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import _, api, fields, models
from odoo.exceptions import AccessError


class MailSyncFolder(models.Model):
    """A synced IMAP folder and its checkpoint: UIDVALIDITY and the last UID
    seen. The sync only ever asks the server for UIDs above the checkpoint."""

    _name = "mail.sync.folder"
    _description = "Mailbox Folder"
    _order = "account_id, direction, id"

    account_id = fields.Many2one(
        "mail.sync.account", required=True, index=True, ondelete="cascade"
    )
    name = fields.Char(string="IMAP Folder", required=True)
    direction = fields.Selection(
        [("in", "Received (Inbox)"), ("out", "Sent")], required=True
    )
    uidvalidity = fields.Integer(string="UIDVALIDITY", readonly=True)
    last_uid = fields.Integer(string="Last UID Seen", readonly=True)
    historical_done = fields.Boolean(
        readonly=True, help="The first full scan of this folder is finished."
    )
    scanned = fields.Integer(readonly=True, help="Messages scanned in this run.")
    total = fields.Integer(readonly=True, help="Messages to scan in this run.")

    _sql_constraints = [
        (
            "folder_uniq",
            "UNIQUE(account_id, name)",
            "A folder is synced once per mailbox.",
        ),
    ]

    # Folders and their checkpoints are the sync's own: only the addon's code,
    # as superuser, creates, changes or removes them (readonly=True is a UI hint).
    @api.model_create_multi
    def create(self, vals_list):
        self._check_addon_only()
        return super().create(vals_list)

    def write(self, vals):
        self._check_addon_only()
        return super().write(vals)

    def unlink(self):
        self._check_addon_only()
        return super().unlink()

    @api.model
    def _ensure_for(self, account):
        """Track the Inbox and Sent folders of ``account`` found at connect."""
        account.ensure_one()
        # sudo: the folders of a mailbox just enabled (connected by its owner, or
        # promoted by the addon): the names its own IMAP server gave at Connect,
        # direction constants; Odoo's sudo() drops a client context's default_* keys.
        Folder = self.sudo()
        for name, direction in (
            (account.inbox_folder, "in"),
            (account.sent_folder, "out"),
        ):
            if name and not account.folder_ids.filtered(lambda f, n=name: f.name == n):
                Folder.create(
                    {"account_id": account.id, "name": name, "direction": direction}
                )

    def _check_addon_only(self):
        # sudo: a guard: no client creates, changes or removes a folder (a client's
        # call runs as its user, never with env.su); the addon's own superuser code
        # does (_ensure_for, the turn's checkpoints, disconnect).
        if not self.env.su:
            raise AccessError(
                _("Only Mail Sync itself changes the synced folders of a mailbox.")
            )
