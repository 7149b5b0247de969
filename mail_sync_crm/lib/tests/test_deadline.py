"""Every mailbox turn has a deadline, whatever the server does (real Dovecot,
behind a proxy that drips the server's bytes one at a time)."""

import os
import socket
import threading
import time

import pytest
from lib import errors
from lib.imap.session import ImapSession
from lib.net.deadline import Deadline, Watchdog, connect_within
from lib.net.settings import ImapSettings
from lib.sync import engine as sync_engine
from test_sync_engine import ALICE, ME, MemoryStore, run

from mail_sync_testing import LOOPBACK_POLICY, LatencyProxy, make_message

DRIP = 0.3  # seconds per byte: no read ever times out, nothing gets anywhere


@pytest.fixture
def proxy(dovecot):
    with LatencyProxy(dovecot.host, dovecot.port, delay=0) as started:
        yield started


def _settings(proxy):
    """Alice's settings through the proxy (the dovecot fixture's user)."""
    return ImapSettings(
        host=proxy.host,
        port=proxy.port,
        encryption="none",
        login="alice",
        password="secret",
        host_policy=LOOPBACK_POLICY,
    )


def test_a_server_dripping_its_greeting_is_given_up_at_the_deadline(proxy):
    """Connecting to a server that sends one byte every 0.3 s (its greeting
    alone would take a minute) ends at the deadline with its own error."""
    proxy.drip = DRIP
    deadline = Deadline(1.5)
    started = time.monotonic()
    with pytest.raises(errors.MailSyncError) as raised:
        ImapSession(_settings(proxy), deadline=deadline).open()
    assert raised.value.code == "sync_deadline"
    assert time.monotonic() - started < 20, "ended near the deadline"


def test_a_server_that_starts_dripping_mid_run_is_cut_at_the_deadline(dovecot, proxy):
    """The server turns slow after the first batch: the connection is shut
    down at the deadline, the run ends with what it checkpointed, and the
    next run resumes from there."""
    for i in range(6):
        dovecot.append("alice", "INBOX", make_message(ALICE, ME, subject=f"D{i}"))
    folder = sync_engine.FolderState("INBOX", "in")
    store = MemoryStore()

    def drip():
        proxy.drip = DRIP

    store.after_checkpoint = drip
    started = time.monotonic()
    with ImapSession(_settings(proxy), deadline=Deadline(3)) as session:
        outcome = run(session, folder, store, batch_size=2, next_batch=False)
    assert time.monotonic() - started < 30, "ended near the deadline"
    assert outcome.cut
    assert (folder.last_uid, [s for _m, _l, s in store.recorded]) == (2, ["D0", "D1"])
    proxy.drip = None
    store.after_checkpoint = None
    with ImapSession(_settings(proxy), deadline=Deadline(60)) as session:
        outcome = run(session, folder, store, batch_size=2)
    assert not outcome.cut
    assert [s for _m, _l, s in store.recorded] == [f"D{i}" for i in range(6)]


def test_no_batch_starts_past_the_deadline(dovecot):
    """A slow but progressing sync: each batch is kept, none starts after the
    deadline, and the turn is cut rather than failed."""
    for i in range(6):
        dovecot.append("alice", "INBOX", make_message(ALICE, ME, subject=f"S{i}"))
    now = [0.0]
    deadline = Deadline(10, clock=lambda: now[0])
    folder = sync_engine.FolderState("INBOX", "in")
    store = MemoryStore()

    def six_seconds_later():
        now[0] += 6  # each batch takes 6 "seconds"

    store.after_checkpoint = six_seconds_later
    settings = dovecot.client_settings("alice")
    with ImapSession(settings) as session:
        outcome = run(session, folder, store, batch_size=2, deadline=deadline)
    assert outcome.cut and outcome.scanned == 4
    assert folder.last_uid == 4
    assert [s for _m, _l, s in store.recorded] == ["S0", "S1", "S2", "S3"]


# -- The deadlines' threads: one watch for every connection, connects reused ------


def _watch_threads():
    return [t for t in threading.enumerate() if t.name == "mail-sync-watchdog"]


def test_every_armed_deadline_shares_one_watch_thread():
    """A check for news arms a deadline on thousands of connections a run:
    a hundred armed at once still make one thread, and each is cancelled
    without ending the others."""
    pairs = [socket.socketpair() for _i in range(100)]
    try:
        dogs = [Watchdog(Deadline(60), a) for a, _b in pairs]
        assert len(_watch_threads()) == 1
        for dog in dogs:
            dog.cancel()
        assert not any(dog.fired for dog in dogs)
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_a_deadline_armed_after_a_later_one_fires_on_time():
    """The watch waits for the earliest deadline: one armed after a
    60-second one, due in 0.3 s, shuts its socket down then, and the
    60-second one's socket stays open."""
    (late, late_peer), (soon, soon_peer) = socket.socketpair(), socket.socketpair()
    try:
        late_dog = Watchdog(Deadline(60), late)
        time.sleep(0.2)  # the watch now waits for the 60-second deadline
        started = time.monotonic()
        soon_dog = Watchdog(Deadline(0.3), soon)
        soon.settimeout(10)
        assert soon.recv(1) == b"", "shut down: the read ends"
        assert time.monotonic() - started < 3
        assert soon_dog.fired and not late_dog.fired
        late_peer.sendall(b"x")
        late.settimeout(1)
        assert late.recv(1) == b"x"
        late_dog.cancel()
    finally:
        for sock in (late, late_peer, soon, soon_peer):
            sock.close()


def test_a_forked_process_has_its_own_watch():
    """Odoo's workers are forked: a deadline armed in a child is enforced by
    the child's own watch (the parent's thread is not there)."""
    a, b = socket.socketpair()
    Watchdog(Deadline(60), socket.socketpair()[0]).cancel()  # the parent's watch runs
    pid = os.fork()
    if pid == 0:  # the child: exit 0 when its deadline shut the socket down
        code = 1
        try:
            Watchdog(Deadline(0.2), a)
            a.settimeout(10)
            code = 0 if a.recv(1) == b"" else 2
        finally:
            os._exit(code)
    _pid, status = os.waitpid(pid, 0)
    a.close()
    b.close()
    assert os.waitstatus_to_exitcode(status) == 0


def test_connects_reuse_their_helper_thread(dovecot):
    """Each connect runs in a helper thread (the deadline may give up on
    it): one after another, they run in the same one, not a new one each."""
    seen = []
    for _i in range(5):
        connect_within(
            Deadline(10), lambda: seen.append(threading.current_thread()), None
        )
    assert len(set(seen)) == 1 and seen[0] is not threading.current_thread()
    with ImapSession(dovecot.client_settings("alice"), deadline=Deadline(30)):
        pass
    assert len(_watch_threads()) == 1
