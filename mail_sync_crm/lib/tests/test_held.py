"""Messages the server cannot deliver cost themselves only (real Dovecot: the
message's file is made unreadable to Dovecot's mail processes, or cut short,
and Dovecot then aborts the FETCH and drops the connection)."""

import pytest
from lib.imap.session import HEADER_ITEM, ImapSession
from lib.sync import engine as sync_engine
from lib.sync import held as undeliverable
from test_sync_engine import ALICE, ME, MemoryStore, run

from mail_sync_testing import damage_message, make_message, repair_message


def _damage(dovecot, number, how):
    return damage_message(dovecot, "alice", number, how=how)


@pytest.fixture
def settings(dovecot):
    return dovecot.client_settings("alice")


def _fill(dovecot, count):
    dovecot.fill_maildir(
        "alice",
        "INBOX",
        [make_message(ALICE, ME, subject=f"M{i}") for i in range(1, count + 1)],
    )


@pytest.mark.parametrize("how", ["unreadable", "truncated"])
def test_one_message_the_server_cannot_deliver_costs_itself_only(
    dovecot, settings, how
):
    """Six messages, the third one damaged: the five others are recorded and
    the checkpoint moves past it (it used to fail the whole batch on every
    run, as a "connection lost"). The third is tried again on later runs, then
    skipped with an entry naming it; new mail behind it arrives meanwhile."""
    _fill(dovecot, 6)
    _damage(dovecot, 3, how)
    folder = sync_engine.FolderState("INBOX", "in")
    store = MemoryStore()
    with ImapSession(settings) as session:
        outcome = run(session, folder, store)
    subjects = [s for _m, _l, s in store.recorded]
    assert subjects == ["M1", "M2", "M4", "M5", "M6"]
    assert (folder.last_uid, outcome.held, store.attempts) == (6, 1, {3: 1})
    assert store.skipped == []
    dovecot.append("alice", "INBOX", make_message(ALICE, ME, subject="New"))
    for attempt in range(2, undeliverable.MAX_ATTEMPTS + 1):
        with ImapSession(settings) as session:
            run(session, folder, store)
        assert store.attempts == {3: attempt}
    assert [s for _m, _l, s in store.recorded][5:] == ["New"]
    assert store.skipped == [(3, "message_undeliverable")]
    err = store.given_up[3]
    assert err.params["folder"] == "INBOX" and err.params["uid"] == 3
    assert err.params["date"] != "-", "its date is known from the server's index"
    with ImapSession(settings) as session:
        again = run(session, folder, store)
    assert (again.held, again.skipped, store.attempts[3]) == (0, 0, 4), "given up"


def test_a_message_readable_again_is_recorded_after_a_retry(dovecot, settings):
    """A skipped message whose file is readable again: after the log entry's
    Retry it is fetched on the next run, recorded, and forgotten."""
    _fill(dovecot, 3)
    path = _damage(dovecot, 2, "unreadable")
    folder = sync_engine.FolderState("INBOX", "in")
    store = MemoryStore()
    for _run in range(undeliverable.MAX_ATTEMPTS):
        with ImapSession(settings) as session:
            run(session, folder, store)
    assert 2 in store.given_up
    repair_message(path)
    store.retry(2)
    with ImapSession(settings) as session:
        outcome = run(session, folder, store)
    assert [s for _m, _l, s in store.recorded] == ["M1", "M3", "M2"]
    assert (outcome.recorded, store.attempts, store.given_up) == (1, {}, {})


def test_a_body_the_server_cannot_deliver_is_named_by_its_headers(dovecot, settings):
    """The header fields were read (Dovecot answers them from its cache) but
    the whole message cannot be fetched: the message is narrowed down among
    the matched ones, and the entry names its date, sender and subject."""
    dovecot.fill_maildir(
        "alice",
        "INBOX",
        [
            make_message(ALICE, ME, subject=f"B{i}", date=1_600_000_000)
            for i in range(4)
        ],
    )
    client = dovecot.connect("alice")
    client.select_folder("INBOX", readonly=True)
    client.fetch([1, 2, 3, 4], [HEADER_ITEM])  # cached by Dovecot from now on
    client.logout()
    _damage(dovecot, 4, "unreadable")
    folder = sync_engine.FolderState("INBOX", "in")
    store = MemoryStore()
    for _run in range(undeliverable.MAX_ATTEMPTS):
        with ImapSession(settings) as session:
            run(session, folder, store, next_batch=False)
    assert [s for _m, _l, s in store.recorded] == ["B0", "B1", "B2"]
    params = store.given_up[4].params
    assert (params["sender"], params["subject"]) == (ALICE, "B3")
    assert params["date"] == "2020-09-13 12:26 UTC"


