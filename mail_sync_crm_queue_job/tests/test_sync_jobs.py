# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The scheduled sync with queue_job installed: one job per due mailbox on the
channel root.mail_sync, never two waiting for one mailbox, and the job syncs
the mailbox from a real Dovecot (or ends quietly when another process holds
it). The job runner and several servers: ``test_job_runners.py``."""

from datetime import datetime, timedelta

from odoo import fields, sql_db
from odoo.tests import tagged

from odoo.addons.mail_sync_crm.models.advisory_locks import (
    MAILBOX_SYNC as SYNC_LOCK_NAMESPACE,
)
from odoo.addons.mail_sync_crm.tests.schedule_common import (
    ALICE,
    ScheduledSyncCase,
    frozen_at,
)
from odoo.addons.queue_job.controllers.main import RunJobController
from odoo.addons.queue_job.job import Job

from mail_sync_testing import make_message


@tagged("post_install", "-at_install")
class TestSyncJobs(ScheduledSyncCase):
    def setUp(self):
        super().setUp()
        self.Job = self.env["queue.job"]

    def sync_jobs(self):
        return self.Job.search(
            [
                ("model_name", "=", "mail.sync.account"),
                ("method_name", "=", "_job_sync"),
            ]
        )

    def synced_subjects(self):
        return sorted(self.synced().mapped("subject"))

    def run_job(self, job):
        """Run ``job`` as the runner's request does (``/queue_job/runjob``,
        minus its commits); returns what the job says it did. The job works in
        a cursor of its own (the test's transaction all the same): what the
        test wrote is flushed first, what the job wrote is read anew."""
        self.env.flush_all()
        started = Job.load(self.env, job.uuid)
        started.set_started()
        started.store()
        RunJobController._runjob(self.env, started)
        self.env.invalidate_all()
        self.assertEqual(job.state, "done")
        return job.result

    def test_the_scheduled_sync_queues_one_job_per_due_mailbox(self):
        due = self.mailbox(self.salesman) | self.mailbox(self.salesman_all)
        waiting = self.mailbox(self.sales_manager)
        # A refused login waits for its next try: not due, no job.
        waiting.next_attempt_date = fields.Datetime.now() + timedelta(hours=1)

        self.Account.env["mail.sync.scheduler"]._cron_sync()
        jobs = self.sync_jobs()
        self.assertEqual(
            sorted(job.records.id for job in jobs), sorted(due.ids), "one job each"
        )
        self.assertEqual(set(jobs.mapped("channel")), {"root.mail_sync"})
        self.assertEqual(set(jobs.mapped("state")), {"pending"})
        self.assertEqual(self.synced_subjects(), [], "queued, not synced yet")

        # The next run, before any job ran: no second job for a mailbox.
        self.Account.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(self.sync_jobs(), jobs)

    def test_the_job_syncs_its_mailbox(self):
        account = self.mailbox(self.salesman)
        self.Account.env["mail.sync.scheduler"]._cron_sync()
        job = self.sync_jobs()
        self.assertEqual(job.records, account)

        result = self.run_job(job)
        self.assertEqual(self.synced_subjects(), ["Hello salesman"], result)
        self.assertTrue(account.sync_historical_done)
        self.assertTrue(account.last_attempt_date)

        # Its mailbox is synced: the next run queues it anew, and that job
        # brings the mail that arrived since, once.
        self.mail.append(
            self.salesman.login,
            "INBOX",
            make_message(ALICE, self.salesman.email, subject="Second"),
        )
        self.Account.env["mail.sync.scheduler"]._cron_sync()
        second = self.sync_jobs() - job
        self.assertEqual(second.records, account, "a new job for the next round")
        self.run_job(second)
        self.assertEqual(self.synced_subjects(), ["Hello salesman", "Second"])

    def test_a_job_whose_mailbox_is_held_ends_quietly(self):
        account = self.mailbox(self.salesman)
        self.Account.env["mail.sync.scheduler"]._cron_sync()
        job = self.sync_jobs()
        other = sql_db.db_connect(self.env.cr.dbname).cursor()
        try:
            other.execute(
                "SELECT pg_advisory_lock(%s, %s)", [SYNC_LOCK_NAMESPACE, account.id]
            )
            result = self.run_job(job)
        finally:
            other.close()
        self.assertIn("another process was syncing this mailbox", result)
        self.assertEqual(self.synced_subjects(), [], "nothing synced meanwhile")
        self.assertEqual(account.state, "enabled")

    def test_a_job_of_a_mailbox_synced_since_does_nothing(self):
        queued = datetime.now()
        account = self.mailbox(self.salesman)
        with frozen_at(queued):
            self.Account.env["mail.sync.scheduler"]._cron_sync()
        job = self.sync_jobs()
        # A minute later its owner pressed Sync Now (the historical sync then).
        with frozen_at(queued + timedelta(minutes=1)):
            account.env["mail.sync.scheduler"]._claim_turn(account)
        self.assertEqual(self.synced_subjects(), ["Hello salesman"])
        self.mail.append(
            self.salesman.login,
            "INBOX",
            make_message(ALICE, self.salesman.email, subject="Later"),
        )
        with frozen_at(queued + timedelta(minutes=2)):
            result = self.run_job(job)
        self.assertIn("no longer due", result)
        self.assertEqual(self.synced_subjects(), ["Hello salesman"], "left to next run")

    def test_settings_open_the_channel_whose_capacity_counts(self):
        Settings = self.env["res.config.settings"].with_user(self.admin)
        arch = Settings.get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn('id="mail_sync_job_channel"', arch)
        self.assertIn("Mailboxes synced at once", arch)
        action = Settings.create({}).action_mail_sync_job_channel()
        channel = self.env[action["res_model"]].browse(action["res_id"])
        self.assertEqual(channel.complete_name, "root.mail_sync")
