# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models
from odoo.tools import SQL

from ..lib.sync import skip_reasons


class MailSyncSkipCount(models.Model):
    """How many messages a mailbox's folder skipped, by reason
    (``lib/sync/skip_reasons.py``): the messages scanned and deliberately not
    recorded. Added to by the sync in SQL with each checkpoint (``_add``), so
    each message is counted once; a folder scanned anew (UIDVALIDITY changed,
    mailbox reconnected) starts from zero. Nobody else writes them."""

    _name = "mail.sync.skip.count"
    _inherit = ["mail.sync.mailbox.mixin"]
    _description = "Skipped Messages of a Mailbox"
    _order = "account_id, folder_id, count desc, reason"
    _rec_name = "reason"

    folder_id = fields.Many2one(
        "mail.sync.folder",
        required=True,
        index=True,
        ondelete="cascade",
        readonly=True,
    )
    reason = fields.Selection(
        list(skip_reasons.LABELS.items()), required=True, readonly=True
    )
    count = fields.Integer(string="Messages", readonly=True)

    _sql_constraints = [
        (
            "reason_uniq",
            "UNIQUE(folder_id, reason)",
            "A folder counts each skip reason once.",
        ),
    ]

    def _add(self, folder, counts):
        """Add ``counts`` ({reason: number}) to ``folder``'s (a mail.sync.folder)
        counts, in one upsert: concurrent turns of one mailbox are kept apart
        by its lock, and two adding at once would still both count."""
        counts = {
            reason: number
            for reason, number in counts.items()
            if number and reason in skip_reasons.LABELS
        }
        if not counts:
            return
        account = folder.account_id
        self.env.cr.execute(
            SQL(
                """
            INSERT INTO mail_sync_skip_count AS c (
                account_id, user_id, company_id, folder_id, reason, count,
                create_uid, create_date, write_uid, write_date)
            SELECT %(account)s, %(user)s, %(company)s, %(folder)s, v.reason,
                   v.count, %(uid)s, %(now)s, %(uid)s, %(now)s
              FROM unnest(%(reasons)s::varchar[], %(counts)s::int[])
                   AS v(reason, count)
            ON CONFLICT (folder_id, reason) DO UPDATE
               SET count = c.count + EXCLUDED.count,
                   write_uid = EXCLUDED.write_uid,
                   write_date = EXCLUDED.write_date
                """,
                account=account.id,
                user=account.user_id.id or None,
                company=account.company_id.id or None,
                folder=folder.id,
                reasons=list(counts),
                counts=list(counts.values()),
                uid=self.env.uid,
                now=fields.Datetime.now(),
            )
        )
        self.invalidate_model(["count"])

    def _reset(self, folder):
        """Forget ``folder``'s counts: it is scanned again from its first
        message (its UIDs were renumbered)."""
        self.env.cr.execute(
            "DELETE FROM mail_sync_skip_count WHERE folder_id = %s", [folder.id]
        )
        self.invalidate_model()
