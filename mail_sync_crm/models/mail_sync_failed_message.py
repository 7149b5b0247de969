# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models


class MailSyncFailedMessage(models.Model):
    """A held message: one the mail server could not deliver (``lib/sync/held.py``):
    the sync moved past it and tries it again on the next runs, counting the
    failed attempts, then skips it with a log entry whose Retry button puts it
    back in line. Written by the sync only (sudo)."""

    _name = "mail.sync.failed.message"
    _inherit = ["mail.sync.mailbox.mixin"]
    _description = "Held Message"
    _order = "id desc"
    _rec_name = "subject"

    folder_id = fields.Many2one(
        "mail.sync.folder", required=True, ondelete="cascade", readonly=True
    )
    folder = fields.Char(related="folder_id.name", string="IMAP Folder")
    uidvalidity = fields.Integer(string="UIDVALIDITY", readonly=True)
    uid = fields.Integer(string="UID", readonly=True)
    attempts = fields.Integer(string="Failed Attempts", readonly=True)
    state = fields.Selection(
        [("retry", "Tried Again on the Next Sync"), ("skipped", "Skipped")],
        required=True,
        default="retry",
        readonly=True,
    )
    date = fields.Datetime(readonly=True)
    sender = fields.Char(readonly=True)
    subject = fields.Char(readonly=True)
    detail = fields.Text(
        string="Technical Detail", readonly=True, help="What the server answered."
    )

    _sql_constraints = [
        (
            "uid_uniq",
            "UNIQUE(folder_id, uidvalidity, uid)",
            "A message is held back once per folder.",
        ),
    ]

    def _summary(self):
        """Folder, UID, date, sender and subject, for the log entry."""
        self.ensure_one()
        return self.env._(
            "%(folder)s, UID %(uid)s, dated %(date)s, from %(sender)s: %(subject)s",
            folder=self.folder,
            uid=self.uid,
            date=fields.Datetime.to_string(self.date) if self.date else "-",
            sender=self.sender or "-",
            subject=self.subject or "-",
        )
