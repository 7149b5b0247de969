# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Three real Odoo processes run the scheduled sync at the same time on one
database (as the cron threads of three Odoo servers would): they divide the
mailboxes between them, each due mailbox is tried by exactly one of them, no
message is recorded twice, and none of them fails."""

import os
import time

from odoo.tests import tagged

from mail_sync_testing import LatencyProxy, make_message

from .odoo_process_case import OdooProcessCase

MAILBOXES = 18
LOGINS = tuple(f"fleet_{n:02d}" for n in range(MAILBOXES))
RACERS = ("a", "b", "c")
LEAD = "buyer@fleet-prospect.example.com"

SETUP = """
lead = env["crm.lead"].search([("email_from", "=", ARGS["lead"])]) or env[
    "crm.lead"
].create({"name": "Fleet deal", "type": "opportunity", "email_from": ARGS["lead"]})
env["ir.config_parameter"].sudo().set_param("mail_sync_crm.poll_pool_size", "2")
env.cr.commit()
# A lead gets the history of the mailboxes connected after it: not in the same
# second (the connect time is kept to the second, the lead's to the microsecond).
time.sleep(1.1)
for login in ARGS["logins"]:
    mailbox(login).action_connect()
    env.cr.commit()
result(lead=lead.id)
"""

# Each racer records the mailboxes it tried: checked for news (idle or
# failed), or claimed and synced. Each mailbox's work is made to last 0.2 s
# more (held), as a bigger mailbox's would: the runs overlap whatever this
# machine's speed, and a racer a little late to start still finds work.
RACE = """
News = type(env["mail.sync.news"])
Scheduler = type(env["mail.sync.scheduler"])
tried = []
checked, claim = News._checked, Scheduler._claim_turn
def spy_checked(self, accounts, results, *args):
    tried.extend(r.key for r in results if not r.news or r.error)
    time.sleep(0.2 * len(results))
    return checked(self, accounts, results, *args)
def spy_claim(self, account, *args, **kwargs):
    outcome = claim(self, account, *args, **kwargs)
    if outcome not in ("busy", "not_due"):
        tried.append(account.id)
        time.sleep(0.2)
    return outcome
News._checked, Scheduler._claim_turn = spy_checked, spy_claim
# the mailboxes whose IMAP reads this racer did ahead of their turns
from odoo.addons.mail_sync_crm.lib.imap import read_ahead as imap_read_ahead
read_ahead = []
submit = imap_read_ahead.ReadAheadPool.submit
def spy_submit(self, key, *args, **kwargs):
    read_ahead.append(key)
    return submit(self, key, *args, **kwargs)
imap_read_ahead.ReadAheadPool.submit = spy_submit
env.cr.commit()
open(os.path.join(ARGS["workdir"], "ready-" + ARGS["name"]), "w").close()
wait_for(os.path.join(ARGS["workdir"], "go-" + ARGS["round"]))
env["mail.sync.scheduler"]._cron_sync()
env.cr.commit()
result(tried=tried, read_ahead=read_ahead)
"""


# Claims a batch of mailboxes for a check, says so, and hangs there (a worker
# stuck or about to be killed).
HANG = """
Account = env["mail.sync.account"]
held = env["mail.sync.scheduler"]._try_locks(Account.search([], order="id"), True)
open(os.path.join(ARGS["workdir"], "holding"), "w").close()
result(held=held.ids)
wait_for(os.path.join(ARGS["workdir"], "never"))
"""


# Odoo's own scheduler calls the sync as _run_job does (a progress record,
# committed, the callback, a commit). The k-th turn ends 2 k seconds after the
# first began, so that a budget of 3 s is spent after two turns, whatever this
# machine's speed, with the next mailboxes held for their reads ahead.
BUDGET_SPENT = """
env["ir.config_parameter"].sudo().set_param("mail_sync_crm.cron_budget_seconds", "3")
env["ir.config_parameter"].sudo().set_param("mail_sync_crm.poll_pool_size", "2")
Scheduler = type(env["mail.sync.scheduler"])
claim = Scheduler._claim_turn
turns = []
def slow_claim(self, account, *args, **kwargs):
    first = turns[0][1] if turns else time.monotonic()
    outcome = claim(self, account, *args, **kwargs)
    turns.append((account.id, first))
    time.sleep(max(0, first + 2 * len(turns) - time.monotonic()))
    return outcome
