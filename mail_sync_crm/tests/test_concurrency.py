# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Real separate Odoo processes syncing at the same time, against one database.

Each test drives two worker processes (``race_worker.py``) on a throwaway copy of
the test database (``odoo_processes.py``), with real Dovecot mailboxes whose
owners share correspondents (the same message, same Message-ID, in several
mailboxes), and checks what a user would see: every (Message-ID, lead) pair on
the lead's chatter exactly once, every mailbox's ledger complete, no error
raised by either process and none logged.
"""

import contextlib
import datetime
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

from odoo import sql_db
from odoo.tests import BaseCase, tagged
from odoo.tests.common import get_db_name

from mail_sync_testing import DovecotServer, SmtpServer, make_message

from ..models.advisory_locks import MAILBOX_SYNC as SYNC_LOCK_NAMESPACE
from .common import started
from .odoo_processes import ThrowawayDatabase, write_config

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "race_worker.py")
PASSWORD = "R4ce-pa55word!"
ANSWER_TIMEOUT = 300  # seconds a worker may take to answer before the test gives up
# (scenario, mailbox owners): each scenario has its own mailboxes and leads.
SCENARIOS = {
    "crons": ("race_a", "race_b", "race_c"),
    "another": ("race_d", "race_e"),
    "same": ("race_f",),
}


class Worker:
    """One ``race_worker.py`` process: a registry of the race database."""

    def __init__(self, conf, database, logfile):
        self.logfile = logfile
        self.process = subprocess.Popen(
            [sys.executable, WORKER, conf, database, logfile],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.answer()

    def send(self, **command):
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def ready(self):
        """Whether an answer is waiting."""
        return bool(select.select([self.process.stdout], [], [], 0)[0])

    def answer(self):
        ready, _w, _x = select.select([self.process.stdout], [], [], ANSWER_TIMEOUT)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            raise AssertionError(
                f"worker {self.process.pid} did not answer; its log ends with:\n"
                + self.log()[-3000:]
            )
        return json.loads(line)

    def call(self, **command):
        self.send(**command)
        return self.answer()

    def log(self, start=0):
        with open(self.logfile, encoding="utf-8", errors="replace") as file:
            file.seek(start)
            return file.read()

    def log_size(self):
        return os.path.getsize(self.logfile)

    def stop(self):
        with contextlib.suppress(OSError, ValueError):
            self.send(cmd="quit")
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@tagged("post_install", "-at_install")
class TestConcurrentSync(BaseCase):
    """Two real Odoo processes syncing one database at the same time."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        database = ThrowawayDatabase(get_db_name()).build()
        cls.addClassCleanup(database.drop)
        cls.db = database.name
        cls.addClassCleanup(sql_db.close_db, cls.db)
        cls.tmp = tempfile.mkdtemp(prefix="mail-sync-race-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        # A configuration file and a data directory (filestore, key) of their own.
        cls.conf = os.path.join(cls.tmp, "etc", "odoo.conf")
        write_config(cls.conf, cls.db, os.path.join(cls.tmp, "data"))
        cls.imap = started(DovecotServer(), cls.addClassCleanup)
        cls.smtp = started(SmtpServer(), cls.addClassCleanup)
        users, leads = [], []
        cls.leads = {}  # scenario -> {correspondent email: (lead name, opp name)}
        for scenario, owners in SCENARIOS.items():
            for login in owners:
                cls.imap.add_user(login, PASSWORD)
                cls.smtp.add_user(login, PASSWORD)
                users.append((login, cls.email(login), PASSWORD))
            cls.leads[scenario] = {}
            for n in range(12):
                address = f"contact{n}@{scenario}.corr.example.net"
                names = (f"{scenario} lead {n}", f"{scenario} deal {n}")
                cls.leads[scenario][address] = names
                leads += [
                    (names[0], "lead", address),
                    (names[1], "opportunity", address),
                ]
        cls.workers = [cls._start_worker(0)]
        setup = cls.workers[0].call(
            cmd="setup",
            users=users,
            leads=leads,
            servers={
                "host": cls.imap.host,
                "imap_port": cls.imap.ssl_port,
                "smtp_port": cls.smtp.ssl_port,
            },
        )
        assert setup["ok"], setup.get("error")
        cls.accounts = setup["accounts"]
        # The second process starts once the first has connected the mailboxes
        # (and so made sure of the key their passwords are encrypted with).
        cls.workers.append(cls._start_worker(1))
        cls.serial = 0

    @classmethod
    def _start_worker(cls, number):
        worker = Worker(cls.conf, cls.db, os.path.join(cls.tmp, f"worker-{number}.log"))
        cls.addClassCleanup(worker.stop)
        return worker

    def setUp(self):
        super().setUp()
        self.log_start = [worker.log_size() for worker in self.workers]

    # -- helpers ----------------------------------------------------------------
    @staticmethod
    def email(login):
        return f"{login}@sales.example.org"

    def deliver(self, scenario, count):
        """``count`` new messages, each from one of the scenario's correspondents
        to all its mailbox owners, in each owner's Inbox. Returns the pairs
        (Message-ID, correspondent) delivered."""
        owners = SCENARIOS[scenario]
        correspondents = sorted(self.leads[scenario])
        delivered = []
        messages = []
        start = datetime.datetime(2024, 1, 1)
        for n in range(count):
            TestConcurrentSync.serial += 1
            address = correspondents[n % len(correspondents)]
            message_id = f"<race-{self.serial}@{scenario}.corr.example.net>"
            messages.append(
                make_message(
                    address,
                    [self.email(login) for login in owners],
                    subject=f"{scenario} {self.serial}",
                    message_id=message_id,
                    date=start + datetime.timedelta(minutes=self.serial),
                )
            )
            delivered.append((message_id, address))
        for login in owners:
            self.imap.fill_maildir(login, "INBOX", messages)
        return delivered

    @contextlib.contextmanager
    def race_db(self):
        cr = sql_db.db_connect(self.db).cursor()
        try:
            yield cr
        finally:
            cr.close()

    def lead_ids(self, scenario):
        """{correspondent email: {lead id, opportunity id}}"""
        names = {
            name: address
            for address, pair in self.leads[scenario].items()
            for name in pair
        }
        with self.race_db() as cr:
            cr.execute(
                "SELECT id, name FROM crm_lead WHERE name = ANY(%s)", [list(names)]
            )
            leads = {}
            for lead, name in cr.fetchall():
                leads.setdefault(names[name], set()).add(lead)
        return leads

    def assert_exactly_once(self, scenario, delivered):
        """Every delivered (Message-ID, lead) pair is on the chatter exactly once,
        every mailbox of the scenario has it in its ledger, no mailbox failed."""
        leads = self.lead_ids(scenario)
        expected = {
            (message_id, lead)
            for message_id, address in delivered
            for lead in leads[address]
        }
        accounts = [self.accounts[login] for login in SCENARIOS[scenario]]
        with self.race_db() as cr:
            cr.execute(
                """SELECT message_id, res_id, count(*) FROM mail_message
                    WHERE model = 'crm.lead' AND res_id = ANY(%s)
                      AND message_id LIKE '<race-%%'
                 GROUP BY message_id, res_id""",
                [sorted(set().union(*leads.values()))],
            )
            on_chatter = {(m, lead): n for m, lead, n in cr.fetchall()}
            cr.execute(
                """SELECT account_id, message_id, lead_id FROM mail_sync_message
                    WHERE account_id = ANY(%s)""",
                [accounts],
            )
            ledger = {}
            for account, message_id, lead in cr.fetchall():
                ledger.setdefault(account, set()).add((message_id, lead))
            cr.execute(
                """SELECT id, state, last_error FROM mail_sync_account
                    WHERE id = ANY(%s)""",
                [accounts],
            )
            states = cr.fetchall()
        duplicated = {pair: n for pair, n in on_chatter.items() if n > 1}
        self.assertEqual(
            len(duplicated), 0, f"{len(duplicated)} pairs on a chatter more than once"
        )
        self.assertEqual(set(on_chatter), expected, "every pair on its chatter")
        for account in accounts:
            self.assertEqual(ledger.get(account, set()), expected, "ledger complete")
        for account, state, error in states:
            self.assertEqual(state, "enabled", f"mailbox {account}: {error}")

    def assert_clean_logs(self):
        for worker, start in zip(self.workers, self.log_start, strict=True):
            log = worker.log(start)
            for line in log.splitlines():
                self.assertNotIn(" ERROR ", line)
                self.assertNotIn(" CRITICAL ", line)
            self.assertNotIn("Traceback", log)

    def run_crons(self, **command):
        """The scheduled sync in both processes at once, each in a transaction
        that had already read the mailboxes (as a cron job's has)."""
        for worker in self.workers:
            self.assertTrue(worker.call(cmd="begin")["ok"])
        for worker in self.workers:
            worker.send(cmd="cron", **command)
        return [worker.answer() for worker in self.workers]

    def holds_sync_lock(self, account):
        with self.race_db() as cr:
            cr.execute(
                """SELECT 1 FROM pg_locks
                    WHERE locktype = 'advisory' AND granted AND classid = %s
                      AND objid = %s AND objsubid = 2""",
                [SYNC_LOCK_NAMESPACE, account],
            )
            return bool(cr.fetchone())

    def catch_up(self):
        """One process runs the scheduled sync alone (historical syncs done)."""
        answer = self.workers[0].call(cmd="cron")
        self.assertTrue(answer["ok"], answer.get("error"))

    # -- tests ------------------------------------------------------------------
    def test_two_cron_processes_record_each_pair_once(self):
        """Three mailboxes sharing every message, two processes running the
        scheduled sync at once, twice (the historical sync, then new mail)."""
        delivered = self.deliver("crons", 150)
        for answer in self.run_crons(batch_size=20):
            self.assertTrue(answer["ok"], answer.get("error"))
        self.assert_exactly_once("crons", delivered)
        delivered += self.deliver("crons", 60)
        for answer in self.run_crons(batch_size=10):
            self.assertTrue(answer["ok"], answer.get("error"))
        self.assert_exactly_once("crons", delivered)
        self.assert_clean_logs()

    def test_cron_in_an_older_transaction_than_another_run(self):
        """A process whose transaction began before another process synced the
        mailboxes runs the scheduled sync: no serialization error escapes."""
        self.catch_up()
        for worker in self.workers:
            self.assertTrue(worker.call(cmd="begin")["ok"])
        first = self.workers[0].call(cmd="cron")
        self.assertTrue(first["ok"], first.get("error"))
        second = self.workers[1].call(cmd="cron")
        self.assertTrue(second["ok"], second.get("error"))
        self.assert_clean_logs()

    def test_sync_now_of_another_mailbox_during_the_cron(self):
        self.catch_up()
        delivered = self.deliver("another", 120)
        cron, sync_now = self.workers
        self.assertTrue(cron.call(cmd="begin")["ok"])
        cron.send(cmd="cron", batch_size=10)
        answer = sync_now.call(cmd="sync_now", login="race_e")
        self.assertTrue(answer["ok"], answer.get("error"))
        self.assertIn(answer["notification"]["type"], ("success", "warning"))
        ran = cron.answer()
        self.assertTrue(ran["ok"], ran.get("error"))
        self.catch_up()  # whatever Sync Now found busy is synced now
        self.assert_exactly_once("another", delivered)
        self.assert_clean_logs()

    def test_sync_now_while_the_cron_syncs_the_same_mailbox(self):
        """Sync Now waits for nothing and breaks nothing: the mailbox is busy,
        it says so."""
        self.catch_up()
        delivered = self.deliver("same", 200)
        account = self.accounts["race_f"]
        cron, sync_now = self.workers
        cron.send(cmd="cron", batch_size=5)
        while not self.holds_sync_lock(account) and not cron.ready():
            time.sleep(0.01)  # until the cron is on the mailbox (or done)
        answer = sync_now.call(cmd="sync_now", login="race_f")
        still_held = self.holds_sync_lock(account)
        self.assertTrue(answer["ok"], answer.get("error"))
        notification = answer["notification"]
        if still_held:  # the cron held the mailbox all along
            self.assertEqual(notification["type"], "warning", notification)
            self.assertIn("already", notification["message"])
        else:
            self.assertNotEqual(notification["type"], "danger", notification)
        ran = cron.answer()
        self.assertTrue(ran["ok"], ran.get("error"))
        self.assert_exactly_once("same", delivered)
        self.assert_clean_logs()
