# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A job of the scheduled sync (enqueued by ``mail_sync_scheduler.py``): one
mailbox's turn. The job is the mailbox's, so queue_job shows it as the job's
record. A job that finds its mailbox held by another process (a Sync Now, a job
started by an earlier run) or no longer due ends quietly, saying so.
"""

from odoo import _, models
from odoo.tools import config

from odoo.addons.mail_sync_crm.lib import errors
from odoo.addons.mail_sync_crm.lib.sync import process_tuning, scheduling
from odoo.addons.mail_sync_crm.store import claims


def _job_turn_cap():
    """The longest a job's turn may last. A multi-process Odoo server stops a
    request (a job is one) after ``limit_time_real`` seconds; the turn ends
    before, keeping the same share of it as the scheduled sync does of its own
    limit. A threaded server stops no request: no cap (None)."""
    if not config.get("workers"):
        return None
    limit = config.get("limit_time_real") or 0
    return scheduling.RunBudget(0, cron_time_limit=limit).turn_cap()


class MailSyncAccount(models.Model):
    _inherit = "mail.sync.account"

    def _job_sync(self, due_before):
        """A job: sync this mailbox, as one turn of the scheduled run that
        enqueued it at ``due_before``. Returns what happened, shown on the job."""
        self.ensure_one()
        # sudo: a job (a private method queue_job runs, enqueued by the scheduled sync):
        # the mailbox that run chose, given its turn; the context is the job's own,
        # the turn cap computed here.
        account = self.sudo()
        outcome = account.env["mail.sync.scheduler"]._claim_turn(
            account,
            due_before=due_before,
            long_run=process_tuning.long_run,
            turn_cap=_job_turn_cap(),
        )
        return account._job_result(outcome)

    def _job_result(self, outcome):
        if outcome == claims.BUSY:
            return _(
                "Nothing done: another process was syncing this mailbox (a Sync "
                "Now, or the job of an earlier run)."
            )
        if outcome == claims.NOT_DUE:
            return _(
                "Nothing done: the mailbox is no longer due (synced since this "
                "job was queued, waiting after a refused login, or disconnected)."
            )
        if isinstance(outcome, errors.MailSyncError):
            message, _hint = self._describe(outcome)
            return _(
                "The sync failed: %(message)s (the mailbox shows the error and "
                "how to fix it).",
                message=message,
            )
        return _("Synced: %(count)s emails recorded in all.", count=self.synced_count)
