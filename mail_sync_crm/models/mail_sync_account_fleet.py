# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The scheduled run over many mailboxes: rounds shared by the processes that
run at the same time, the check for news before any sync, the reads done ahead.

A round is the set of runs that overlap: the first run to start opens one (a
number from a sequence: its start in seconds) and holds a shared advisory lock
on it; a run starting while any run of that round still holds it joins it,
unless the round began more than the scheduled sync's interval ago (a run that
lasts, or hangs, does not keep the next ones from syncing again). Each mailbox
claimed is stamped with the round (``sync_round``), and a mailbox stamped with
the current round is not due: with any number of processes running the
scheduled sync at once (several Odoo servers, a job worker, a script), each due
mailbox is tried by one of them, once. A run that dies drops its locks with its
database connection: its mailboxes are claimable again at once when its
process dies, within 90 s (:data:`KEEPALIVE`) when its machine vanishes.

Before syncing anything, the run checks the due mailboxes for news
concurrently (``lib.fleet_poll``: a bounded pool of IMAP connections, system
parameter ``mail_sync_crm.poll_pool_size``), a batch of mailboxes claimed at a
time. The idle ones get their bookkeeping written in bulk (tried and synced)
and a failed check is recorded as a failed sync would be (Error, backoff of a
refused login). Then the mailboxes not tried in the round yet are claimed and
synced one by one, by whichever run of the round gets each first: those this
run found with news, then the others whose history is done (not checked: the
budget ran out, or held-back messages), then those in their historical sync;
while one is recorded, the IMAP reads of the next ones are done ahead
(``lib.history_prefetch``). The ORM work stays in the run's one cursor.
"""

import logging
import time

from odoo import api, fields, models

from ..lib import errors
from ..lib.imap import news as fleet_poll
from .mail_sync_account_run import SYNC_LOCK_NAMESPACE

_logger = logging.getLogger(__name__)

ROUND_NAMESPACE = 0x6D74  # advisory keys: (namespace, 0) gate; namespace<<32|round
POOL_PARAM = "mail_sync_crm.poll_pool_size"
# Seconds after which a vanished host's session (and its locks) is ended.
KEEPALIVE = (60, 10, 3)  # idle, interval, count: 60 + 10 * 3 = 90 s
ROUND_EPOCH = 1577836800  # rounds are numbered in seconds since 2020-01-01 UTC
DEFAULT_ROUND_SECONDS = 300
ROUND_UNITS = {"minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}


def _round_key(number):
    return (ROUND_NAMESPACE << 32) | number


class MailSyncAccount(models.Model):
    _inherit = "mail.sync.account"

    sync_round = fields.Integer(
        readonly=True,
        copy=False,
        help="The round of scheduled runs that last tried this mailbox: runs "
        "overlapping in time share a round, and try each mailbox once.",
    )

    def init(self):
        self.env.cr.execute("CREATE SEQUENCE IF NOT EXISTS mail_sync_round_seq")
        return super().init()

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
        cr.execute("SELECT pg_advisory_lock(%s, 0)", [ROUND_NAMESPACE])
        try:
            cr.execute(
                """SELECT max(objid::bigint) FROM pg_locks
                    WHERE locktype = 'advisory' AND classid = %s AND objsubid = 1
                      AND granted AND pid <> pg_backend_pid()
                      AND database = (SELECT oid FROM pg_database
                                       WHERE datname = current_database())""",
                [ROUND_NAMESPACE],
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
                "SELECT pg_advisory_lock_shared(%s::bigint)", [_round_key(number)]
            )
        finally:
            cr.execute("SELECT pg_advisory_unlock(%s, 0)", [ROUND_NAMESPACE])
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
            "SELECT pg_advisory_unlock_shared(%s::bigint)", [_round_key(number)]
        )

    # ------------------------------------------------------------------
    # Claims of many mailboxes
    # ------------------------------------------------------------------
    def _try_sync_locks(self, commit):
        """The mailboxes of ``self`` this process could claim, read afresh."""
        cr = self.env.cr
        if commit:
            cr.commit()  # pylint: disable=invalid-commit  # the claim starts afresh
        cr.execute(
            "SELECT id FROM unnest(%s::int[]) AS id WHERE pg_try_advisory_lock(%s, id)",
            [self.ids, SYNC_LOCK_NAMESPACE],
        )
        locked = self.browse([row[0] for row in cr.fetchall()])
        if commit:
            cr.commit()  # pylint: disable=invalid-commit  # the holders' commits
        locked.invalidate_recordset()
        return locked

    def _sync_unlock_all(self):
        if self.ids:
            self.env.cr.execute(
                "SELECT pg_advisory_unlock(%s, id) FROM unnest(%s::int[]) AS id",
                [SYNC_LOCK_NAMESPACE, self.ids],
            )

    # ------------------------------------------------------------------
    # The check for news
    # ------------------------------------------------------------------
    @api.model
    def _pool_size(self):
        """IMAP connections at once of a run (``lib.fleet_poll.pool_size``)."""
        # sudo: read-only: a system parameter of a fixed name.
        return fleet_poll.pool_size(
            self.env["ir.config_parameter"].sudo().get_param(POOL_PARAM)
        )

    def _poll_for_news(self, sync_round, due_before, budget, commit):
        """Check ``self`` (due mailboxes, in order) for news while the budget
        lasts, a batch claimed at a time; returns the ids of the mailboxes
        found with news. All are released again: whoever claims one first
        syncs it (:meth:`_to_sync`)."""
        size = self._pool_size()

        def batches():
            for start in range(0, len(self), size):
                if start and budget.elapsed() >= budget.seconds:
                    return  # the first batch always goes, and the first sync
                batch = self.browse(self.ids[start : start + size])  # read alone
                claimed = batch._try_sync_locks(commit)
                now = fields.Datetime.now()  # when their tries start
                due = claimed.filtered(lambda a: a._is_due(due_before, sync_round))
                targets = [t for t in due._poll_targets() if t is not None]
                polled = self.browse([t.key for t in targets])
                (claimed - polled)._sync_unlock_all()  # synced without a check
                held.update(polled.ids)
                begun.update(dict.fromkeys(polled.ids, now))
                yield targets

        news, done, held, begun = [], [], set(), {}
        try:
            for result in fleet_poll.poll_stream(batches(), size):
                done.append(result)
                if len(done) >= size:
                    news += self._checked(done, sync_round, commit, begun)
                    held.difference_update(r.key for r in done)
                    done = []
            news += self._checked(done, sync_round, commit, begun)
        except Exception:
            if commit:
                self.env.cr.rollback()  # the unlocks below need a usable transaction
            self.browse(sorted(held))._sync_unlock_all()
            raise
        return news

    def _to_sync(self, sync_round, news, commit):
        """The mailboxes of ``self`` (due, in order) not tried in this round
        yet, in the order to sync them: those this run found with news, then
        the others whose history is done, then those in their historical
        sync. Another run of the round may take any of them first."""
        if commit:
            self.env.cr.commit()  # pylint: disable=invalid-commit  # others' stamps
        self.invalidate_recordset(["sync_round"])
        left = self.filtered(lambda a: a.sync_round != sync_round)
        found = set(news)
        ordered = sorted(
            left, key=lambda a: (a.id not in found, not a.sync_historical_done)
        )
        return self.browse([account.id for account in ordered])

    def _poll_targets(self):
        """Per mailbox, what to check (``fleet_poll.PollTarget``), or None
        when it needs a sync anyway: history not done, messages held back for
        another try, settings that cannot be read (the sync says why)."""
        self.env["mail.sync.failed.message"].flush_model()
        self.env.cr.execute(
            """SELECT DISTINCT account_id FROM mail_sync_failed_message
                WHERE account_id = ANY(%s) AND state = 'retry'""",
            [self.ids],
        )
        holding = {row[0] for row in self.env.cr.fetchall()}
        targets = []
        for account in self:
            folders = account.folder_ids
            target = None
            if (
                account.sync_historical_done
                and account.id not in holding
                and all(folders.mapped("uidvalidity"))
            ):
                try:
                    target = fleet_poll.PollTarget(
                        account.id,
                        account._imap_settings(),
                        tuple(
                            fleet_poll.KnownFolder(f.name, f.uidvalidity, f.last_uid)
                            for f in folders
                        ),
                    )
                except errors.MailSyncError:
                    target = None
            targets.append(target)
        return targets

    def _read_ahead(self, ahead):
        """Have ``ahead`` (``lib.history_prefetch.Lookahead``) read this
        mailbox's new messages while the run syncs the ones before it."""
        self.ensure_one()
        try:
            settings = self._imap_settings()
        except errors.MailSyncError:
            ahead.skip(self.id)  # the sync says why
            return
        folders = [
            fleet_poll.KnownFolder(f.name, f.uidvalidity, f.last_uid)
            for f in self.folder_ids
        ]
        ahead.submit(self.id, settings, folders, self._examine_order())

    def _checked(self, results, sync_round, commit, begun):
        """Write what the checks ``results`` found: idle mailboxes tried (when
        their check began: ``begun``) and synced now, failed ones recorded;
        all released. Returns the ids of those with news."""
        idle = self.browse([r.key for r in results if not r.error and not r.news])
        failed = [(self.browse(r.key), r.error) for r in results if r.error]
        news = [r.key for r in results if r.news and not r.error]
        if commit:
            self.env.cr.commit()  # pylint: disable=invalid-commit  # a fresh snapshot
        now = fields.Datetime.now()
        tried = idle.browse([account.id for account, _err in failed]) | idle
        for moment in {begun[key] for key in tried.ids}:
            tried.filtered(lambda a, m=moment: begun[a.id] == m).write(
                {"last_attempt_date": moment, "sync_round": sync_round}
            )
        if idle:
            idle.write({"last_sync_date": now})
            idle._reset_backoff()
            idle._record_success()
        if commit:
            self.env.cr.commit()  # pylint: disable=invalid-commit  # before unlocking
        for account, err in failed:
            account._sync_failed(err, commit)
        (tried | self.browse(news))._sync_unlock_all()
        return news
