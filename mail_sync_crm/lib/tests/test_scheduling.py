"""Tests of lib.sync.scheduling: a scheduled run's time budget, the backoff of refused
logins. Clocks are passed in; nothing is mocked."""

import doctest
from datetime import timedelta

import lib.sync.scheduling
from lib.sync.scheduling import (
    BACKOFF_CODES,
    DEFAULT_RUN_BUDGET,
    RunBudget,
    auth_backoff,
    run_budget_seconds,
)

DECAY = timedelta(hours=48)  # models/mail_sync_status.py CONNECTION_DECAY
CRON_INTERVAL = timedelta(minutes=5)


def test_doctests():
    failures, tried = doctest.testmod(lib.sync.scheduling)
    assert tried and not failures


def logins_until_decay(cron_interval=CRON_INTERVAL):
    """Login attempts a mailbox whose password is wrong makes before the 48-hour
    decay, the cron running every ``cron_interval`` and honouring the backoff."""
    now, attempts, failures, next_try = timedelta(0), 0, 0, timedelta(0)
    while now < DECAY:
        if now >= next_try:
            attempts += 1
            failures += 1
            next_try = now + auth_backoff(failures)
        now += cron_interval
    return attempts


def test_refused_logins_back_off_5_15_60_minutes_then_every_4_hours():
    assert [auth_backoff(n) for n in range(1, 7)] == [
        timedelta(minutes=5),
        timedelta(minutes=15),
        timedelta(hours=1),
        timedelta(hours=4),
        timedelta(hours=4),
        timedelta(hours=4),
    ]
    # Every five minutes for 48 hours was 576 failed logins; now 15.
    assert logins_until_decay() == 15
    assert {"auth_failed", "app_password_required"} <= BACKOFF_CODES
    assert "host_unreachable" not in BACKOFF_CODES  # not the password's fault


def test_budget_default_configured_and_capped_by_the_cron_time_limit():
    assert run_budget_seconds() == DEFAULT_RUN_BUDGET
    assert run_budget_seconds("90") == 90
    assert run_budget_seconds("90", cron_time_limit=120) == 60
    assert run_budget_seconds(None, cron_time_limit=120) == 60  # Odoo's default
    assert run_budget_seconds(None, cron_time_limit=1000) == DEFAULT_RUN_BUDGET
    for invalid in ("", "0", "-5", "soon", False):
        assert run_budget_seconds(invalid) == DEFAULT_RUN_BUDGET
    assert DEFAULT_RUN_BUDGET < CRON_INTERVAL.total_seconds() / 2


def test_budget_starts_the_first_mailbox_and_none_past_the_budget():
    now = [0.0]
    budget = RunBudget(60, clock=lambda: now[0])
    now[0] = 500.0  # the run started late: its first mailbox still starts
    assert budget.allows_next()
    assert not budget.allows_next()
    budget = RunBudget(60, clock=lambda: now[0])
    started = []
    for mailbox, seconds in enumerate((20, 30, 5, 40, 1)):
        if not budget.allows_next():
            break
        started.append(mailbox)
        now[0] += seconds
    # 55 s spent when the fourth starts, 95 s when the fifth would: it does not
    assert started == [0, 1, 2, 3]
    assert budget.elapsed() == 95


def test_budget_stops_at_the_budget_exactly():
    now = [0.0]
    budget = RunBudget(60, clock=lambda: now[0])
    assert budget.allows_next()
    now[0] = 60.0
    assert not budget.allows_next()
