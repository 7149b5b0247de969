# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The scheduled sync as jobs: one job per due mailbox, on the channel
``root.mail_sync``, run by whichever Odoo server the job runner sends it to.

The scheduled run no longer gives turns: it enqueues them. A mailbox whose job
still waits gets no second one (the job's identity key); the job itself is the
mailbox's (``mail_sync_account.py``): its turn, claimed through the same lock
as any other (``mail.sync.scheduler._claim_turn`` in mail_sync_crm).
"""

from odoo import _, api, fields, models

# At most one waiting job per mailbox (queue_job skips a job whose key a
# pending or enqueued one has).
JOB_IDENTITY = "mail_sync_crm_queue_job.sync:%s"


class MailSyncScheduler(models.AbstractModel):
    _inherit = "mail.sync.scheduler"

    @api.model
    def _cron_sync(self):
        """Enqueue one job per due mailbox, in the scheduled run's order (tried
        longest ago first), instead of giving their turns here."""
        now = fields.Datetime.now()
        for account in self._due_mailboxes(now):
            account.with_delay(
                identity_key=JOB_IDENTITY % account.id,
                description=_("Mail Sync: sync %(mailbox)s", mailbox=account.email),
            )._job_sync(now)
