"""A mailbox's reads done ahead (``lib/imap/read_ahead.py``): the sync that
replays them records what a live sync records, without connecting, and goes
live where they do not cover what it asks (real Dovecot, behind a proxy that
counts connections)."""

import pytest
from lib.imap import read_ahead as imap_read_ahead
from lib.imap.news import KnownFolder
from lib.net.deadline import Deadline
from lib.sync import date_order as chronological
from lib.sync.engine import FolderState
from test_sync_engine import ALICE, INDEX, ME, MemoryStore

from mail_sync_testing import LatencyProxy, make_message

ORDER = ["Sent", "INBOX"]  # as the sync examines them: the Inbox last


@pytest.fixture
def proxy(dovecot):
    dovecot.fill_maildir("alice", "Sent", [])
    with LatencyProxy(dovecot.host, dovecot.port, delay=0) as started:
        yield started


def _settings(dovecot, proxy):
    return dovecot.client_settings("alice", port=proxy.port)


def _deliver(dovecot, subjects, sender=ALICE, folder="INBOX"):
    for subject in subjects:
        dovecot.append("alice", folder, make_message(sender, ME, subject=subject))


def _sync(session, store, inbox, sent):
    return chronological.sync_history(
        session,
        [inbox, sent],
        store,
        INDEX,
        None,
        attachment_cap=10**6,
        statuses=session.examine_folders(ORDER),
    )


def _known(*folders):
    return [KnownFolder(f.name, f.uidvalidity, f.last_uid) for f in folders]


def test_a_sync_from_what_was_read_ahead_records_the_same_without_connecting(
    dovecot, proxy
):
    _deliver(dovecot, [f"In {n}" for n in range(6)])
    _deliver(dovecot, ["Unrelated"], sender="x@nobody.example.com")
    _deliver(dovecot, ["Sent 1"], sender=ME, folder="Sent")
    inbox, sent = FolderState("INBOX", "in"), FolderState("Sent", "out")
    ahead = imap_read_ahead.read_mailbox(
        "alice", _settings(dovecot, proxy), _known(inbox, sent), 30, ORDER
    )
    assert ahead.error is None
    connections = proxy.connection_count
    replayed = MemoryStore()
    with imap_read_ahead.ReadAheadSession(
        ahead, _settings(dovecot, proxy), Deadline(30)
    ) as session:
        _sync(session, replayed, inbox, sent)
    assert proxy.connection_count == connections, "no connection of its own"
    live = MemoryStore()
    with imap_read_ahead.ImapSession(_settings(dovecot, proxy)) as session:
        _sync(session, live, FolderState("INBOX", "in"), FolderState("Sent", "out"))
    assert sorted(s for _m, _l, s in replayed.recorded) == [f"In {n}" for n in range(6)]
    assert sorted(replayed.recorded) == sorted(live.recorded)
    assert [c.last_uid for c in replayed.checkpoints][-2:] == [
        c.last_uid for c in live.checkpoints
    ][-2:]


def test_what_was_not_read_ahead_is_read_live(dovecot, proxy):
    """The checkpoint moved after the read-ahead (another process synced the
    first message meanwhile), and more mail arrived: the sync asks for what
    the read-ahead does not hold, and gets it from the server."""
    _deliver(dovecot, ["Early 1", "Early 2"])
    inbox, sent = FolderState("INBOX", "in"), FolderState("Sent", "out")
    ahead = imap_read_ahead.read_mailbox(
        "alice", _settings(dovecot, proxy), _known(inbox, sent), 30, ORDER
    )
    _deliver(dovecot, ["Late"])
    connections = proxy.connection_count
    moved = FolderState("INBOX", "in", ahead.examined[1]["INBOX"].uidvalidity, 1)
    store = MemoryStore()
    with imap_read_ahead.ReadAheadSession(
        ahead, _settings(dovecot, proxy), Deadline(30)
    ) as session:
        chronological.sync_history(
            session,
            [moved, sent],
            store,
            INDEX,
            None,
            attachment_cap=10**6,
            statuses=session.examine_folders(ORDER),
        )
    # nothing above the moved checkpoint (UID 1) was read ahead: the UIDs
    # after it, their headers and bodies come from the server, "Late" too
    assert proxy.connection_count == connections + 1, "went live once"
    assert sorted(s for _m, _l, s in store.recorded) == ["Early 2", "Late"]


@pytest.mark.parametrize("failure", ["refused", "hanging"])
def test_a_failed_read_ahead_is_the_syncs_failure_without_waiting_again(
    dovecot, proxy, failure
):
    """A server that refused the read-ahead's login, or hung until its
    deadline: the sync fails with that error, without connecting again."""
    inbox, sent = FolderState("INBOX", "in"), FolderState("Sent", "out")
    settings = _settings(dovecot, proxy)
    if failure == "refused":
        settings = dovecot.client_settings("alice", port=proxy.port, password="x")
    else:
        proxy.drip = 0.5  # one byte every half second: never a whole greeting
    ahead = imap_read_ahead.read_mailbox(
        "alice", settings, _known(inbox, sent), 2, ORDER
    )
    expected = "auth_failed" if failure == "refused" else "sync_deadline"
    assert ahead.error.code == expected
    connections = proxy.connection_count
    session_ahead = imap_read_ahead.ReadAheadSession(ahead, settings, Deadline(30))
    with pytest.raises(Exception) as raised, session_ahead as session:
        session.examine_folders(ORDER)
    assert raised.value.code == expected
    assert proxy.connection_count == connections, "not tried again"


def test_the_read_ahead_pool_reads_each_mailbox_once_and_hands_it_over(dovecot, proxy):
    inbox, sent = FolderState("INBOX", "in"), FolderState("Sent", "out")
    _deliver(dovecot, ["One"])
    with imap_read_ahead.ReadAheadPool(2, 30) as ahead:
        ahead.submit("a", _settings(dovecot, proxy), _known(inbox, sent), ORDER)
        ahead.skip("b")
        assert ahead.submitted("a") and ahead.submitted("b")
        taken = ahead.take("a")
        assert taken.key == "a" and taken.uids[("INBOX", 0)] == [1]
        assert ahead.take("b") is None
        assert ahead.take("a") is None, "handed over once"
