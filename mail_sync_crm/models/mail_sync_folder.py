# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import _, api, fields, models
from odoo.exceptions import AccessError

from ..lib.sync import completeness, skip_reasons


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
    scanned = fields.Integer(
        string="Scanned in This Run",
        readonly=True,
        help="Messages scanned in this run.",
    )
    total = fields.Integer(
        string="To Scan in This Run",
        readonly=True,
        help="Messages to scan in this run.",
    )
    # Completeness (mail.sync.completeness; lib/sync/completeness.py): written by
    # each turn and by the reconciliation, from what the server answered.
    server_count = fields.Integer(
        string="On the Server",
        readonly=True,
        help="Messages in this folder on the mail server (EXISTS), when it was "
        "last counted.",
    )
    unscanned_count = fields.Integer(
        string="Not Yet Scanned",
        readonly=True,
        help="Messages on the server above the checkpoint: the sync has not "
        "looked at them yet.",
    )
    server_checked_date = fields.Datetime(
        string="Counted", readonly=True, help="When the server was last counted."
    )
    caught_up_date = fields.Datetime(
        string="Caught Up",
        readonly=True,
        help="When the folder was last seen with nothing left to scan.",
    )
    waiting_since = fields.Datetime(
        readonly=True,
        help="Since when the oldest message not yet scanned has waited (its "
        "arrival on the server, not before the folder was last caught up).",
    )
    scanned_count = fields.Integer(
        string="Scanned",
        compute="_compute_completeness",
        help="Messages on the server at or below the checkpoint.",
    )
    recorded_count = fields.Integer(
        string="Recorded",
        compute="_compute_completeness",
        help="Messages of this folder recorded on leads (the ledger).",
    )
    held_count = fields.Integer(
        string="Held",
        compute="_compute_completeness",
        help="Messages the server could not deliver yet, tried again at the next "
        "syncs.",
    )
    skipped_count = fields.Integer(
        string="Skipped",
        compute="_compute_completeness",
        help="Messages scanned and deliberately not recorded.",
    )
    skipped_reasons = fields.Char(
        string="Skipped Because", compute="_compute_completeness"
    )
    completeness = fields.Float(
        string="Complete (%)",
        digits=(5, 1),
        compute="_compute_completeness",
        help="Scanned out of on the server.",
    )
    lag_seconds = fields.Integer(compute="_compute_completeness")
    lag_display = fields.Char(
        string="Lag",
        compute="_compute_completeness",
        help="How long the oldest message not yet scanned has waited.",
    )

    _sql_constraints = [
        (
            "folder_uniq",
            "UNIQUE(account_id, name)",
            "A folder is synced once per mailbox.",
        ),
    ]

    def _compute_completeness(self):
        held = self._held_counts()
        recorded = self._recorded_counts()
        skips = self._skip_counts()
        now = fields.Datetime.now()
        labels = skip_reasons.LABELS
        for folder in self:
            figures = completeness.FolderFigures(
                on_server=folder.server_count,
                unscanned=folder.unscanned_count,
                recorded=recorded.get(folder.id, 0),
                held=held.get(folder.id, 0),
                skipped=sum(skips[folder.id].values()) if folder.id in skips else None,
            )
            folder.scanned_count = figures.scanned
            folder.recorded_count = figures.recorded
            folder.held_count = figures.held
            folder.skipped_count = figures.skipped_count
            folder.completeness = figures.percent
            folder.lag_seconds = completeness.lag_seconds(folder.waiting_since, now)
            folder.lag_display = self._duration(folder.lag_seconds)
            if folder.id in skips:
                by_reason = skips[folder.id]
            else:
                by_reason = {None: figures.skipped_count}
            folder.skipped_reasons = ", ".join(
                f"{folder._reason_label(reason, labels)}: {number}"
                for reason, number in sorted(by_reason.items(), key=lambda i: -i[1])
                if number
            )

    def _reason_label(self, reason, labels):
        if reason in labels:
            return self.env._(labels[reason])  # pylint: disable=translation-required
        return self.env._("No lead, or left out by a rule")

    def _held_counts(self):
        """{folder id: held messages waiting for another try}."""
        if not self.ids:
            return {}
        self.env["mail.sync.failed.message"].flush_model()
        self.env.cr.execute(
            """SELECT folder_id, COUNT(*) FROM mail_sync_failed_message
                WHERE folder_id = ANY(%s) AND state = 'retry' GROUP BY folder_id""",
            [list(self.ids)],
        )
        return dict(self.env.cr.fetchall())

    def _recorded_counts(self):
        """{folder id: messages of it recorded (distinct UIDs in the ledger)}."""
        if not self.ids:
            return {}
        self.env["mail.sync.message"].flush_model()
        self.env.cr.execute(
            """SELECT f.id, COUNT(DISTINCT m.uid)
                 FROM mail_sync_folder f
                 JOIN mail_sync_message m
                   ON m.account_id = f.account_id AND m.folder = f.name
                WHERE f.id = ANY(%s) GROUP BY f.id""",
            [list(self.ids)],
        )
        return dict(self.env.cr.fetchall())

    def _skip_counts(self):
        """{folder id: {skip reason (lib/sync/skip_reasons.py): messages}} for
        the folders whose skips are counted by reason (``mail.sync.skip.count``,
        issue #20, once installed with this code); a folder not here shows as
        skipped what it scanned and neither recorded nor held. The one place
        the Completeness reads the skip counts."""
        if not self.ids or "mail.sync.skip.count" not in self.env:
            return {}
        counts = {}
        # sudo: read-only: the skip counts of folders the user can read (the
        # figures beside them are the same folders').
        for folder, reason, number in (
            self.env["mail.sync.skip.count"]
            .sudo()
            ._read_group(
                [("folder_id", "in", self.ids)],
                ["folder_id", "reason"],
                ["count:sum"],
            )
        ):
            counts.setdefault(folder.id, {})[reason] = number
        return counts

    def _duration(self, seconds):
        """A lag as a person reads it: "-" (none), "45 s", "12 min", "3 h 05",
        "2 days"."""
        if not seconds:
            return "-"
        if seconds < 60:
            return self.env._("%(n)s s", n=seconds)
        if seconds < 3600:
            return self.env._("%(n)s min", n=seconds // 60)
        if seconds < 86400:
            return self.env._(
                "%(h)s h %(m)02d", h=seconds // 3600, m=seconds % 3600 // 60
            )
        return self.env._("%(n)s days", n=seconds // 86400)

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
