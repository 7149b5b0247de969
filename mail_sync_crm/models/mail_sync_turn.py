# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""One mailbox's turn: connect, scan its folders from their checkpoints,
record, move the checkpoints, within the turn's deadline; and its outcome on
the mailbox (success, or an error: log entry, back-off, state Error).

Who gives a mailbox its turn, and when (the scheduled run, Sync Now, the claim
and the lock): ``mail.sync.scheduler``. A service: every method is private (no
RPC).
"""

import contextlib
import logging

from odoo import _, api, fields, models

from ..lib import errors
from ..lib.imap import read_ahead as imap_read_ahead
from ..lib.imap import session as imap_session
from ..lib.net import deadline as turn_deadline
from ..lib.sync import date_order as chronological
from ..lib.sync import engine as sync_engine
from ..lib.sync import scheduling
from ..store import MailSyncStore, claims

_logger = logging.getLogger(__name__)

# Conflicts in a row at one checkpoint (other processes recording the same mail at
# the same time) after which the mailbox is left to the next run.
CONFLICT_ATTEMPTS = 5
TURN_SECONDS_PARAM = "mail_sync_crm.turn_seconds"


class MailSyncTurn(models.AbstractModel):
    _name = "mail.sync.turn"
    _description = "Mail Sync Turn of a Mailbox"

    @api.model
    def _turn_seconds(self, cap=None):
        """How long one mailbox's turn may last (system parameter
        ``mail_sync_crm.turn_seconds``), cut short to ``cap`` where the
        scheduled run must end before Odoo's time limit."""
        # sudo: read-only: a system parameter of a fixed name.
        value = self.env["ir.config_parameter"].sudo().get_param(TURN_SECONDS_PARAM, "")
        try:
            seconds = float(value)
        except ValueError:
            seconds = 0
        seconds = seconds if seconds > 0 else turn_deadline.DEFAULT_TURN_SECONDS
        return min(seconds, cap) if cap else seconds

    # ------------------------------------------------------------------
    # The turn
    # ------------------------------------------------------------------
    @api.model
    def _take(
        self,
        account,
        auto_commit=False,
        long_run=contextlib.nullcontext,
        read_ahead=None,
        imap_settings=None,
        turn_cap=None,
        record_failure=True,
    ):
        """The turn of ``account`` over its folders, within the turn's deadline
        (:meth:`_turn_seconds`, at most ``turn_cap``). Returns None when it
        worked, the ``MailSyncError`` recorded on the mailbox (Error) when it
        failed (with ``record_failure=False``, the listener's turns: returned
        only, the mailbox's state, log and back-off left to the scheduled
        run, see :meth:`_not_recorded`), or ``claims.BUSY`` when other
        processes kept recording the same mail at the same time. A turn cut
        by its deadline keeps what it checkpointed (the next turn resumes
        from there); it is an error only when it got nowhere. ``long_run``:
        entered around a folder's run of more than one batch by a turn given
        alone (a queue_job job passes ``lib.process_tuning.long_run``, which
        tunes the whole process; a scheduled run tunes it once for all its
        turns).
        ``read_ahead``: what the run read ahead for this mailbox
        (``lib.imap_read_ahead``), answered from before the server;
        ``imap_settings``: the mailbox's settings as the run built them (built
        here when None; a MailSyncError when building them failed).

        When another process records one of the batch's (Message-ID, lead) pairs
        first (store/claims.py), the batch is redone from the last checkpoint in
        a fresh transaction, which sees that process's chatter messages, within
        the same deadline. Without ``auto_commit`` (tests) the whole turn is one
        transaction: a conflict is raised for the caller's transaction to be
        redone."""
        account.ensure_one()
        deadline = turn_deadline.Deadline(self._turn_seconds(turn_cap))
        start = position = self._checkpoints(account)
        attempts, progress, cut = 0, False, False
        while True:
            try:
                scanned, cut = self._sync_folders(
                    account,
                    MailSyncStore(account, auto_commit),
                    deadline,
                    long_run,
                    read_ahead,
                    imap_settings,
                )
                progress |= scanned
            except Exception as exc:
                if not claims.is_conflict(exc):
                    return self._failed(
                        account,
                        self._failure_of(account, exc),
                        auto_commit,
                        record_failure,
                    )
                if not auto_commit:
                    raise
                self.env.cr.rollback()  # back to the last checkpoint
                self.env.invalidate_all()
                # Conflicts in a row at the same checkpoint: each redo that gets
                # further (another process ahead on the same mail) starts afresh.
                previous, position = position, self._checkpoints(account)
                attempts = attempts + 1 if position == previous else 1
                # batches committed before the conflict count as progress
                progress |= [uid for _f, _v, uid in position] != [
                    uid for _f, _v, uid in start
                ]
                _logger.info(
                    "mail_sync_crm: mailbox %s: another process recorded the same "
                    "mail at the same time (%s, %s in a row); %s",
                    account.id,
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
            return self._failed(
                account,
                deadline.error(host=account.imap_host, port=account.imap_port),
                auto_commit,
                record_failure,
            )
        if cut:
            _logger.info(
                "mail_sync_crm: mailbox %s: turn ended at its deadline (%s s); the "
                "next one resumes from the checkpoint",
                account.id,
                deadline.seconds,
            )
        self._succeeded(account)
        return None

    @api.model
    def _checkpoints(self, account):
        return [(f.id, f.uidvalidity, f.last_uid) for f in account.folder_ids]

    @api.model
    def _sync_folders(self, account, store, deadline, long_run, read_ahead, settings):
        """Sync the folders until done or the deadline; returns (progress, cut):
        whether anything was scanned or recorded, whether the deadline cut it."""
        progress, cut = False, False
        try:
            if settings is None:
                settings = self.env["mail.sync.connector"]._imap_settings(account)
            elif isinstance(settings, errors.MailSyncError):
                raise settings  # building them failed earlier in the run
            with self._imap_session(account, settings, deadline, read_ahead) as session:
                index = store.lead_index()
                blocked = self.env["mail.sync.blocklist"]._blocklist_for(
                    account.user_id, account.company_id
                )
                folders = account.folder_ids.sorted("direction")
                # One round trip tells which folders have news; the first folder
                # to sync is examined last, so it stays selected.
                examined_at = fields.Datetime.now()
                statuses = session.examine_folders(self._examine_order(account))
                attachment_cap = account.company_id.mail_sync_attachment_cap_bytes
                noise_rules = account.company_id._mail_sync_noise_rules()
                batch_size = self.env.context.get(
                    "mail_sync_batch_size", sync_engine.HEADER_BATCH
                )
                if self._in_date_order(account, folders, statuses):
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
                # what the server has against what was scanned: the figures of
                # the mailbox's Completeness
                self.env["mail.sync.completeness"]._after_turn(
                    account, statuses, examined_at
                )
        except errors.MailSyncError as err:
            if err.code != "sync_deadline":
                raise
            cut = True
        return progress, cut

    @api.model
    def _examine_order(self, account):
        return account.folder_ids.sorted("direction").mapped("name")[::-1]

    @api.model
    def _imap_session(self, account, settings, deadline, read_ahead):
        """The IMAP session of a turn: live, or answering first from what the
        scheduled run read ahead (``lib.imap_read_ahead``)."""
        if read_ahead is not None and read_ahead.key == account.id:
            return imap_read_ahead.ReadAheadSession(
                read_ahead, settings, deadline=deadline
            )
        return imap_session.ImapSession(settings, deadline=deadline)

    @api.model
    def _failure_of(self, account, exc):
        """The ``MailSyncError`` a failed turn records."""
        if isinstance(exc, errors.MailSyncError):
            return exc
        _logger.exception(
            "mail_sync_crm: unexpected error syncing mailbox %s", account.id
        )
        return errors.classify(exc, side="imap")

    @staticmethod
    def _folder_state(folder):
        return sync_engine.FolderState(
            folder.name, folder.direction, folder.uidvalidity, folder.last_uid
        )

    @api.model
    def _in_date_order(self, account, folders, statuses):
        """Write the folders together, in date order across them (the chatter
        lists by id), during the historical sync and whenever more than one
        folder has news; otherwise the one folder with news goes alone. A
        mailbox whose last turn ended at its deadline with nothing done
        (reading every header first took the whole turn) goes folder by
        folder, batch after batch, so it is never stuck: that part of its
        history is then written in date order per folder only."""
        if len(folders) < 2:
            return False
        if account.state == "error" and account.log_ids[:1].code == "sync_deadline":
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

    # ------------------------------------------------------------------
    # Outcomes
    # ------------------------------------------------------------------
    @api.model
    def _sync_now_notification(self, account, outcome, before=0):
        """What Sync Now says of the turn of ``account``: its ``outcome``,
        ``before`` the mailbox's Emails Recorded before it (the new ones are the
        difference)."""
        if isinstance(outcome, errors.MailSyncError):
            message, hint = account._describe(outcome)
            return account._notification(
                _(
                    "The sync failed: %(message)s\nHow to fix it: %(hint)s",
                    message=message,
                    hint=hint,
                ),
                "danger",
                title=_("Mail Sync failed"),
            )
        if outcome == claims.BUSY:
            return account._notification(
                _(
                    "This mailbox is already being synced (by the scheduled sync or "
                    "another Sync Now). Its new mail appears on the leads as soon as "
                    "that sync ends."
                ),
                "warning",
            )
        if outcome == claims.NOT_DUE:
            return account._notification(
                _("This mailbox is no longer connected: nothing was synced."),
                "warning",
            )
        total = account.synced_count
        new = max(0, total - before)
        if not new:
            message = _(
                "Synced: no new email (%(total)s recorded in all).", total=total
            )
        elif new == 1:
            message = _("Synced: 1 new email recorded (%(total)s in all).", total=total)
        else:
            message = _(
                "Synced: %(count)s new emails recorded (%(total)s in all).",
                count=new,
                total=total,
            )
        return account._notification(message, "success")

    @api.model
    def _succeeded(self, accounts):
        """The turns of ``accounts`` worked (or their check found no news)."""
        # Bookkeeping of no tracked field (see mail.sync.news._checked).
        accounts.with_context(tracking_disable=True).write(
            {"last_sync_date": fields.Datetime.now()}
        )
        self._reset_backoff(accounts)
        self._record_success(accounts)

    @api.model
    def _failed(self, account, err, auto_commit, record_failure=True):
        """The turn of ``account`` failed with ``err``: recorded, backed off
        (not recorded without ``record_failure``: :meth:`_not_recorded`)."""
        if auto_commit:
            self.env.cr.rollback()  # drop the unfinished batch; checkpoints hold
        self.env.invalidate_all()
        if not record_failure:
            return self._not_recorded(account, err)
        self._record_error(account, err)
        self._back_off(account, err)
        if auto_commit:
            self.env.cr.commit()  # pylint: disable=invalid-commit  # keep the Error
        return err

    @api.model
    def _not_recorded(self, account, err):
        """A listener's turn failed with ``err``: the listener never holds a
        mailbox in Error or Connection (issue #19). The mailbox keeps its
        state, log and back-off; the scheduled run, the safety net, meets the
        same failure at its next turn and decides (one judge of a mailbox's
        state, whatever the listener's watches see). The listener stops
        watching the mailbox for a while (``cli/listener.py``)."""
        _logger.info(
            "mail_sync_crm: mailbox %s: listener's turn failed (%s); its state is "
            "left to the scheduled run",
            account.id,
            err.code,
        )
        return err

    @api.model
    def _record_success(self, accounts):
        """A turn or a send worked: the run of errors of ``accounts`` ends."""
        for account in accounts.filtered(lambda a: a.state == "error"):
            # sudo: the status of a mailbox whose sync or send just worked: constants
            # and the log's last id.
            account.sudo().write(
                {
                    "state": "enabled",
                    "first_error_date": False,
                    "last_error": False,
                    **self.env["mail.sync.log"]._cleared_values(account),
                }
            )

    @api.model
    def _record_error(self, accounts, err):
        """A turn or a send failed: Error state (still retried), log entry."""
        for account in accounts:
            vals = {"last_error": account._describe(err)[0]}
            if account.state == "enabled":
                vals["state"] = "error"
            if not account.first_error_date:
                vals["first_error_date"] = fields.Datetime.now()
            # sudo: the status of a mailbox whose sync or send failed: vals computed
            # here (the catalogue's message for err, Error, the time).
            account.sudo().write(vals)
            self.env["mail.sync.log"]._record(account, err)

    @api.model
    def _back_off(self, accounts, err):
        """After a failed turn: a login the server refused is tried again later
        and later (``lib.scheduling.auth_backoff``); any other failure at the
        next run."""
        for account in accounts:
            if err.code in scheduling.BACKOFF_CODES:
                failures = account.auth_failure_count + 1
                # sudo: the login backoff, computed here (one more refusal,
                # lib.scheduling's delays).
                account.sudo().write(
                    {
                        "auth_failure_count": failures,
                        "next_attempt_date": fields.Datetime.now()
                        + scheduling.auth_backoff(failures),
                    }
                )
            else:
                self._reset_backoff(account)

    @api.model
    def _reset_backoff(self, accounts):
        """Try at the next run again (a turn worked, the owner reconnected or
        pressed Sync Now)."""
        waiting = accounts.filtered(
            lambda a: a.auth_failure_count or a.next_attempt_date
        )
        if waiting:
            # sudo: constants: the backoff ends (a sync worked, the owner reconnected or
            # pressed Sync Now).
            waiting.sudo().write({"auth_failure_count": 0, "next_attempt_date": False})