Scheduler._claim_turn = slow_claim
cron = env.ref("mail_sync_crm.ir_cron_mail_sync")
cron, progress = cron._add_progress()
env.cr.commit()
cron._callback(cron.cron_name, cron.ir_actions_server_id.id)
env.cr.commit()
progress.invalidate_recordset()
env.cr.execute(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
    " AND classid = 28019 AND objsubid = 2 AND pid = pg_backend_pid()"
)
held = env.cr.fetchone()[0]
result(turns=len(turns), done=progress.done, remaining=progress.remaining, held=held)
"""


@tagged("post_install", "-at_install")
class TestFleetAcrossProcesses(OdooProcessCase):
    LOGINS = LOGINS

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # 10 ms each way: each mailbox takes a few round trips' time, so that
        # the runs overlap as they do with real servers.
        cls.proxy = LatencyProxy(cls.imap.host, cls.imap.ssl_port, delay=0.01)
        cls.proxy.start()
        cls.addClassCleanup(cls.proxy.stop)

    def setUp(self):
        super().setUp()
        # each test's processes have a key of their own (their data directory):
        # the next test connects its mailboxes afresh
        self.addCleanup(self.db.sql, "DELETE FROM mail_sync_account")

    def deliver(self, logins, tag, count=1):
        for login in logins:
            self.imap.fill_maildir(
                login,
                "INBOX",
                [
                    make_message(
                        LEAD,
                        f"{login}@example.com",
                        subject=f"{tag} {n}",
                        message_id=f"<{tag}-{n}-{login}@fleet.example>",
                    )
                    for n in range(count)
                ],
            )

    def race(self, name):
        """The three racers' scheduled runs, started at the same instant: the
        mailboxes each tried. The IMAP reads done ahead of the turns are
        divided too: no mailbox is read ahead by two racers (each process
        reads ahead only the mailboxes it holds)."""
        racers = [
            self.start(RACE, name=racer, round=name, imap_port=self.proxy.port)
            for racer in RACERS
        ]
        deadline = time.monotonic() + 150
        ready = [os.path.join(self.workdir, f"ready-{racer}") for racer in RACERS]
        while not all(os.path.exists(path) for path in ready):
            self.assertLess(time.monotonic(), deadline, "the processes never started")
            time.sleep(0.05)
        for path in ready:
            os.remove(path)
        open(os.path.join(self.workdir, f"go-{name}"), "w").close()
        outcomes = [racer.finish() for racer in racers]
        for _results, log in outcomes:
            self.assertNotIn("SerializationFailure", log)
            self.assertNotIn("Traceback", log)
            self.assertNotIn(" ERROR ", log)
        read_ahead = [results["read_ahead"] for results, _log in outcomes]
        for part in read_ahead:
            self.assertEqual(len(part), len(set(part)), "read ahead once per racer")
        everyone = [key for part in read_ahead for key in part]
        self.assertEqual(
            len(everyone), len(set(everyone)), f"read ahead by two: {read_ahead}"
        )
        self.read_ahead = set(everyone)
        return [set(results["tried"]) for results, _log in outcomes]

    def assert_divided(self, tried, accounts):
        everyone = set().union(*tried)
        self.assertEqual(everyone, accounts, "every due mailbox tried")
        self.assertEqual(
            sum(len(part) for part in tried), len(accounts), "none tried twice"
        )
        for part in tried:
            self.assertTrue(part, f"each process did part of the work: {tried}")

    def chatter(self, tag):
        """{Message-ID: times on the lead's chatter} of the messages ``tag``"""
        rows = self.db.sql(
            """SELECT m.message_id, count(*) FROM mail_message m
                 JOIN crm_lead l ON l.id = m.res_id AND m.model = 'crm.lead'
                WHERE l.email_from = :'p1' AND m.message_id LIKE :'p2'
             GROUP BY m.message_id""",
            LEAD,
            f"<{tag}-%",
        )
        return {message_id: int(count) for message_id, count in rows}

    def test_three_processes_divide_the_mailboxes_and_sync_each_once(self):
        self.deliver(LOGINS, "history", count=3)
        self.run_odoo(SETUP, lead=LEAD, logins=LOGINS, imap_port=self.proxy.port)
        accounts = {
            int(row[0]) for row in self.db.sql("SELECT id FROM mail_sync_account")
        }
        self.assertEqual(len(accounts), MAILBOXES)
        # The first run: every mailbox's history.
        self.assert_divided(self.race("history"), accounts)
        self.assertTrue(self.read_ahead, "the histories were read ahead")
        chatter = self.chatter("history")
        self.assertEqual(len(chatter), 3 * MAILBOXES)
        self.assertEqual(set(chatter.values()), {1}, "no message recorded twice")
        # A later run: a third of the mailboxes have new mail, the others are
        # checked for news and found idle.
        self.deliver(LOGINS[::3], "news")
        self.assert_divided(self.race("news"), accounts)
        chatter = self.chatter("news")
        self.assertEqual(len(chatter), len(LOGINS[::3]))
        self.assertEqual(set(chatter.values()), {1}, "no message recorded twice")
        states = self.db.sql("SELECT DISTINCT state FROM mail_sync_account")
        self.assertEqual(states, [["enabled"]])

    def test_a_dead_workers_mailboxes_are_synced_by_the_next_run(self):
        """A worker holding mailboxes dies (SIGKILL, no cleanup): the database
        ends its session, and the next run of another process syncs them."""
        logins = LOGINS[:4]
        self.deliver(logins, "before-crash")
        self.run_odoo(SETUP, lead=LEAD, logins=logins, imap_port=self.proxy.port)
        hanging = self.start(HANG)
        holding = os.path.join(self.workdir, "holding")
        deadline = time.monotonic() + 150
        while not os.path.exists(holding):
            self.assertLess(time.monotonic(), deadline, "the worker never claimed")
            time.sleep(0.05)
        held = self.db.sql(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
            " AND classid = 28019 AND objsubid = 2 AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = :'p1')",
            self.db.name,
        )
        self.assertEqual(held, [[str(len(logins))]], "the worker holds them")
        hanging.process.kill()
        hanging.process.wait()
        tried = self.race("after-crash")
        self.assertEqual(set().union(*tried), self.accounts())
        self.assertEqual(
            self.db.sql("SELECT state, last_error FROM mail_sync_account"),
            [["enabled", ""]] * len(logins),
        )
        chatter = self.chatter("before-crash")
        self.assertEqual(len(chatter), len(logins))
        self.assertEqual(set(chatter.values()), {1})

    def test_a_run_whose_budget_is_spent_tells_odoo_nothing_remains(self):
        """Odoo's scheduler runs a job again at once (up to 10 times) while it
        says work remains: a run that spent its budget says nothing remains,
        the mailboxes it held for their reads ahead released, and the next
        scheduled run goes on."""
        logins = LOGINS[:5]
        self.deliver(logins, "budget")
        self.run_odoo(SETUP, lead=LEAD, logins=logins, imap_port=self.proxy.port)
        results, log = self.start(BUDGET_SPENT, imap_port=self.proxy.port).finish()
        self.assertNotIn("Traceback", log)
        self.assertEqual(results["turns"], 2, "the budget lasts two turns")
        self.assertEqual((results["done"], results["remaining"]), (2, 0))
        self.assertEqual(results["held"], 0, "the mailboxes read ahead released")
        self.assertEqual(len(self.chatter("budget")), 2)

    def accounts(self):
        return {int(row[0]) for row in self.db.sql("SELECT id FROM mail_sync_account")}
