# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Who syncs a mailbox, and when: the scheduled run and Sync Now, sharing one lock
per mailbox.

A mailbox is claimed in a fresh transaction. Odoo's cursors are REPEATABLE READ:
a transaction sees the database as it was at its first statement, and locking a
row that another transaction changed since raises ``SerializationFailure``. So a
claim ends the current transaction, takes the mailbox's advisory lock (held by
the connection across commits, released by an unlock or by the database when the
process dies), commits again, and only then reads the mailbox: what the previous
holder committed before unlocking is visible. A mailbox another process holds is
skipped by the cron; Sync Now says it is busy. The sync commits before the lock
is released.

A scheduled run has a time budget (system parameter
``mail_sync_crm.cron_budget_seconds``, ``lib.scheduling.run_budget_seconds``) and
starts no mailbox past it. It takes the mailboxes tried longest ago first
(``last_attempt_date``), so neither the mailboxes left over by the previous run
nor failing ones wait behind the others, and it leaves alone a mailbox whose login
the server refused until its next try (``next_attempt_date``).
"""

import contextlib
import logging
import threading

from odoo import _, api, fields, models
from odoo.tools import config

from ..exceptions import MailSyncUserError
from ..lib import errors
from ..lib.imap import news as fleet_poll
from ..lib.imap import read_ahead as history_prefetch
from ..lib.sync import process_tuning, scheduling
from ..store import claims
from ..superuser import addon_sudo

_logger = logging.getLogger(__name__)

# pg_advisory_lock(namespace, mailbox id): one sync of a mailbox at a time.
SYNC_LOCK_NAMESPACE = 0x6D73
BUDGET_PARAM = "mail_sync_crm.cron_budget_seconds"


def _auto_commit():
    """Commit per batch and per mailbox, except under test."""
    return not getattr(threading.current_thread(), "testing", False)


def _cron_time_limit():
    """Seconds after which Odoo stops a scheduled action (0: never)."""
    limit = config.get("limit_time_real_cron") or 0
    if limit < 0:
        limit = config.get("limit_time_real") or 0
    return max(limit, 0)


class MailSyncAccount(models.Model):
    _inherit = "mail.sync.account"

    last_attempt_date = fields.Datetime(
        string="Last Try",
        readonly=True,
        copy=False,
        help="When a sync of this mailbox last started, whatever came of it. The "
        "scheduled sync takes the mailboxes tried longest ago first.",
    )

    # ------------------------------------------------------------------
    # Sync Now
    # ------------------------------------------------------------------
    def action_sync_now(self):
        """Incremental sync at once, unless the mailbox is being synced already;
        a historical sync still running continues in the background (scheduled
        action). The owner's Sync Now ends a login backoff."""
        self.ensure_one()
        self._check_owner_or_admin()
        if self.state not in ("enabled", "error"):
            raise MailSyncUserError(
                _("Only a connected mailbox (Enabled or Error) syncs."),
                _("Mailbox not connected"),
            )
        by_owner = self.user_id == self.env.user
        if not self.sync_historical_done:
            if by_owner:
                self._reset_backoff()
            self.env.ref("mail_sync_crm.ir_cron_mail_sync")._trigger()
            return self._notification(
                _("The historical sync continues in the background."), "info"
            )
        # The sync commits per batch, as the cron's does: in a transaction of its
        # own, not in this request's (whose snapshot is older than the lock). It
        # sees what is committed (the form is saved before its buttons run).
        self.env.flush_all()
        # sudo: read-only: the count of the mailbox the caller owns or administers
        # (checked above), to say how many emails this run added.
        before = self.sudo().synced_count
        with self.env.registry.cursor() as cr:
            # sudo: Sync Now of a mailbox the caller owns or administers
            # (_check_owner_or_admin above): the sync writes what the mailbox's own
            # server holds, with no key of the caller's context (addon_sudo).
            account = addon_sudo(self.with_env(self.env(cr=cr)))
            outcome = account._claim_and_sync(reset_backoff=by_owner)
            account.invalidate_recordset(["synced_count"])
            notification = account._sync_now_notification(outcome, before)
        self.env.invalidate_all()
        return notification

    def _sync_now_notification(self, outcome, before=0):
        """What Sync Now says: ``outcome`` of the sync, ``before`` the
        mailbox's Emails Recorded before it (the new ones are the difference)."""
        if isinstance(outcome, errors.MailSyncError):
            message, hint = self._describe(outcome)
            return self._notification(
                _(
                    "The sync failed: %(message)s\nHow to fix it: %(hint)s",
                    message=message,
                    hint=hint,
                ),
                "danger",
                title=_("Mail Sync failed"),
            )
        if outcome == claims.BUSY:
            return self._notification(
                _(
                    "This mailbox is already being synced (by the scheduled sync or "
                    "another Sync Now). Its new mail appears on the leads as soon as "
                    "that sync ends."
                ),
                "warning",
            )
        if outcome == claims.NOT_DUE:
            return self._notification(
                _("This mailbox is no longer connected: nothing was synced."),
                "warning",
            )
        total = self.synced_count
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
        return self._notification(message, "success")

    # ------------------------------------------------------------------
    # The scheduled run
    # ------------------------------------------------------------------
    @api.model
    def _cron_sync(self):
        """Sync the due mailboxes while the run's budget lasts: check them all
        for news first, concurrently (``..._fleet``), then sync those with
        news, the ones whose history is done first. A failing mailbox is
        marked Error and the run goes on; a mailbox another process holds, or
        tried in this round by another run, is skipped."""
        budget = scheduling.RunBudget(
            self._cron_budget_seconds(), cron_time_limit=_cron_time_limit()
        )
        started = fields.Datetime.now()
        commit = _auto_commit()
        accounts = self._due_mailboxes(started)
        sync_round = self._join_round(commit)
        try:
            news = accounts._poll_for_news(sync_round, started, budget, commit)
            accounts._to_sync(sync_round, news, commit)._sync_each(
                sync_round, started, budget
            )
        except Exception:
            if commit:
                self.env.cr.rollback()  # leaving the round needs a usable transaction
            raise
        finally:
            self._leave_round(sync_round)

    def _sync_each(self, sync_round, started, budget):
        """Claim and sync each of these mailboxes in order, while the budget
        lasts, the next ones' IMAP reads done ahead meanwhile
        (``..._fleet._read_ahead``)."""
        Cron = self.env["ir.cron"]
        window = self._pool_size()
        # Each mailbox read on its own: a sync drops the ORM cache (rows
        # written in SQL), and a record read among the run's thousand would
        # read them all again each time.
        with history_prefetch.Lookahead(
            window, fleet_poll.DEFAULT_POLL_SECONDS
        ) as ahead:
            for done, account_id in enumerate(self.ids):
                account = self.browse(account_id)
                if not budget.allows_next():
                    _logger.info(
                        "mail_sync_crm: run budget of %ss spent, %s mailboxes left "
                        "to the next run",
                        budget.seconds,
                        len(self) - done,
                    )
                    # Nothing "remaining" for Odoo: it would call this method
                    # again at once, up to 10 times in the same job, budget or not.
                    Cron._notify_progress(done=done, remaining=0)
                    break
                # the ones after this one (this one's reads are waited for anyway)
                upcoming = self.browse(self.ids[done + 1 : done + 1 + window])
                for following in upcoming:
                    if not ahead.submitted(following.id):
                        following._read_ahead(ahead)
                account.with_context(
                    mail_sync_turn_cap=budget.turn_cap(),
                    mail_sync_prefetched=ahead.take(account.id),
                )._claim_and_sync(
                    due_before=started,
                    long_run=process_tuning.long_run,
                    sync_round=sync_round,
                )
                Cron._notify_progress(done=done + 1, remaining=len(self) - done - 1)

    @api.model
    def _due_mailboxes(self, now):
        """The mailboxes a scheduled run takes, in its order: connected, not
        backing off at ``now``, tried longest ago first."""
        # sudo: read-only: the scheduled run's mailboxes (a fixed domain).
        return self.sudo().search(
            [
                ("state", "in", ("enabled", "error")),
                "|",
                ("next_attempt_date", "=", False),
                ("next_attempt_date", "<=", now),
            ],
            order="last_attempt_date asc nulls first, id",
        )

    @api.model
    def _cron_budget_seconds(self):
        # sudo: read-only: a system parameter of a fixed name.
        configured = self.env["ir.config_parameter"].sudo().get_param(BUDGET_PARAM)
        return scheduling.run_budget_seconds(configured, _cron_time_limit())

    # ------------------------------------------------------------------
    # Claiming a mailbox
    # ------------------------------------------------------------------
    def _claim_and_sync(
        self,
        due_before=None,
        reset_backoff=False,
        long_run=contextlib.nullcontext,
        sync_round=None,
    ):
        """Claim this mailbox in a fresh transaction and sync it. Returns what
        ``_run_sync`` returns, ``claims.BUSY`` when another process holds it, or
        ``claims.NOT_DUE`` when it is no longer connected or, for the cron
        (``due_before``: when its run started), backing off or tried by another
        process since ``due_before`` or in round ``sync_round`` (``..._fleet``).
        A process that already holds the mailbox's lock claims it again (the
        lock counts its holds)."""
        self.ensure_one()
        auto_commit = _auto_commit()
        cr = self.env.cr
        if auto_commit:
            cr.commit()  # pylint: disable=invalid-commit  # the claim starts afresh
        if not self._try_sync_lock():
            return claims.BUSY
        try:
            if auto_commit:
                # a snapshot taken after the lock: the previous holder's commits
                cr.commit()  # pylint: disable=invalid-commit
            self.invalidate_recordset()
            if not self._is_due(due_before, sync_round):
                return claims.NOT_DUE
            try:
                values = {"last_attempt_date": fields.Datetime.now()}
                if sync_round:
                    values["sync_round"] = sync_round
                if reset_backoff:
                    values.update(auth_failure_count=0, next_attempt_date=False)
                self.write(values)
                if auto_commit:
                    cr.commit()  # pylint: disable=invalid-commit  # the attempt shows
                outcome = self._run_sync(auto_commit, long_run)
                if auto_commit:
                    cr.commit()  # pylint: disable=invalid-commit  # before unlocking
            except claims.CONCURRENCY_ERRORS as exc:
                if not auto_commit:
                    raise
                # Someone wrote the mailbox itself meanwhile (its form, the
                # status cron): what was committed holds, the rest is for later.
                cr.rollback()
                _logger.info(
                    "mail_sync_crm: mailbox %s changed during its sync (%s); left "
                    "to the next run",
                    self.id,
                    type(exc).__name__,
                )
                return claims.BUSY
            return outcome
        except Exception:
            if auto_commit:
                cr.rollback()  # the unlock below needs a usable transaction
            raise
        finally:
            self._sync_unlock()

    def _is_due(self, due_before, sync_round=None):
        if self.state not in ("enabled", "error"):
            return False
        if due_before is None:
            return True  # Sync Now
        if sync_round and self.sync_round == sync_round:
            return False  # tried by another run of the same round
        if self.next_attempt_date and self.next_attempt_date > fields.Datetime.now():
            return False
        return not self.last_attempt_date or self.last_attempt_date <= due_before

    def _try_sync_lock(self):
        self.env.cr.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", [SYNC_LOCK_NAMESPACE, self.id]
        )
        return self.env.cr.fetchone()[0]

    def _sync_unlock(self):
        self.env.cr.execute(
            "SELECT pg_advisory_unlock(%s, %s)", [SYNC_LOCK_NAMESPACE, self.id]
        )
