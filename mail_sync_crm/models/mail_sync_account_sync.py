# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The sync run of one mailbox (its folders, its deadline, failures, concurrent
recording) and its progress. Who runs it and when (the cron, Sync Now, the lock):
``..._run``."""

import contextlib
import logging

from odoo import api, fields, models

from ..lib import errors
from ..lib.imap import read_ahead as history_prefetch
from ..lib.imap import session as imap_session
from ..lib.net import deadline as turn_deadline
from ..lib.sync import date_order as chronological
from ..lib.sync import engine as sync_engine
from ..store import MailSyncStore, claims

_logger = logging.getLogger(__name__)

# Conflicts in a row at one checkpoint (other processes recording the same mail at
# the same time) after which the mailbox is left to the next run.
CONFLICT_ATTEMPTS = 5


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
        "its opportunity counts once): the total of Emails in Personal Emails by "
        "Stage on this mailbox's recorded emails (the button opens it).",
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
        """Personal Emails by Stage on the emails this mailbox put on chatters:
        its total of "Emails" is the mailbox's Emails Recorded."""
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "mail_sync_crm.mail_sync_message_action_report"
        )
        action.update(
            name=self.env._("Emails Recorded: %(mailbox)s", mailbox=self.display_name),
            domain=[("account_id", "=", self.id), ("introduced", "=", True)],
            view_mode="pivot,graph,list,form",
            views=[
                (False, "pivot"),
                (False, "graph"),
                (False, "list"),
                (False, "form"),
            ],
            context={"create": False},
        )
        return action

    # ------------------------------------------------------------------
    # Running a sync
    # ------------------------------------------------------------------
    def _ensure_folders(self):
        """Track the Inbox and Sent folders found at connect."""
        self.ensure_one()
        # sudo: the folders of a mailbox just enabled (connected by its owner, or
        # promoted by the addon): the names its own IMAP server gave at Connect,
        # direction constants; Odoo's sudo() drops a client context's default_* keys.
        Folder = self.env["mail.sync.folder"].sudo()
        for name, direction in ((self.inbox_folder, "in"), (self.sent_folder, "out")):
            if name and not self.folder_ids.filtered(lambda f, n=name: f.name == n):
                Folder.create(
                    {"account_id": self.id, "name": name, "direction": direction}
                )

    def _turn_seconds(self):
        """How long one mailbox's turn may last (system parameter
        ``mail_sync_crm.turn_seconds``), cut short where the scheduled run must
        end before Odoo's time limit (context ``mail_sync_turn_cap``)."""
        # sudo: read-only: a system parameter of a fixed name.
        value = (
            self.env["ir.config_parameter"]
            .sudo()
            .get_param("mail_sync_crm.turn_seconds", "")
        )
        try:
            seconds = float(value)
        except ValueError:
            seconds = 0
        seconds = seconds if seconds > 0 else turn_deadline.DEFAULT_TURN_SECONDS
        cap = self.env.context.get("mail_sync_turn_cap")
        return min(seconds, cap) if cap else seconds

    def _sync_mailbox(self, auto_commit=False, long_run=contextlib.nullcontext):
        """One sync run of this mailbox over its folders; True when it worked.
        Never raises (see ``_run_sync``)."""
        return self._run_sync(auto_commit, long_run) is None

    def _run_sync(self, auto_commit=False, long_run=contextlib.nullcontext):
        """One sync run of this mailbox over its folders, within the turn's
        deadline (:meth:`_turn_seconds`). Returns None when it worked, the
        ``MailSyncError`` recorded on the mailbox (Error) when it failed, or
        ``claims.BUSY`` when other processes kept recording the same mail at the
        same time. A turn cut by its deadline keeps what it checkpointed (the
        next turn resumes from there); it is an error only when it got nowhere.
        ``long_run``: entered around a folder's run of more than one batch (the
        cron passes ``lib.process_tuning.long_run``, which tunes the whole
        process).

        When another process records one of the batch's (Message-ID, lead) pairs
        first (store/claims.py), the batch is redone from the last checkpoint in
        a fresh transaction, which sees that process's chatter messages, within
        the same deadline. Without ``auto_commit`` (tests) the whole run is one
        transaction: a conflict is raised for the caller's transaction to be
        redone."""
        self.ensure_one()
        deadline = turn_deadline.Deadline(self._turn_seconds())
        start = position = self._checkpoints()
        attempts, progress, cut = 0, False, False
        while True:
            try:
                scanned, cut = self._sync_folders(
                    MailSyncStore(self, auto_commit), deadline, long_run
                )
                progress |= scanned
            except Exception as exc:
                if not claims.is_conflict(exc):
                    return self._sync_failed(self._failure_of(exc), auto_commit)
                if not auto_commit:
                    raise
                self.env.cr.rollback()  # back to the last checkpoint
                self.env.invalidate_all()
                # Conflicts in a row at the same checkpoint: each redo that gets
                # further (another process ahead on the same mail) starts afresh.
                previous, position = position, self._checkpoints()
                attempts = attempts + 1 if position == previous else 1
                # batches committed before the conflict count as progress
                progress |= [uid for _f, _v, uid in position] != [
                    uid for _f, _v, uid in start
                ]
                _logger.info(
                    "mail_sync_crm: mailbox %s: another process recorded the same "
                    "mail at the same time (%s, %s in a row); %s",
                    self.id,
                    type(exc).__name__,
                    attempts,
                    "left to the next run"
                    if attempts >= CONFLICT_ATTEMPTS
                    else "batch redone",
                )
                if attempts >= CONFLICT_ATTEMPTS:
                    return claims.BUSY
                continue
            break
        if cut and not progress:
            return self._sync_failed(
                deadline.error(host=self.imap_host, port=self.imap_port), auto_commit
            )
        if cut:
            _logger.info(
                "mail_sync_crm: mailbox %s: turn ended at its deadline (%s s); the "
                "next one resumes from the checkpoint",
                self.id,
                deadline.seconds,
            )
        self._sync_succeeded()
        return None

    def _checkpoints(self):
        return [(f.id, f.uidvalidity, f.last_uid) for f in self.folder_ids]

    def _sync_folders(self, store, deadline, long_run):
        """Sync the folders until done or the deadline; returns (progress, cut):
        whether anything was scanned or recorded, whether the deadline cut it."""
        progress, cut = False, False
        try:
            settings = self._imap_settings()
            with self._imap_session(settings, deadline) as session:
                index = store.lead_index()
                blocked = self.env["mail.sync.blocklist"]._blocklist_for(
                    self.user_id, self.company_id
                )
                folders = self.folder_ids.sorted("direction")
                # One round trip tells which folders have anything new; the
                # first folder to sync is examined last, so it stays selected.
                statuses = session.examine_folders(self._examine_order())
                attachment_cap = self.company_id.mail_sync_attachment_cap_bytes
                noise_rules = self.company_id._mail_sync_noise_rules()
                batch_size = self.env.context.get(
                    "mail_sync_batch_size", sync_engine.HEADER_BATCH
                )
                if self._sync_in_date_order(folders, statuses):
                    outcomes = chronological.sync_history(
                        session,
                        [self._folder_state(folder) for folder in folders],
                        store,
                        index,
                        blocked,
                        attachment_cap=attachment_cap,
                        batch_size=batch_size,
                        long_run=long_run,
                        deadline=deadline,
                        statuses=statuses,
                        noise_rules=noise_rules,
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
                        attachment_cap=attachment_cap,
                        batch_size=batch_size,
                        status=statuses.get(folder.name),
                        long_run=long_run,
                        deadline=deadline,
                        noise_rules=noise_rules,
                    )
                    progress |= bool(outcome.scanned or outcome.recorded)
                    cut |= outcome.cut
        except errors.MailSyncError as err:
            if err.code != "sync_deadline":
                raise
            cut = True
        return progress, cut

    def _examine_order(self):
        return self.folder_ids.sorted("direction").mapped("name")[::-1]

    def _imap_session(self, settings, deadline):
        """The IMAP session of a sync run: live, or answering first from what
        the scheduled run read ahead (context ``mail_sync_prefetched``,
        ``lib.history_prefetch``)."""
        ahead = self.env.context.get("mail_sync_prefetched")
        if ahead is not None and ahead.key == self.id:
            return history_prefetch.ReplaySession(ahead, settings, deadline=deadline)
        return imap_session.ImapSession(settings, deadline=deadline)

    def _failure_of(self, exc):
        """The ``MailSyncError`` a failed run records."""
        if isinstance(exc, errors.MailSyncError):
            return exc
        _logger.exception("mail_sync_crm: unexpected error syncing mailbox %s", self.id)
        return errors.classify(exc, side="imap")

    def _sync_succeeded(self):
        self.write({"last_sync_date": fields.Datetime.now()})
        self._reset_backoff()
        self._record_success()

    def _sync_failed(self, err, auto_commit):
        if auto_commit:
            self.env.cr.rollback()  # drop the unfinished batch; checkpoints hold
        self.env.invalidate_all()
        self._record_error(err)
        self._back_off(err)
        if auto_commit:
            self.env.cr.commit()  # pylint: disable=invalid-commit  # keep the Error
        return err

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
