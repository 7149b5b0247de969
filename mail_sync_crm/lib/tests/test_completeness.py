"""A mailbox's completeness: the arithmetic (``lib/sync/completeness.py``) and
the reconciliation's count of a real Dovecot (``lib/imap/news.py``
``count_mailbox``)."""

import datetime
import doctest
import time

from lib.imap import news as imap_news
from lib.imap.news import KnownFolder, PollTarget
from lib.sync import completeness
from lib.sync.completeness import FolderFigures

from mail_sync_testing import make_message

T = datetime.datetime(2026, 12, 7, 12, 0)
MINUTE = datetime.timedelta(minutes=1)


def test_doctests():
    failures, tried = doctest.testmod(completeness)
    assert tried and not failures


def test_the_figures_add_up():
    figures = FolderFigures(on_server=120, unscanned=20, recorded=30, held=2)
    assert figures.scanned == 100
    assert figures.skipped_count == 68, "scanned, neither recorded nor held"
    assert figures.percent == 83.3
    counted = FolderFigures(on_server=120, unscanned=0, recorded=30, held=2, skipped=88)
    assert counted.skipped_count == 88, "the skip counts, where kept, are the figure"


def test_more_not_yet_scanned_than_on_the_server_is_none_scanned():
    assert FolderFigures(on_server=3, unscanned=5, recorded=0, held=0).scanned == 0
    assert completeness.completeness_percent(0, 3) == 0.0


def test_a_message_with_an_old_date_waits_since_the_folder_was_caught_up():
    # appended today with a date of last year: not a year of lag
    since = completeness.waiting_since(
        datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc),
        caught_up=T - 10 * MINUTE,
        seen=T,
    )
    assert since == T - 10 * MINUTE
    assert completeness.lag_seconds(since, T) == 600


def test_a_date_in_the_future_waits_since_it_was_seen():
    since = completeness.waiting_since(T + 60 * MINUTE, caught_up=None, seen=T)
    assert since == T
    assert completeness.lag_seconds(since, T) == 0


def test_aware_and_naive_moments_compare():
    aware = (T - 5 * MINUTE).replace(tzinfo=datetime.timezone.utc)
    assert completeness.waiting_since(aware, caught_up=None, seen=T) == T - 5 * MINUTE
    assert completeness.lag_seconds(aware, T) == 300


def test_falling_behind_at_the_threshold():
    assert not completeness.falling_behind(1800, 1800, 0, 0), "at it: not above"
    assert completeness.falling_behind(1801, 1800, 0, 0)
    assert not completeness.falling_behind(0, 1800, 3, None), "no count before"
    assert completeness.lag_threshold_seconds("-2") == 1800
    assert completeness.lag_threshold_seconds(" 90 ") == 5400


def _known(server, login):
    client = server.connect(login)
    try:
        known = []
        for name in ("INBOX", "Sent"):
            info = client.select_folder(name, readonly=True)
            known.append(KnownFolder(name, info[b"UIDVALIDITY"], info[b"UIDNEXT"] - 1))
        return tuple(known)
    finally:
        client.logout()


def test_the_reconciliation_counts_what_is_above_the_checkpoint(dovecot):
    """Three messages synced; two arrive after: the count says 5 on the
    server, 2 above the checkpoint, the first of them dated when it came."""
    to = "alice@example.com"
    for subject in ("one", "two", "three"):
        dovecot.append(
            "alice", "INBOX", make_message("a@example.com", to, subject=subject)
        )
    dovecot.fill_maildir("alice", "Sent", [])
    known = _known(dovecot, "alice")
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    time.sleep(1)  # INTERNALDATE has whole seconds
    for subject in ("four", "five"):
        dovecot.append(
            "alice", "INBOX", make_message("a@example.com", to, subject=subject)
        )
    target = PollTarget("alice", dovecot.client_settings("alice"), known)
    result = imap_news.count_mailbox(target)
    assert result.error is None and result.news
    inbox, sent = result.counts["INBOX"], result.counts["Sent"]
    assert (inbox.status.exists, inbox.above) == (5, 2)
    assert inbox.first_above_date >= before
    assert (sent.status.exists, sent.above, sent.first_above_date) == (0, 0, None)


def test_a_renumbered_folder_is_all_above_its_checkpoint(dovecot):
    dovecot.fill_maildir(
        "alice", "INBOX", [make_message("a@example.com", "alice@example.com")] * 2
    )
    dovecot.fill_maildir("alice", "Sent", [])
    inbox, sent = _known(dovecot, "alice")
    dovecot.set_uidvalidity("alice", "INBOX", inbox.uidvalidity + 5)
    target = PollTarget("alice", dovecot.client_settings("alice"), (inbox, sent))
    count = imap_news.count_mailbox(target).counts["INBOX"]
    assert (count.status.exists, count.above) == (2, 2)


def test_a_refused_login_is_the_results_error(dovecot):
    dovecot.fill_maildir("alice", "Sent", [])
    known = _known(dovecot, "alice")
    settings = dovecot.client_settings("alice", password="wrong")
    result = imap_news.count_mailbox(PollTarget("alice", settings, known))
    assert result.error is not None and result.error.code == "auth_failed"
    assert not result.counts
