"""When mailboxes are synced: the time budget of a scheduled run and the backoff
of a mailbox whose server refuses its login.

Plain decisions, no Odoo import; ``models/mail_sync_account_run.py`` applies them.

A scheduled run starts mailboxes one after the other while its budget lasts and
leaves the rest to the next run (which takes them first: the cron orders
mailboxes by their last attempt). The first mailbox of a run always starts:

>>> clock = iter([0.0, 10.0, 60.0]).__next__
>>> budget = RunBudget(60, clock=clock)
>>> budget.allows_next(), budget.allows_next(), budget.allows_next()
(True, True, False)

A login refused by the server is tried again later and later (a wrong password
retried every five minutes for two days is ~576 failed logins: providers lock
the account, fail2ban bans the server):

>>> [str(auth_backoff(n)) for n in (1, 2, 3, 4, 9)]
['0:05:00', '0:15:00', '1:00:00', '4:00:00', '4:00:00']

A mailbox's own turn is cut short so that the run ends before Odoo stops the
scheduled action (its time limit, here 120 s; 80% of it is the run's end):

>>> clock = iter([0.0, 50.0]).__next__
>>> RunBudget(60, clock=clock, cron_time_limit=120).turn_cap()
46.0
"""

import time
from datetime import timedelta

__all__ = [
    "AUTH_BACKOFF",
    "BACKOFF_CODES",
    "DEFAULT_RUN_BUDGET",
    "RunBudget",
    "auth_backoff",
    "run_budget_seconds",
]

# Error codes meaning "the server (or the OAuth provider) refused this login":
# retrying soon changes nothing
# and counts as one more failed login at the provider.
BACKOFF_CODES = frozenset(
    {"auth_failed", "app_password_required", "imap_disabled", "oauth_invalid_grant"}
)
# Delay before the next try after the 1st, 2nd, 3rd and any later refused login in a
# row; the 48-hour decay to Connection still applies (about 15 logins in all).
AUTH_BACKOFF = (
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=4),
)
# Seconds a scheduled run may start mailboxes for (the cron runs every 5 minutes).
DEFAULT_RUN_BUDGET = 120
# Share of Odoo's time limit of a scheduled action by which the run has ended.
CRON_LIMIT_SHARE = 0.8
# A turn cut short by the time limit still gets this long (it keeps its progress).
MIN_TURN = 5.0


def auth_backoff(failures: int) -> timedelta:
    """The wait before trying again after ``failures`` refused logins in a row."""
    return AUTH_BACKOFF[min(max(failures, 1), len(AUTH_BACKOFF)) - 1]


def run_budget_seconds(configured=None, cron_time_limit=0) -> float:
    """The budget of a scheduled run: ``configured`` (seconds; empty, invalid or
    not positive: the default), never more than half of ``cron_time_limit``, the
    time after which Odoo stops a scheduled action (0: none), so that the last
    mailbox started has time to finish.

    >>> run_budget_seconds(), run_budget_seconds("300", 120), run_budget_seconds("x")
    (120, 60.0, 120)
    """
    try:
        budget = float(configured) if configured not in (None, "", False) else 0
    except (TypeError, ValueError):
        budget = 0
    if budget <= 0:
        budget = DEFAULT_RUN_BUDGET
    if cron_time_limit and cron_time_limit > 0:
        budget = min(budget, cron_time_limit / 2)
    return budget


class RunBudget:
    """``allows_next()``: whether a run that started when this object was made may
    start one more mailbox. The first call always says yes."""

    def __init__(self, seconds: float, clock=None, cron_time_limit=0):
        self.seconds = seconds
        self.cron_time_limit = max(0, cron_time_limit)
        # looked up at each call, so that a test's frozen clock applies
        self.clock = clock or (lambda: time.monotonic())
        self.started = self.clock()
        self.calls = 0

    def elapsed(self) -> float:
        return self.clock() - self.started

    def allows_next(self) -> bool:
        self.calls += 1
        return self.calls == 1 or self.elapsed() < self.seconds

    def turn_cap(self) -> float | None:
        """The longest the next mailbox's turn may last for the run to end
        before Odoo's time limit of the scheduled action (None: no limit)."""
        if not self.cron_time_limit:
            return None
        left = self.cron_time_limit * CRON_LIMIT_SHARE - self.elapsed()
        return max(left, MIN_TURN)
