# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Who gives a mailbox its turn, and when: the scheduled run and Sync Now.

A run has a time budget (system parameter ``mail_sync_crm.cron_budget_seconds``,
``lib.scheduling.run_budget_seconds``) and starts no turn past it. It joins the
round of the runs under way (or opens one): each due mailbox is tried at most
once per round, whichever run of it claims the mailbox first. It checks the due
mailboxes for news first, concurrently (``lib.imap_news``: a bounded pool of
IMAP connections, system parameter ``mail_sync_crm.poll_pool_size``), a batch
claimed at a time; those without news cost a check, not a turn. Then it claims
and gives a turn to each mailbox not tried in the round yet: those with news,
then the others whose history is done, then those in their historical sync,
the mailboxes tried longest ago first (``last_attempt_date``); while one takes
its turn, the IMAP reads of the next ones are done ahead (the read-ahead,
``lib.imap_read_ahead``). A mailbox's IMAP settings are built once per run
and passed to its check, its read-ahead and its turn.

A claim ends the current transaction, takes the mailbox's advisory lock (held
by the connection across commits, released by an unlock or by the database
when the process dies), commits again, and only then reads the mailbox: Odoo's
cursors are REPEATABLE READ, and what the previous holder committed before
unlocking must be visible. A mailbox another process holds is skipped by the
run; Sync Now says it is busy. The turn commits before the lock is released.

A round's first run opens it (a number: its start in seconds) and holds a
shared advisory lock on it; a run starting while one of its runs holds it joins
it, unless it began more than the scheduled sync's interval ago. A run that
dies drops its locks with its connection (within 90 s, :data:`KEEPALIVE`, when
its machine vanishes).

