# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""One mailbox's work measured among a fleet of others (issue #23): its
Connect, its first turn, its check for news and an incremental turn, each as
the SQL statements it ran (``mail_sync_testing.fleet.QueryLog``), with the
fleet's other mailboxes copied in SQL from a real synced one
(``mail_sync_testing.fleet.clone_mailbox``). Used by
``test_fleet_scale.py`` and ``scripts/profile_turn.py``."""

import datetime
import gc
from unittest import mock

from odoo import fields

from mail_sync_testing import make_message
from mail_sync_testing.fleet import QueryLog, clone_mailbox

from ..lib.sync import scheduling

HISTORY = 20  # messages in a mailbox's Inbox, every fourth from its lead
START = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
STEPS = ("connect", "first turn", "check for news", "turn", "claim")


def history(sender, to, tag, count=HISTORY, first=0):
    """``count`` messages to ``to``, every fourth from ``sender``."""
    return [
        (
            make_message(
                sender if i % 4 == 0 else f"someone{i}@vendor.example",
                to,
                subject=f"{tag} {i}",
                message_id=f"<{tag}-{i}@fleet.example>",
                date=START + datetime.timedelta(hours=i),
            ),
            START + datetime.timedelta(hours=i),
        )
        for i in range(first, first + count)
    ]


class FleetScenario:
    """``env`` (superuser), ``mail`` (the DovecotServer of the mailboxes),
    ``connect_values(user)``: what a user types in their mailbox's form."""

    def __init__(self, env, mail, connect_values, same_login=False):
        self.env = env
        # the copies log in as the template on the server (a whole run then
        # checks them for real), or as nobody
        self.same_login = same_login
        self.mail = mail
        self.connect_values = connect_values
        self.template = None
        self.size = 0  # mailboxes copied from the template so far
        self.news = 0

    def _lead(self, address):
        return self.env["crm.lead"].create(
            {"name": f"Deal {address}", "type": "opportunity", "email_from": address}
        )

    def fill(self, user, lead_address, tag):
        """``user``'s Inbox on the server: the history, a quarter from the lead."""
        self.mail.fill_maildir(
            user.login, "INBOX", history(lead_address, user.email, tag)
        )
        self.mail.fill_maildir(user.login, "Sent", [])

    def make_template(self, user, lead_address):
        """``user``'s mailbox connected and synced for real: what each copy is."""
        self._lead(lead_address)
        self.fill(user, lead_address, f"template-{user.login}")
        account = (
            self.env["mail.sync.account"]
            .with_user(user)
            .create(self.connect_values(user))
        )
        account.action_connect()
        self.env["mail.sync.scheduler"]._claim_turn(account.sudo())
        self.env.flush_all()
        self.template = account.sudo()
        return self.template

    def grow(self, size):
        """Copies of the template until the fleet has ``size`` of them."""
        if size > self.size:
            self.env.flush_all()
            clone_mailbox(
                self.env.cr,
                self.template.id,
                size - self.size,
                self.size + 1,
                keep=("imap_login", "smtp_login") if self.same_login else (),
            )
            self.size = size
            self.env.invalidate_all()

    def _cold(self):
        """Every step starts with no record cached: the same work whatever ran
        before it (a first measure warms the registry's caches). The
        environments of earlier steps are collected: one left alive keeps
        what it computed lazily (``env.company``), one collected does not,
        as the garbage collector happens to run."""
        self.env.flush_all()
        self.env.invalidate_all()
        gc.collect()

    def _aged(self, account_id):
        """The mailbox's moments of the last step a minute earlier, so that the
        next step writes its own (a step in the same second as the one before
        would find them equal, and write less)."""
        self.env.flush_all()
        self.env.cr.execute(
            """UPDATE mail_sync_account SET
                      last_attempt_date = last_attempt_date - interval '1 minute',
                      last_sync_date = last_sync_date - interval '1 minute'
                WHERE id = %s""",
            [account_id],
        )
        self.env.cr.execute(
            """UPDATE mail_sync_folder SET
                      server_checked_date = server_checked_date - interval '1 minute',
                      caught_up_date = caught_up_date - interval '1 minute'
                WHERE account_id = %s""",
            [account_id],
        )
        self._cold()

    def measure(self, user, lead_address):
        """{step: QueryLog} of ``user``'s mailbox (its server filled with the
        history, a quarter of it from ``lead_address``): Connect, first turn,
        check for news after one new message from the lead, its turn (the
        claim: the turn and the claim around it)."""
        Account = self.env["mail.sync.account"]
        self._lead(lead_address)
        self.fill(user, lead_address, f"history-{user.login}")
        account = Account.with_user(user).create(self.connect_values(user))
        logs = {}
        self._cold()
        with QueryLog() as logs["connect"]:
            account.action_connect()
        self._aged(account.id)
        logs["claim (first turn)"], logs["first turn"] = self._claim(account.id, 1)
        self.mail.fill_maildir(
            user.login,
            "INBOX",
            history(lead_address, user.email, f"new-{user.login}", 1, first=100),
        )
        self._aged(account.id)
        with QueryLog() as logs["check for news"]:
            news = self.env["mail.sync.news"]._check(
                Account.sudo().browse([account.id]),
                2,
                fields.Datetime.now(),
                scheduling.RunBudget(3600),
                False,
                {},
            )
        assert news == [account.id], f"the check found no news: {news}"
        self._aged(account.id)
        logs["claim"], logs["turn"] = self._claim(account.id, 3)
        return logs

    def news_for_copies(self, sender="nobody@vendor.example"):
        """One new message in the template's Inbox, from ``sender``: news for
        every copy that logs in as the template (``same_login``)."""
        self.news += 1
        self.mail.fill_maildir(
            self.template.imap_login,
            "INBOX",
            [
                (
                    make_message(
                        sender,
                        self.template.email,
                        subject=f"News {self.news}",
                        message_id=f"<news-{self.news}@fleet.example>",
                    ),
                    START,
                )
            ],
        )

    def reads_ahead_of_a_run(self):
        """[(rows of mailboxes, rows of folders)] read by each read-ahead
        (``_read_ahead``) of a scheduled run, in order: the most rows one
        statement read from each table."""
        Scheduler = type(self.env["mail.sync.scheduler"])
        read_ahead, reads = Scheduler._read_ahead, []

        def measured(model, account, *args, **kwargs):
            with QueryLog() as log:
                result = read_ahead(model, account, *args, **kwargs)
            reads.append(
                tuple(
                    max(
                        [0]
                        + [
                            s.rows
                            for s in log.statements
                            if s.shape.startswith("SELECT")
                            and f'FROM "{table}"' in s.shape
                        ]
                    )
                    for table in ("mail_sync_account", "mail_sync_folder")
                )
            )
            return result

        self._cold()
        with mock.patch.object(Scheduler, "_read_ahead", measured):
            self.env["mail.sync.scheduler"]._cron_sync()
        return reads

    def measure_run(self):
        """A whole scheduled run (every mailbox due checked for news)."""
        self._cold()
        with QueryLog() as log:
            self.env["mail.sync.scheduler"]._cron_sync()
        return log

    def _claim(self, account_id, sync_round):
        """The claim of a scheduled run and, within it, the turn."""
        Turn = type(self.env["mail.sync.turn"])
        take = Turn._take
        turn = QueryLog()

        def measured_take(model, *args, **kwargs):
            with turn:
                return take(model, *args, **kwargs)

        # sudo: the scheduled run's own environment (superuser), as the cron's.
        account = self.env["mail.sync.account"].sudo().browse(account_id)
        with mock.patch.object(Turn, "_take", measured_take), QueryLog() as claim:
            outcome = self.env["mail.sync.scheduler"]._claim_turn(
                account,
                due_before=fields.Datetime.now(),
                sync_round=sync_round,
            )
        assert outcome is None, f"the turn did not work: {outcome}"
        return claim, turn
