"""Many mailboxes checked at once for news (``lib/imap/news.py``), against a
real Dovecot: which ones have news, and what a failing server costs."""

import doctest

import pytest
from lib.imap import news as imap_news
from lib.imap.news import KnownFolder, PollTarget

from mail_sync_testing import LatencyProxy, make_message

PASSWORD = "secret"
USERS = [f"user{n}" for n in range(12)]
DRIP = 0.5  # seconds per byte: a server that never gets anywhere


@pytest.fixture
def fleet(dovecot):
    """Twelve mailboxes of two messages each in their Inbox, empty Sent."""
    for login in USERS:
        dovecot.add_user(login, PASSWORD)
        dovecot.fill_maildir(
            login,
            "INBOX",
            [make_message("a@example.com", f"{login}@example.com") for _n in range(2)],
        )
        dovecot.fill_maildir(login, "Sent", [])
    return dovecot


def _checkpoints(server, login):
    """The folders as a sync that read everything leaves them."""
    client = server.connect(login)
    try:
        folders = []
        for name in ("INBOX", "Sent"):
            info = client.select_folder(name, readonly=True)
            folders.append(
                KnownFolder(name, info[b"UIDVALIDITY"], info[b"UIDNEXT"] - 1)
            )
        return tuple(folders)
    finally:
        client.logout()


def _target(server, login, port=None, password=None):
    overrides = {"port": port} if port else {}
    if password:
        overrides["password"] = password
    settings = server.client_settings(login, **overrides)
    return PollTarget(login, settings, _checkpoints(server, login))


def test_only_the_mailboxes_with_new_mail_have_news(fleet):
    targets = [_target(fleet, login) for login in USERS]
    news = set(USERS[::4])
    for login in news:
        fleet.fill_maildir(
            login, "INBOX", [make_message("b@example.com", f"{login}@example.com")]
        )
    results = list(imap_news.poll_mailboxes(targets, workers=4))
    assert sorted(r.key for r in results) == sorted(USERS), "each mailbox once"
    assert {r.key for r in results if r.news} == news
    assert not [r.error for r in results if r.error]


def test_a_renumbered_folder_or_a_first_sync_is_news(fleet):
    renumbered, fresh, idle = USERS[:3]
    targets = [_target(fleet, login) for login in (renumbered, idle)]
    fleet.set_uidvalidity(renumbered, "INBOX", targets[0].folders[0].uidvalidity + 5)
    never_synced = tuple(KnownFolder(name, 0, 0) for name in ("INBOX", "Sent"))
    targets.append(PollTarget(fresh, fleet.client_settings(fresh), never_synced))
    news = {r.key: r.news for r in imap_news.poll_mailboxes(targets)}
    assert news == {renumbered: True, fresh: True, idle: False}


def test_a_hanging_server_costs_its_own_deadline_and_a_refused_login_its_error(
    fleet,
):
    """One server drips its bytes (it would never answer), one refuses the
    login: the other mailboxes' checks end long before the hanging one's
    deadline, the refused login is reported as such, nothing has news."""
    with LatencyProxy(fleet.host, fleet.port, delay=0) as proxy:
        hanging = _target(fleet, USERS[0], port=proxy.port)
        refused = _target(fleet, USERS[1], password="not the password")
        others = [_target(fleet, login) for login in USERS[2:]]
        proxy.drip = DRIP
        results = list(
            imap_news.poll_mailboxes([hanging, refused, *others], workers=3, seconds=3)
        )
        proxy.drip = None
    by_key = {r.key: r for r in results}
    assert by_key[hanging.key].error.code == "sync_deadline"
    assert by_key[refused.key].error.code == "auth_failed"
    assert results[-1].key == hanging.key, "everyone else was done before it"
    for other in others:
        assert by_key[other.key].error is None
        assert not by_key[other.key].news
        assert by_key[other.key].seconds < by_key[hanging.key].seconds


def test_nothing_to_check_checks_nothing():
    assert list(imap_news.poll_mailboxes([])) == []


def test_doctests():
    failures, tried = doctest.testmod(imap_news)
    assert tried and not failures