A service (the way ``account.move.send`` serves ``account.move``): every
method is private (no RPC); the scheduled action calls :meth:`_cron_sync`, the
mailbox's Sync Now button :meth:`_sync_now`.
"""

import contextlib
import datetime
import logging
import threading
import time

from odoo import api, fields, models
from odoo.tools import config

from ..lib import errors
from ..lib.imap import news as imap_news
from ..lib.imap import read_ahead as imap_read_ahead
from ..lib.sync import process_tuning, scheduling
from ..store import claims
from ..superuser import addon_sudo
from .advisory_locks import MAILBOX_SYNC, ROUND, round_key

_logger = logging.getLogger(__name__)

BUDGET_PARAM = "mail_sync_crm.cron_budget_seconds"
# Seconds after which a vanished host's session (and its locks) is ended.
KEEPALIVE = (60, 10, 3)  # idle, interval, count: 60 + 10 * 3 = 90 s
ROUND_EPOCH = 1577836800  # rounds are numbered in seconds since 2020-01-01 UTC
DEFAULT_ROUND_SECONDS = 300
ROUND_UNITS = {"minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}


def auto_commit():
    """Commit per batch and per mailbox, except under test."""
    return not getattr(threading.current_thread(), "testing", False)


def _cron_time_limit():
    """Seconds after which Odoo stops a scheduled action (0: never)."""
    limit = config.get("limit_time_real_cron") or 0
    if limit < 0:
        limit = config.get("limit_time_real") or 0
    return max(limit, 0)


class MailSyncScheduler(models.AbstractModel):
    _name = "mail.sync.scheduler"
    _description = "Mail Sync Scheduler"

    def init(self):
        self.env.cr.execute("CREATE SEQUENCE IF NOT EXISTS mail_sync_round_seq")
        return super().init()

    # ------------------------------------------------------------------
    # The scheduled run
    # ------------------------------------------------------------------
    @api.model
    def _cron_sync(self):
        """One run: check the due mailboxes for news, then give turns while
        the budget lasts. A failing mailbox is marked Error and the run goes
        on; a mailbox another process holds, or tried in this round by another
        run, is skipped."""
        budget = scheduling.RunBudget(
            self._budget_seconds(), cron_time_limit=_cron_time_limit()
        )
        started = fields.Datetime.now()
        commit = auto_commit()
        accounts = self._due_mailboxes(started)
        settings = {}  # mailbox id: its IMAP settings, built once in this run
        sync_round = self._join_round(commit)
        try:
            news = self.env["mail.sync.news"]._check(
                accounts, sync_round, started, budget, commit, settings
            )
            self._give_turns(
                self._to_sync(accounts, sync_round, news, commit),
                sync_round,
                started,
                budget,
                settings,
            )
        except Exception:
            if commit:
                self.env.cr.rollback()  # leaving the round needs a usable transaction
            raise
        finally:
            self._leave_round(sync_round)

    @api.model
    def _due_mailboxes(self, now):
        """The mailboxes a run takes, in its order: connected, not backing off
        at ``now``, tried longest ago first; not those a live listener holds
        and gave a turn within the scheduled sync's interval (its watch hears
        their news; the run is the safety net for the others)."""
        since = now - datetime.timedelta(seconds=self._round_seconds())
        watched = self.env["mail.sync.listener"]._watched_recently(since)
        # sudo: read-only: the scheduled run's mailboxes (a fixed domain).
        return (
            self.env["mail.sync.account"]
            .sudo()
            .search(
                [
                    ("state", "in", ("enabled", "error")),
                    ("id", "not in", watched),
                    "|",
                    ("next_attempt_date", "=", False),
                    ("next_attempt_date", "<=", now),
                ],
                order="last_attempt_date asc nulls first, id",
            )
        )

    @api.model
    def _budget_seconds(self):
        # sudo: read-only: a system parameter of a fixed name.
        configured = self.env["ir.config_parameter"].sudo().get_param(BUDGET_PARAM)
        return scheduling.run_budget_seconds(configured, _cron_time_limit())

    @api.model
    def _imap_settings(self, account, settings):
        """The IMAP settings of ``account`` built once in this run (kept in
        ``settings``), or the MailSyncError building them raised."""
        if account.id not in settings:
            try:
                built = self.env["mail.sync.connector"]._imap_settings(account)
            except errors.MailSyncError as err:
                built = err
            settings[account.id] = built
        return settings[account.id]

    @api.model
    def _build_imap_settings(self, accounts, settings):
        """Build the IMAP settings of those of ``accounts`` that have none in
        ``settings`` yet, all at once (``mail.sync.connector._imap_settings_of``)."""
        missing = accounts.filtered(lambda a: a.id not in settings)
        if missing:
            settings.update(self.env["mail.sync.connector"]._imap_settings_of(missing))

    @api.model
    def _give_turns(self, accounts, sync_round, started, budget, settings):
        """Claim ``accounts`` in order and give each its turn, while the budget
        lasts, the next ones' IMAP reads done ahead meanwhile.

        A mailbox is read ahead only under its lock, taken for it, and only
        when still due once locked: another process giving turns at the same
        time (same order) reads ahead and syncs the ones it holds, not the
        same ones again; a mailbox another process holds, or tried since this
        run began, is not read ahead here (its claim says BUSY or NOT_DUE, or,
        free again by then, its turn reads live). The claim takes the lock
        once more (it counts its holds); the read-ahead's hold is released
        after the turn."""
        Cron = self.env["ir.cron"]
        commit = auto_commit()
        window = self.env["mail.sync.news"]._pool_size()
        held = set()  # the mailboxes this run locked to read them ahead
        # Each mailbox read on its own: a turn drops the ORM cache (rows
        # written in SQL), and a record read among the run's thousand (or
        # the read-ahead's window) would read them all again each time.
        try:
            # The process tuned once for the whole run, not for each turn:
            # each turn's own entry (its history) would freeze the garbage
            # the turns before it left (environments in reference cycles), out
            # of the collector's reach for the rest of the run; the run
            # slowed down turn after turn (Odoo looks an environment up among
            # all those alive).
            with (
                process_tuning.long_run(),
                imap_read_ahead.ReadAheadPool(
                    window, imap_news.DEFAULT_POLL_SECONDS
                ) as ahead,
            ):
                for done, account_id in enumerate(accounts.ids):
                    account = accounts.browse(account_id)
                    if not budget.allows_next():
                        _logger.info(
                            "mail_sync_crm: run budget of %ss spent, %s mailboxes "
                            "left to the next run",
                            budget.seconds,
                            len(accounts) - done,
                        )
                        # Nothing "remaining" for Odoo: it would call this method
                        # again at once, up to 10 times in the same job, budget
                        # or not.
                        Cron._notify_progress(done=done, remaining=0)
                        break
                    # the ones after this one (this one's reads are waited for
                    # anyway)
                    new = [
                        following_id
                        for following_id in accounts.ids[done + 1 : done + 1 + window]
                        if not ahead.submitted(following_id)
                    ]
                    locked = set(
                        self._try_locks(accounts.browse(new), commit).ids if new else ()
                    )
                    for following_id in new:
                        following = accounts.browse(following_id)
                        if following_id in locked and self._is_due(
                            following, started, sync_round
                        ):
                            held.add(following_id)
                            self._read_ahead(following, ahead, settings)
                            continue
                        # another process's, or tried by one since this run began
                        if following_id in locked:
                            self._unlock(following)
                        ahead.skip(following_id)
                    try:
                        self._claim_turn(
                            account,
                            due_before=started,
                            sync_round=sync_round,
                            read_ahead=ahead.take(account.id),
                            imap_settings=settings.get(account.id),
                            turn_cap=budget.turn_cap(),
                        )
                    finally:
                        if account_id in held:
                            held.discard(account_id)
                            self._unlock(account)
                    Cron._notify_progress(
                        done=done + 1, remaining=len(accounts) - done - 1
                    )
        except BaseException:
            if held and commit:
                # The unlocks need a usable transaction. Only on a failure:
                # a run that ends (its budget spent) keeps its progress
                # ("nothing remaining"), or Odoo would run it again at once.
                self.env.cr.rollback()
            raise
        finally:
            if held:
                self._unlock_all(accounts.browse(sorted(held)))

    @api.model
    def _to_sync(self, accounts, sync_round, news, commit):
        """The mailboxes of ``accounts`` (due, in order) not tried in this round
        yet, in the order of their turns: those this run found with news, then
        the others whose history is done, then those in their historical sync.
        Another run of the round may take any of them first."""
        if commit:
            self.env.cr.commit()  # pylint: disable=invalid-commit  # others' stamps
        accounts.invalidate_recordset(["sync_round"])
        left = accounts.filtered(lambda a: a.sync_round != sync_round)
        found = set(news)
        ordered = sorted(
            left, key=lambda a: (a.id not in found, not a.sync_historical_done)
        )
        return accounts.browse([account.id for account in ordered])

    @api.model
    def _read_ahead(self, account, ahead, settings):
        """Have ``ahead`` (``lib.imap_read_ahead.ReadAheadPool``) read the new
        messages of ``account`` while the run gives the turns before it."""
        imap = self._imap_settings(account, settings)
        if isinstance(imap, errors.MailSyncError):
            ahead.skip(account.id)  # its turn says why
            return
        folders = [
            imap_news.KnownFolder(f.name, f.uidvalidity, f.last_uid)
            for f in account.folder_ids
        ]
        ahead.submit(
            account.id,
            imap,
            folders,
            self.env["mail.sync.turn"]._examine_order(account),
        )

    # ------------------------------------------------------------------
    # Sync Now
    # ------------------------------------------------------------------
    @api.model
    def _sync_now(self, account, reset_backoff):
        """The turn Sync Now asks for (the caller owns or administers
        ``account``: the button checked it), through the same claim and lock as
        the scheduled run, in a transaction of its own; returns the
        notification that says what came of it."""
        # The turn commits per batch, as the run's do: in a transaction of its
        # own, not in this request's (whose snapshot is older than the lock). It
        # sees what is committed (the form is saved before its buttons run).
        self.env.flush_all()
        # sudo: read-only: the count of the mailbox the caller owns or administers
        # (checked by action_sync_now), to say how many emails this turn added.
        before = account.sudo().synced_count
        with self.env.registry.cursor() as cr:
            # sudo: Sync Now of a mailbox the caller owns or administers
            # (_check_owner_or_admin in action_sync_now): the turn writes what the
            # mailbox's own server holds, with no key of the caller's context
            # (addon_sudo).
            mailbox = addon_sudo(account.with_env(account.env(cr=cr)))
            outcome = mailbox.env["mail.sync.scheduler"]._claim_turn(
                mailbox, reset_backoff=reset_backoff
            )
            mailbox.invalidate_recordset(["synced_count"])
            notification = mailbox.env["mail.sync.turn"]._sync_now_notification(
                mailbox, outcome, before
            )
        self.env.invalidate_all()
        return notification

    # ------------------------------------------------------------------
    # Claims and locks
    # ------------------------------------------------------------------
    @api.model
    def _claim_turn(
        self,
        account,
        due_before=None,
        reset_backoff=False,
        long_run=contextlib.nullcontext,
        sync_round=None,
        read_ahead=None,
        imap_settings=None,
        turn_cap=None,
        record_failure=True,
    ):
        """Claim ``account`` in a fresh transaction and give it its turn
        (``mail.sync.turn._take``, which the other arguments go to;
        ``record_failure=False``: the listener's turns). Returns
        what the turn returns, ``claims.BUSY`` when another process holds it,
        or ``claims.NOT_DUE`` when it is no longer connected or, for a run
        (``due_before``: when it started), backing off or tried by another
        process since ``due_before`` or in round ``sync_round``. A process that
        already holds the mailbox's lock claims it again (the lock counts its
        holds)."""
        account.ensure_one()
        commit = auto_commit()
        cr = self.env.cr
        if commit:
            cr.commit()  # pylint: disable=invalid-commit  # the claim starts afresh
        if not self._try_lock(account):
            return claims.BUSY
        try:
            if commit:
                # a snapshot taken after the lock: the previous holder's commits
                cr.commit()  # pylint: disable=invalid-commit
            account.invalidate_recordset()
            if not self._is_due(account, due_before, sync_round):
                return claims.NOT_DUE
            try:
                values = {"last_attempt_date": fields.Datetime.now()}
                if sync_round:
                    values["sync_round"] = sync_round
                if reset_backoff:
                    values.update(auth_failure_count=0, next_attempt_date=False)
                # bookkeeping of no tracked field (see mail.sync.news._checked)
                account.with_context(tracking_disable=True).write(values)
                if commit:
                    cr.commit()  # pylint: disable=invalid-commit  # the attempt shows
                outcome = self.env["mail.sync.turn"]._take(
                    account,
                    commit,
                    long_run,
                    read_ahead=read_ahead,
                    imap_settings=imap_settings,
                    turn_cap=turn_cap,
                    record_failure=record_failure,
                )
                if commit:
                    cr.commit()  # pylint: disable=invalid-commit  # before unlocking
            except claims.CONCURRENCY_ERRORS as exc:
                if not commit:
                    raise
                # Someone wrote the mailbox itself meanwhile (its form, the
                # status cron): what was committed holds, the rest is for later.
                cr.rollback()
                _logger.info(
                    "mail_sync_crm: mailbox %s changed during its sync (%s); left "
                    "to the next run",
                    account.id,
                    type(exc).__name__,
                )
                return claims.BUSY
            return outcome
        except Exception:
            if commit:
                cr.rollback()  # the unlock below needs a usable transaction
            raise
        finally:
            self._unlock(account)

    @api.model
    def _is_due(self, account, due_before, sync_round=None):
        if account.state not in ("enabled", "error"):
            return False
        if due_before is None:
            return True  # Sync Now
        if sync_round and account.sync_round == sync_round:
            return False  # tried by another run of the same round
        if (
            account.next_attempt_date
            and account.next_attempt_date > fields.Datetime.now()
        ):
            return False
        return not account.last_attempt_date or account.last_attempt_date <= due_before

    @api.model
    def _try_lock(self, account):
        self.env.cr.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", [MAILBOX_SYNC, account.id]
        )
        return self.env.cr.fetchone()[0]

    @api.model
    def _unlock(self, account):
        self.env.cr.execute(
            "SELECT pg_advisory_unlock(%s, %s)", [MAILBOX_SYNC, account.id]
        )

    @api.model
    def _try_locks(self, accounts, commit):
        """The mailboxes of ``accounts`` this process could claim, read afresh."""
        cr = self.env.cr
        if commit:
            cr.commit()  # pylint: disable=invalid-commit  # the claim starts afresh
        cr.execute(
            "SELECT id FROM unnest(%s::int[]) AS id WHERE pg_try_advisory_lock(%s, id)",
            [accounts.ids, MAILBOX_SYNC],
        )
        locked = accounts.browse([row[0] for row in cr.fetchall()])
        if commit:
            cr.commit()  # pylint: disable=invalid-commit  # the holders' commits
        locked.invalidate_recordset()
        return locked

    @api.model
    def _unlock_all(self, accounts):
        if accounts.ids:
            self.env.cr.execute(
                "SELECT pg_advisory_unlock(%s, id) FROM unnest(%s::int[]) AS id",
                [MAILBOX_SYNC, accounts.ids],
            )

    # ------------------------------------------------------------------
    # Rounds
    # ------------------------------------------------------------------
    @api.model
    def _join_round(self, commit):
        """The round this run belongs to: the one of the runs under way, or a
        new one. Held (shared) until :meth:`_leave_round`."""
        cr = self.env.cr
        if commit:
            cr.commit()  # pylint: disable=invalid-commit  # locks outside a snapshot
        cr.execute(
            "SELECT set_config('tcp_keepalives_idle', %s, false),"
            " set_config('tcp_keepalives_interval', %s, false),"
            " set_config('tcp_keepalives_count', %s, false)",
            [str(value) for value in KEEPALIVE],
        )
        cr.execute("SELECT pg_advisory_lock(%s, 0)", [ROUND])
        try:
            cr.execute(
                """SELECT max(objid::bigint) FROM pg_locks
                    WHERE locktype = 'advisory' AND classid = %s AND objsubid = 1
                      AND granted AND pid <> pg_backend_pid()
                      AND database = (SELECT oid FROM pg_database
                                       WHERE datname = current_database())""",
                [ROUND],
            )
            number = cr.fetchone()[0]
            now = int(time.time()) - ROUND_EPOCH
            if not number or now - number >= self._round_seconds():
                # a new round, numbered by its start (seconds), always above
                # the last one
                cr.execute(
                    """SELECT setval('mail_sync_round_seq',
                                     greatest(%s, last_value + 1))
                         FROM mail_sync_round_seq""",
                    [now],
                )
                number = cr.fetchone()[0]
            cr.execute(
                "SELECT pg_advisory_lock_shared(%s::bigint)", [round_key(number)]
            )
        finally:
            cr.execute("SELECT pg_advisory_unlock(%s, 0)", [ROUND])
        if commit:
            cr.commit()  # pylint: disable=invalid-commit  # the keepalive holds
        return number

    @api.model
    def _round_seconds(self):
        """How long a round lasts at most: the scheduled sync's interval (a
        run still going after it does not keep later runs from syncing what
        it synced)."""
        cron = self.env.ref("mail_sync_crm.ir_cron_mail_sync", raise_if_not_found=False)
        if not cron:
            return DEFAULT_ROUND_SECONDS
        # sudo: read-only: the interval of the addon's own scheduled action (by xmlid).
        unit = ROUND_UNITS.get(cron.sudo().interval_type, DEFAULT_ROUND_SECONDS)
        # sudo: read-only: likewise.
        return max(cron.sudo().interval_number, 1) * unit

    @api.model
    def _leave_round(self, number):
        self.env.cr.execute(
            "SELECT pg_advisory_unlock_shared(%s::bigint)", [round_key(number)]
        )