def test_held_uids_mean_nothing_after_a_uidvalidity_change(dovecot, settings):
    _fill(dovecot, 2)
    _damage(dovecot, 2, "unreadable")
    folder = sync_engine.FolderState("INBOX", "in")
    store = MemoryStore()
    with ImapSession(settings) as session:
        run(session, folder, store)
    assert store.attempts == {2: 1}
    dovecot.set_uidvalidity("alice", "INBOX", folder.uidvalidity + 1)
    with ImapSession(settings) as session:
        outcome = run(session, folder, store)
    assert outcome.rescanned and store.attempts == {2: 1}, "UID 2 failed anew"
    assert [s for _m, _l, s in store.recorded] == ["M1"]


def test_narrowing_gives_up_on_a_server_that_is_gone(dovecot, settings):
    """A failure that reconnecting cannot get past is the server's: raised as
    it came, nothing blamed on a message."""
    _fill(dovecot, 3)
    with ImapSession(settings) as session:
        session.select_folder("INBOX")
        narrowing = undeliverable.Narrowing(
            session, "INBOX", session.folder.uidvalidity
        )
        dovecot.stop()
        with pytest.raises(sync_engine.errors.MailSyncError) as raised:
            narrowing.fetch(lambda uids: session.fetch_bodies(uids, None), [1, 2, 3])
    assert raised.value.code == "connection_lost"


def test_narrowing_finds_every_undeliverable_uid(dovecot, settings):
    _fill(dovecot, 9)
    for number in (2, 7, 8):
        _damage(dovecot, number, "unreadable")
    with ImapSession(settings) as session:
        session.select_folder("INBOX")
        narrowing = undeliverable.Narrowing(
            session, "INBOX", session.folder.uidvalidity
        )
        bodies, failed = narrowing.fetch(
            lambda uids: session.fetch_bodies(uids, None), list(range(1, 10))
        )
    assert sorted(bodies) == [1, 3, 4, 5, 6, 9]
    assert sorted(failed) == [2, 7, 8]
    assert {err.code for err in failed.values()} == {"connection_lost"}
    assert narrowing.reconnects <= 16


def test_many_undeliverable_messages_in_one_batch_still_move_on(
    dovecot, settings, monkeypatch
):
    """More failures than one run's reconnections can pin down: the UIDs not
    settled yet are held without counting against them, the checkpoint moves
    on, and later runs settle them: every good message is recorded, only the
    damaged ones are skipped."""
    monkeypatch.setattr(undeliverable, "MAX_RECONNECTS", 10)
    _fill(dovecot, 16)
    for number in (2, 6, 7, 11, 15):
        _damage(dovecot, number, "unreadable")
    folder = sync_engine.FolderState("INBOX", "in")
    store = MemoryStore()
    with ImapSession(settings) as session:
        outcome = run(session, folder, store)
    assert folder.last_uid == 16
    assert outcome.held > 5, "some were not pinned down on this run"
    runs = 1
    while store.held(folder, folder.uidvalidity) and runs < 30:
        with ImapSession(settings) as session:
            run(session, folder, store)
        runs += 1
    good = [f"M{i}" for i in range(1, 17) if i not in (2, 6, 7, 11, 15)]
    assert sorted(s for _m, _l, s in store.recorded) == sorted(good)
    assert sorted(store.given_up) == [2, 6, 7, 11, 15]
    assert all(
        err.params["attempts"] == undeliverable.MAX_ATTEMPTS
        for err in store.given_up.values()
    )
