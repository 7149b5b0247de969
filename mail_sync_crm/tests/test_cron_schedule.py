# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""When the scheduled sync tries a mailbox: the run's budget, the order of the
mailboxes, the backoff of a refused login; and what Sync Now tells its user.

Time is frozen (freezegun) and moved by the tests: connecting to the mail server
"takes" a given time by advancing the frozen clock as it starts. The test mail
server's harness keeps the real clock (it waits for Dovecot to see a changed
password)."""

import time
from datetime import datetime, timedelta
from unittest.mock import patch

from odoo import sql_db
from odoo.tests import tagged
from odoo.tools import config

from mail_sync_testing import DovecotServer, make_message

from ..lib.imap import session as imap_session
from ..models.advisory_locks import MAILBOX_SYNC as SYNC_LOCK_NAMESPACE
from ..models.advisory_locks import round_key as _round_key
from ..models.mail_sync_news import POOL_PARAM
from ..models.mail_sync_scheduler import BUDGET_PARAM, ROUND_EPOCH
from .common import PASSWORD
from .schedule_common import ALICE, ScheduledSyncCase, frozen_at


@tagged("post_install", "-at_install")
class TestCronSchedule(ScheduledSyncCase):
    def setUp(self):
        super().setUp()
        self.start = datetime.now()

    # -- helpers ----------------------------------------------------------------
    def synced_subjects(self):
        return set(self.synced().mapped("subject"))

    def slow_connections(self, frozen, seconds):
        """Each IMAP connection (each mailbox's turn) takes ``seconds``."""
        enter = imap_session.ImapSession.__enter__

        def slow_enter(session):
            frozen.tick(timedelta(seconds=seconds))
            return enter(session)

        return patch.object(imap_session.ImapSession, "__enter__", slow_enter)

    def attempts(self, accounts):
        accounts.invalidate_recordset(["last_attempt_date"])
        return {account: account.last_attempt_date for account in accounts}

    def tried_in(self, before, accounts):
        after = self.attempts(accounts)
        return accounts.filtered(lambda a: after[a] != before[a])

    def refuse_login(self, user):
        self.mail.add_user(user.login, "another password")

    def auth_failures(self, account):
        account.invalidate_recordset(["log_ids"])
        return len(account.log_ids.filtered(lambda log: log.code == "auth_failed"))

    # -- budget and order ---------------------------------------------------------
    def test_a_run_starts_no_mailbox_past_its_budget_and_the_next_run_goes_on(self):
        self.env["ir.config_parameter"].set_param(BUDGET_PARAM, "50")
        with frozen_at(self.start) as frozen:
            first, second, third = (self.mailbox(user) for user in self.users)
            accounts = first | second | third
            with self.slow_connections(frozen, 30):
                self.Account.env[
                    "mail.sync.scheduler"
                ]._cron_sync()  # 30 s, 60 s: no third mailbox
                self.assertEqual(
                    self.synced_subjects(), {"Hello salesman", "Hello salesman_all"}
                )
                self.assertFalse(third.last_attempt_date, "not even tried")
                before = self.attempts(accounts)
                self.Account.env["mail.sync.scheduler"]._cron_sync()
        # the left-over mailbox is synced; the two others are checked for news
        # (at once, in the pool: one connection's time for both) and have none
        self.assertEqual(self.tried_in(before, accounts), accounts)
        self.assertIn("Hello sales_manager", self.synced_subjects())
        self.assertEqual(len(self.synced_subjects()), 3, "nothing synced twice")

    def test_a_duplicated_scheduled_action_syncs_as_the_original(self):
        """What the README tells an administrator with several servers: a copy of
        the scheduled action is one more job calling the same sync (runs that
        overlap share a round: see the tests of rounds below)."""
        self.mailbox(self.salesman)
        self.mailbox(self.salesman_all)
        original = self.env.ref("mail_sync_crm.ir_cron_mail_sync")
        original.method_direct_trigger()
        self.assertEqual(
            self.synced_subjects(), {"Hello salesman", "Hello salesman_all"}
        )
        self.mail.append(
            self.salesman.login,
            "INBOX",
            make_message(ALICE, self.salesman.email, subject="Later"),
        )
        original.copy().method_direct_trigger()
        self.assertEqual(
            self.synced_subjects(),
            {"Hello salesman", "Hello salesman_all", "Later"},
        )
        self.assertEqual(len(self.synced()), 3, "nothing twice")

    def test_a_turn_ends_before_odoo_stops_the_scheduled_action(self):
        """With Odoo's time limit of scheduled actions at 100 s (so a budget of
        50 s), a mailbox started 40 s into the run gets 40 s (the run ends by
        80 s), not the 180 s of a turn: Odoo never kills a sync half-way."""
        seen = []
        Turn = type(self.env["mail.sync.turn"])
        turn_seconds = Turn._turn_seconds

        def spy(turn, cap=None):
            seen.append(turn_seconds(turn, cap))
            return seen[-1]

        self.env["ir.config_parameter"].set_param(BUDGET_PARAM, "60")
        with (
            frozen_at(self.start) as frozen,
            patch.dict(config.options, {"limit_time_real_cron": 100}),
            patch.object(Turn, "_turn_seconds", spy),
        ):
            self.mailbox(self.salesman), self.mailbox(self.salesman_all)
            with self.slow_connections(frozen, 40):
                self.Account.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(seen, [80, 40])
        self.assertEqual(
            self.env["mail.sync.turn"]._turn_seconds(), 180
        )  # outside a run

    def test_a_run_builds_each_mailbox_s_settings_once(self):
        """A mailbox's IMAP settings (its password decrypted, or its access token
        refreshed) are built once per run, and passed to its check for news, its
        read-ahead and its turn (docs/glossary.rst, Server settings)."""
        Connector = type(self.env["mail.sync.connector"])
        imap_settings = Connector._imap_settings
        built = []

        def spy(connector, account, signs_in=None):
            built.append(account.id)
            return imap_settings(connector, account, signs_in)

        first, second = self.mailbox(self.salesman), self.mailbox(self.salesman_all)
        Scheduler = self.env["mail.sync.scheduler"]
        with patch.object(Connector, "_imap_settings", spy):
            Scheduler._cron_sync()  # their historical sync: turns, a read-ahead
            self.assertEqual(sorted(built), sorted([first.id, second.id]))
            for user in (self.salesman, self.salesman_all):
                self.mail.append(
                    user.login,
                    "INBOX",
                    make_message(ALICE, user.email, subject=f"News {user.login}"),
                )
            built.clear()
            Scheduler._cron_sync()  # checks for news, a read-ahead, turns
        self.assertEqual(sorted(built), sorted([first.id, second.id]))
        self.assertIn("News salesman_all", self.synced().mapped("subject"))

    def test_a_failing_mailbox_waits_its_turn_like_the_others(self):
        """Each run has time for one connection: it checks the mailbox tried
        longest ago for news (one check at a time) and still syncs one mailbox
        (the first sync of a run always starts). Over three runs each of the
        three is tried twice, the one whose server is gone included: it does
        not go first every time, nor more often than the others."""
        with frozen_at(self.start) as frozen:
            failing, *working = (self.mailbox(user) for user in self.users)
            accounts = failing.browse([failing.id] + [a.id for a in working])
            self.assertEqual(accounts.ids, sorted(accounts.ids), "failing goes first")
            self.Account.env["mail.sync.scheduler"]._cron_sync()  # all synced once
            self.assertEqual(len(self.synced_subjects()), 3)
            with DovecotServer() as gone:
                closed = gone.ssl_port
            failing.sudo().write({"imap_port": closed, "imap_password": PASSWORD})
            self.env["ir.config_parameter"].set_param(BUDGET_PARAM, "50")
            # one check at a time: each takes the run's whole budget
            self.env["ir.config_parameter"].set_param(POOL_PARAM, "1")
            tries = dict.fromkeys(accounts, 0)
            with self.slow_connections(frozen, 100):
                for _run in range(3):
                    frozen.tick(timedelta(minutes=5))
                    before = self.attempts(accounts)
                    self.Account.env["mail.sync.scheduler"]._cron_sync()
                    for account in self.tried_in(before, accounts):
                        tries[account] += 1
        self.assertEqual(list(tries.values()), [2, 2, 2], "each twice in 3 runs")
        self.assertEqual(failing.state, "error")
        self.assertEqual(len(failing.log_ids), 2, "the failing mailbox tried twice")

    # -- rounds -------------------------------------------------------------------
    def other_run_in_round(self, seconds_ago):
        """Another process's run, still going, in a round that began
        ``seconds_ago``; returns (its cursor, the round's number)."""
        number = int(time.time()) - ROUND_EPOCH - seconds_ago
        other = sql_db.db_connect(self.env.cr.dbname).cursor()
        other.execute(
            "SELECT pg_advisory_lock_shared(%s::bigint)", [_round_key(number)]
        )
        return other, number

    @staticmethod
    def end_run(other):
        # (a closed cursor's connection goes back to Odoo's pool, its session
        # and locks with it: the run itself unlocks, as _cron_sync does)
        other.execute("SELECT pg_advisory_unlock_all()")
        other.close()

    def test_a_run_joins_the_round_under_way_and_skips_what_it_tried(self):
        account = self.mailbox(self.salesman)
        self.Account.env["mail.sync.scheduler"]._cron_sync()
        self.mail.append(
            self.salesman.login, "INBOX", make_message(ALICE, self.salesman.email)
        )
        other, number = self.other_run_in_round(10)
        try:
            account.sudo().sync_round = number  # the other run tried it
            self.Account.env["mail.sync.scheduler"]._cron_sync()
            self.assertEqual(len(self.synced_subjects()), 1, "not tried again")
        finally:
            self.end_run(other)
        self.Account.env[
            "mail.sync.scheduler"
        ]._cron_sync()  # the round is over: a new one
        self.assertEqual(len(self.synced_subjects()), 2)

    def test_a_run_past_the_interval_does_not_hold_the_next_ones_back(self):
        account = self.mailbox(self.salesman)
        self.Account.env["mail.sync.scheduler"]._cron_sync()
        self.mail.append(
            self.salesman.login, "INBOX", make_message(ALICE, self.salesman.email)
        )
        other, number = self.other_run_in_round(6 * 60)  # the interval is 5 min
        try:
            account.sudo().sync_round = number
            self.Account.env["mail.sync.scheduler"]._cron_sync()
            self.assertEqual(len(self.synced_subjects()), 2, "a new round")
            self.assertGreater(account.sync_round, number)
        finally:
            self.end_run(other)

    # -- backoff ------------------------------------------------------------------
    def test_refused_login_backs_off_and_the_status_says_when_it_retries(self):
        with frozen_at(self.start) as frozen:
            account = self.mailbox(self.salesman)
            self.refuse_login(self.salesman)
            for minutes in range(0, 48 * 60, 5):  # the cron's 5-minute interval
                frozen.move_to(self.start + timedelta(minutes=minutes))
                self.Account.env["mail.sync.scheduler"]._cron_sync()
                if minutes == 0:
                    self.assertEqual(account.state, "error")
                    self.assertEqual(
                        account.next_attempt_date,
                        self.start.replace(microsecond=0) + timedelta(minutes=5),
                        "the form shows the next try",
                    )
                if minutes == 5 * 60:
                    self.assertEqual(self.auth_failures(account), 4)  # 0, 5, 20, 80
                    self.assertEqual(
                        account.next_attempt_date - account.last_attempt_date,
                        timedelta(hours=4),
                    )
            frozen.move_to(self.start + timedelta(hours=48, minutes=1))
            self.Account.env["mail.sync.status"]._cron_update_status()
        self.assertEqual(account.state, "connection", "the 48-hour decay still holds")
        # Every five minutes for 48 hours would be 576 refused logins.
        self.assertEqual(self.auth_failures(account), 15)

    def test_owner_sync_now_or_reconnect_ends_the_backoff(self):
        with frozen_at(self.start) as frozen:
            account = self.mailbox(self.salesman)
            self.refuse_login(self.salesman)
            self.Account.env["mail.sync.scheduler"]._cron_sync()
            self.Account.env["mail.sync.scheduler"]._cron_sync()
            frozen.tick(timedelta(minutes=6))
            self.Account.env["mail.sync.scheduler"]._cron_sync()
            self.assertEqual(self.auth_failures(account), 2)
            self.assertEqual(account.auth_failure_count, 2)
            self.mail.add_user(self.salesman.login, PASSWORD)  # fixed at the provider
            account.with_user(self.admin).action_sync_now()
            account.invalidate_recordset()
            self.assertTrue(account.next_attempt_date, "not the owner's Sync Now")
            account.with_user(self.salesman).action_sync_now()
            self.assertFalse(account.next_attempt_date)
            self.Account.env["mail.sync.scheduler"]._cron_sync()
            self.assertEqual(account.state, "enabled")
            self.assertEqual(self.synced_subjects(), {"Hello salesman"})
            # Historical sync done: the owner's Sync Now tries at once.
            self.refuse_login(self.salesman)
            frozen.tick(timedelta(minutes=6))
            self.Account.env["mail.sync.scheduler"]._cron_sync()
            self.assertTrue(account.next_attempt_date)
            self.mail.add_user(self.salesman.login, PASSWORD)
            self.mail.append(
                self.salesman.login,
                "INBOX",
                make_message(ALICE, self.salesman.email, subject="Now"),
            )
            action = account.with_user(self.salesman).action_sync_now()
            self.assertEqual(action["params"]["type"], "success")
            self.assertIn("Now", self.synced_subjects())
            self.assertFalse(account.next_attempt_date)
            # Reconnecting too.
            self.refuse_login(self.salesman)
            frozen.tick(timedelta(minutes=6))
            self.Account.env["mail.sync.scheduler"]._cron_sync()
            self.assertTrue(account.next_attempt_date)
            self.mail.add_user(self.salesman.login, PASSWORD)
            account.with_user(self.salesman).action_connect()
            self.assertFalse(account.next_attempt_date, "reconnecting tries at once")
            self.assertEqual(account.auth_failure_count, 0)

    # -- Sync Now -------------------------------------------------------------------
    def test_sync_now_on_a_busy_mailbox_says_so(self):
        account = self.mailbox(self.salesman)
        self.Account.env["mail.sync.scheduler"]._cron_sync()
        self.mail.append(
            self.salesman.login, "INBOX", make_message(ALICE, self.salesman.email)
        )
        other = sql_db.db_connect(self.env.cr.dbname).cursor()
        try:
            other.execute(
                "SELECT pg_advisory_lock(%s, %s)", [SYNC_LOCK_NAMESPACE, account.id]
            )
            action = account.with_user(self.salesman).action_sync_now()
        finally:
            other.close()
        self.assertEqual(action["params"]["type"], "warning")
        self.assertIn("already being synced", action["params"]["message"])
        self.assertEqual(len(self.synced_subjects()), 1, "nothing synced meanwhile")
        self.assertEqual(account.state, "enabled")

    def test_failed_sync_now_says_it_failed_and_how_to_fix_it(self):
        account = self.mailbox(self.salesman)
        self.Account.env["mail.sync.scheduler"]._cron_sync()
        with DovecotServer() as gone:
            closed = gone.ssl_port
        # (a new port erases the password: typed again, as the owner would)
        account.sudo().write({"imap_port": closed, "imap_password": PASSWORD})
        action = account.with_user(self.salesman).action_sync_now()
        params = action["params"]
        self.assertEqual(params["type"], "danger")
        self.assertIn("Could not reach", params["message"])
        self.assertIn("How to fix it: Check the host name", params["message"])
        self.assertNotIn("Synced:", params["message"])
        self.assertEqual(account.state, "error")
