# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The scheduled sync as jobs: one job per due mailbox, on the channel
``root.mail_sync``, run by whichever Odoo server the job runner sends it to.

The scheduled action no longer syncs: it enqueues. A mailbox whose job still
waits gets no second one (the job's identity key); a job that finds its
mailbox held by another process (a Sync Now, a job started by an earlier run)
or no longer due ends quietly, saying so. The mailbox's advisory lock
(``_claim_and_sync`` in mail_sync_crm) still makes sure one sync of a mailbox
runs at a time, whoever started it.
"""

from odoo import _, api, fields, models
from odoo.tools import config

from odoo.addons.mail_sync_crm.lib import errors
from odoo.addons.mail_sync_crm.lib.sync import process_tuning, scheduling
from odoo.addons.mail_sync_crm.store import claims

# At most one waiting job per mailbox (queue_job skips a job whose key a
# pending or enqueued one has).
JOB_IDENTITY = "mail_sync_crm_queue_job.sync:%s"


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

    @api.model
    def _cron_sync(self):
        """Enqueue one job per due mailbox, in the scheduled sync's order (tried
        longest ago first), instead of syncing them here."""
        now = fields.Datetime.now()
        for account in self._due_mailboxes(now):
            account.with_delay(
                identity_key=JOB_IDENTITY % account.id,
                description=_("Mail Sync: sync %(mailbox)s", mailbox=account.email),
            )._job_sync(now)

    def _job_sync(self, due_before):
        """A job: sync this mailbox, as one turn of the scheduled run that
        enqueued it at ``due_before``. Returns what happened, shown on the job."""
        self.ensure_one()
        # sudo: a job (a private method queue_job runs, enqueued by the scheduled sync):
        # the mailbox that run chose, synced as its turn; the context is the job's own
        # and a turn cap computed here.
        account = self.sudo().with_context(mail_sync_turn_cap=_job_turn_cap())
        outcome = account._claim_and_sync(
            due_before=due_before, long_run=process_tuning.long_run
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
