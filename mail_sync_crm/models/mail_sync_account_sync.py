# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The sync run of a mailbox: the cron, Sync Now, the per-mailbox lock, progress."""

import contextlib
import logging
import threading

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..lib import chronological, errors, imap_session, process_tuning, sync_engine
from ..lib import deadline as turn_deadline
from ..store import MailSyncStore

_logger = logging.getLogger(__name__)


# pg_advisory_lock(namespace, mailbox id): one sync of a mailbox at a time.
SYNC_LOCK_NAMESPACE = 0x6D73


class MailSyncAccount(models.Model):
    _inherit = "mail.sync.account"

    last_sync_date = fields.Datetime(readonly=True, copy=False)
    folder_ids = fields.One2many("mail.sync.folder", "account_id", string="Folders")
    sync_scanned = fields.Integer(
        compute="_compute_sync_progress", string="Messages Scanned"
    )
    sync_total = fields.Integer(compute="_compute_sync_progress")
    sync_historical_done = fields.Boolean(compute="_compute_sync_progress")
    synced_count = fields.Integer(
        compute="_compute_synced_count",
        string="Emails Recorded",
        help="Distinct emails this mailbox put on chatters (an email on a lead and "
        "its opportunity counts once). The report Personal Emails by Stage "
        "counts one line per email and lead instead, including emails that "
        "were already on the chatter.",
    )
    synced_lead_count = fields.Integer(
        compute="_compute_synced_count", string="Leads Reached"
    )

    # ------------------------------------------------------------------
    # Progress and counts
    # ------------------------------------------------------------------
    @api.depends("folder_ids.scanned", "folder_ids.total", "folder_ids.historical_done")
    def _compute_sync_progress(self):
        for account in self:
            folders = account.folder_ids
            account.sync_scanned = sum(folders.mapped("scanned"))
            account.sync_total = sum(folders.mapped("total"))
            account.sync_historical_done = bool(folders) and all(
                folders.mapped("historical_done")
            )

    def _compute_synced_count(self):
        """Distinct emails this mailbox put on chatters (one email on a lead and
        its opportunity counts once)."""
        self.synced_count = 0
        self.synced_lead_count = 0
        if not self.ids:
            return
        self.env["mail.sync.message"].flush_model()
        self.env.cr.execute(
            """SELECT account_id, COUNT(DISTINCT message_id), COUNT(DISTINCT lead_id)
                 FROM mail_sync_message
                WHERE account_id = ANY(%s) AND introduced GROUP BY account_id""",
            [list(self.ids)],
        )
        counts = {row[0]: row[1:] for row in self.env.cr.fetchall()}
        for account in self:
            emails, leads = counts.get(account.id, (0, 0))
            account.synced_count = emails
            account.synced_lead_count = leads

    def action_open_synced_emails(self):
        self.ensure_one()
        return self.env["mail.sync.message"]._action_list(
            [("account_id", "=", self.id)]
        )

    # ------------------------------------------------------------------
    # Running a sync
    # ------------------------------------------------------------------
    def _ensure_folders(self):
        """Track the Inbox and Sent folders found at connect."""
        self.ensure_one()
        Folder = self.env["mail.sync.folder"].sudo()
        for name, direction in ((self.inbox_folder, "in"), (self.sent_folder, "out")):
            if name and not self.folder_ids.filtered(lambda f, n=name: f.name == n):
                Folder.create(
                    {"account_id": self.id, "name": name, "direction": direction}
                )

    def action_sync_now(self):
        """Incremental sync at once; a historical sync still running continues in
        the background (scheduled action)."""
        self.ensure_one()
        self._check_owner_or_admin()
        if self.state not in ("enabled", "error"):
            raise UserError(_("Only a connected mailbox (Enabled or Error) syncs."))
        if not self.sync_historical_done:
            self.env.ref("mail_sync_crm.ir_cron_mail_sync")._trigger()
            message = _("The historical sync continues in the background.")
        else:
            self.sudo()._sync_mailbox(auto_commit=False)
            message = _(
                "Synced: %(count)s emails recorded in all.", count=self.synced_count
            )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": _("Mail Sync"),
                "message": message,
                "type": "warning" if self.state == "error" else "success",
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    @api.model
    def _cron_sync(self):
        """Sync every mailbox that is due, one after the other. A failing mailbox is
        marked Error and the run goes on; two workers never sync the same mailbox
        (row lock at pick-up, then an advisory lock held across batch commits)."""
        auto_commit = not getattr(threading.current_thread(), "testing", False)
        ids = (
            self.sudo()
            .search([("state", "in", ("enabled", "error"))], order="last_sync_date, id")
            .ids
        )
        Cron = self.env["ir.cron"]
        for done, account_id in enumerate(ids, start=1):
            self.env.cr.execute(
                """SELECT id FROM mail_sync_account
                    WHERE id = %s AND state IN ('enabled', 'error')
                      FOR NO KEY UPDATE SKIP LOCKED""",
                [account_id],
            )
            if not self.env.cr.fetchone() or not self._try_sync_lock(account_id):
                continue
            try:
                self.sudo().browse(account_id)._sync_mailbox(
                    auto_commit=auto_commit, long_run=process_tuning.long_run
                )
            finally:
                self._sync_unlock(account_id)
            Cron._notify_progress(done=done, remaining=len(ids) - done)
            if auto_commit:
                self.env.cr.commit()  # pylint: disable=invalid-commit  # mailbox done

    def _try_sync_lock(self, account_id):
        self.env.cr.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", [SYNC_LOCK_NAMESPACE, account_id]
        )
        return self.env.cr.fetchone()[0]

    def _sync_unlock(self, account_id):
        self.env.cr.execute(
            "SELECT pg_advisory_unlock(%s, %s)", [SYNC_LOCK_NAMESPACE, account_id]
        )

    def _turn_seconds(self):
        """How long one mailbox's turn may last (system parameter
        ``mail_sync_crm.turn_seconds``)."""
        value = (
            self.env["ir.config_parameter"]
            .sudo()
            .get_param("mail_sync_crm.turn_seconds", "")
        )
        try:
            seconds = float(value)
        except ValueError:
            seconds = 0
        return seconds if seconds > 0 else turn_deadline.DEFAULT_TURN_SECONDS

    def _sync_mailbox(self, auto_commit=False, long_run=contextlib.nullcontext):
        """One sync run of this mailbox over its folders, within the turn's
        deadline (:meth:`_turn_seconds`). Never raises: a failure is recorded
        on the mailbox (Error) and logged. A turn cut by its deadline keeps
        what it checkpointed (the next turn resumes from there); it is an
        error only when it got nowhere. ``long_run``: entered around a
        folder's run of more than one batch (the cron passes
        ``lib.process_tuning.long_run``, which tunes the whole process)."""
        self.ensure_one()
        store = MailSyncStore(self, auto_commit)
        deadline = turn_deadline.Deadline(self._turn_seconds())
        progress, cut = False, False
        try:
            settings = self._imap_settings()
            with imap_session.ImapSession(settings, deadline=deadline) as session:
                index = store.lead_index()
                blocked = self.env["mail.sync.blocklist"]._blocklist_for(
                    self.user_id, self.company_id
                )
                folders = self.folder_ids.sorted("direction")
                # One round trip tells which folders have anything new; the
                # first folder to sync is examined last, so it stays selected.
                statuses = session.examine_folders(folders.mapped("name")[::-1])
                if self._sync_in_date_order(folders, statuses):
                    outcomes = chronological.sync_history(
                        session,
                        [self._folder_state(folder) for folder in folders],
                        store,
                        index,
                        blocked,
                        attachment_cap=self.company_id.mail_sync_attachment_cap_bytes,
                        batch_size=self.env.context.get(
                            "mail_sync_batch_size", sync_engine.HEADER_BATCH
                        ),
                        long_run=long_run,
                        deadline=deadline,
                    ).values()
                    folders = folders.browse()  # all done by sync_history
                else:
                    outcomes = []
                for outcome in outcomes:
                    progress |= bool(outcome.scanned or outcome.recorded)
                    cut |= outcome.cut
                for folder in folders:
                    if deadline.expired:
                        cut = True
                        break
                    outcome = sync_engine.sync_folder(
                        session,
                        self._folder_state(folder),
                        store,
                        index,
                        blocked,
                        attachment_cap=self.company_id.mail_sync_attachment_cap_bytes,
                        batch_size=self.env.context.get(
                            "mail_sync_batch_size", sync_engine.HEADER_BATCH
                        ),
                        status=statuses.get(folder.name),
                        long_run=long_run,
                        deadline=deadline,
                    )
                    progress |= bool(outcome.scanned or outcome.recorded)
                    cut |= outcome.cut
        except errors.MailSyncError as err:
            if err.code != "sync_deadline":
                self._sync_failed(err, auto_commit)
                return False
            cut = True
        except Exception as exc:
            _logger.exception(
                "mail_sync_crm: unexpected error syncing mailbox %s", self.id
            )
            self._sync_failed(errors.classify(exc, side="imap"), auto_commit)
            return False
        if cut and not progress:
            self._sync_failed(
                deadline.error(host=self.imap_host, port=self.imap_port), auto_commit
            )
            return False
        if cut:
            _logger.info(
                "mail_sync_crm: mailbox %s: turn ended at its deadline (%s s); the "
                "next one resumes from the checkpoint",
                self.id,
                deadline.seconds,
            )
        self.write({"last_sync_date": fields.Datetime.now()})
        self._record_success()
        return True

    @staticmethod
    def _folder_state(folder):
        return sync_engine.FolderState(
            folder.name, folder.direction, folder.uidvalidity, folder.last_uid
        )

    def _sync_in_date_order(self, folders, statuses):
        """Write the folders together, in date order across them (the chatter
        lists by id), during the historical sync and whenever more than one
        folder has new mail; otherwise the one folder with news goes alone.
        A mailbox whose last turn ended at its deadline with nothing done
        (reading every header first took the whole turn) goes folder by
        folder, batch after batch, so it is never stuck: that part of its
        history is then written in date order per folder only."""
        if len(folders) < 2:
            return False
        if self.state == "error" and self.log_ids[:1].code == "sync_deadline":
            return False
        if not all(folders.mapped("historical_done")):
            return True

        def has_news(folder):
            status = statuses.get(folder.name)
            return (
                status is None
                or status.uidvalidity != folder.uidvalidity
                or not status.uidnext
                or status.uidnext > folder.last_uid + 1
            )

        return len(folders.filtered(has_news)) > 1

    def _sync_failed(self, err, auto_commit):
        if auto_commit:
            self.env.cr.rollback()  # drop the unfinished batch; checkpoints hold
        self.env.invalidate_all()
        self._record_error(err)
        if auto_commit:
            self.env.cr.commit()  # pylint: disable=invalid-commit  # keep the Error
