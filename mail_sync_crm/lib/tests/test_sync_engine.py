"""The folder sync engine against a real Dovecot, with an in-memory store."""

import datetime
import gc
import sys

import pytest
from lib import errors
from lib.imap.session import ImapSession
from lib.privacy import blocklist
from lib.sync import engine as sync_engine
from lib.sync import held as undeliverable
from lib.sync import process_tuning

from mail_sync_testing import make_message

LEAD_A, LEAD_B = 1, 2
ALICE = "alice@acme.example.com"
BOB = "bob@bobco.example.com"
ME = "alice@ours.example.com"


class MemoryStore(sync_engine.SyncStore):
    """What the Odoo mailbox does, kept in dicts."""

    def __init__(self, cap=None, on_chatter=()):
        self.cap = cap
        self.recorded = []  # (message_id, lead, subject)
        self.on_chatter = set(on_chatter)
        self.skipped = []
        self.checkpoints = []
        self.attempts_of = {}  # uid -> (UIDVALIDITY, failed attempts)
        self.given_up = {}  # uid -> the error logged when it was skipped

    def allowed_leads(self, lead_ids, date):
        return set(lead_ids)

    def known_pairs(self, folder, candidates):
        pairs = {(h.message_id, lead) for h, leads in candidates for lead in leads}
        mine = {(m, lead) for m, lead, _s in self.recorded}
        return pairs & (mine | self.on_chatter)

    def cap_left(self):
        if self.cap is None:
            return None
        return max(0, self.cap - len({m for m, _l, _s in self.recorded}))

    def record(self, folder, items):
        for item in items:
            for lead in item.lead_ids:
                self.recorded.append(
                    (item.header.message_id, lead, item.message.subject)
                )

    def skip(self, folder, uid, err):
        self.skipped.append((uid, err.code))

    def held(self, folder, uidvalidity):
        return {
            uid: attempts
            for uid, (validity, attempts) in self.attempts_of.items()
            if validity == uidvalidity and uid not in self.given_up
        }

    @property
    def attempts(self):
        return {uid: attempts for uid, (_v, attempts) in self.attempts_of.items()}

    def hold(self, folder, uidvalidity, uid, attempts, err, give_up):
        self.attempts_of[uid] = (uidvalidity, attempts)
        if give_up:
            self.given_up[uid] = err
            self.skip(folder, uid, err)

    def release(self, folder, uidvalidity, uids):
        for uid in uids:
            self.attempts_of.pop(uid, None)
            self.given_up.pop(uid, None)

    def retry(self, uid):
        """The Retry button of a skipped message's log entry."""
        del self.given_up[uid]
        validity, _attempts = self.attempts_of[uid]
        self.attempts_of[uid] = (validity, undeliverable.MAX_ATTEMPTS - 1)

    def checkpoint(self, folder, progress):
        self.checkpoints.append(progress)
        folder.uidvalidity = progress.uidvalidity
        folder.last_uid = progress.last_uid
        if self.after_checkpoint is not None:
            self.after_checkpoint()

    after_checkpoint = None  # called after each checkpoint: a fault mid-run


@pytest.fixture
def session(dovecot):
    settings = dovecot.client_settings("alice")
    with ImapSession(settings) as opened:
        yield opened


INDEX = {ALICE: {LEAD_A}, BOB: {LEAD_B}}


def run(session, folder, store, **kw):
    return sync_engine.sync_folder(
        session,
        folder,
        store,
        INDEX,
        kw.pop("blocked", None),
        attachment_cap=10**6,
        **kw,
    )


def test_header_first_batches_and_checkpoints(dovecot, session):
    for i in range(5):
        dovecot.append("alice", "INBOX", make_message(ALICE, ME, subject=f"A{i}"))
    dovecot.append("alice", "INBOX", make_message("x@nobody.example.com", ME))
    folder = sync_engine.FolderState("INBOX", "in")
    store = MemoryStore()
    outcome = run(session, folder, store, batch_size=2)
    assert sorted(s for _m, _l, s in store.recorded) == [f"A{i}" for i in range(5)]
    assert [c.last_uid for c in store.checkpoints] == [2, 4, 6]
    assert store.checkpoints[-1].done
    assert (outcome.scanned, outcome.matched, outcome.recorded) == (6, 5, 5)
    again = run(session, folder, store)
    assert again.scanned == 0 and len(store.recorded) == 5


def test_examined_status_skips_an_unchanged_folder_and_never_hides_new_mail(
    dovecot, session
):
    dovecot.append("alice", "INBOX", make_message(ALICE, ME, subject="first"))
    folder = sync_engine.FolderState("INBOX", "in")
    store = MemoryStore()
    run(session, folder, store, status=session.examine_folders(["INBOX"])["INBOX"])
    assert [s for _m, _l, s in store.recorded] == ["first"]
    unchanged = session.examine_folders(["INBOX"])["INBOX"]
    assert run(session, folder, store, status=unchanged).scanned == 0
    dovecot.append("alice", "INBOX", make_message(BOB, ME, subject="second"))
    # A status read before the new mail came: picked up by the next run.
    assert run(session, folder, store, status=unchanged).scanned == 0
    fresh = session.examine_folders(["Sent", "INBOX"])["INBOX"]
    outcome = run(session, folder, store, status=fresh)
    assert (outcome.scanned, outcome.recorded) == (1, 1)
    assert [s for _m, _l, s in store.recorded] == ["first", "second"]
    # A status of a folder no longer selected: examined again before reading.
    dovecot.append("alice", "INBOX", make_message(ALICE, ME, subject="third"))
    stale_selection = session.examine_folders(["INBOX", "Sent"])["INBOX"]
    outcome = run(session, folder, store, status=stale_selection)
    assert (outcome.scanned, outcome.recorded) == (1, 1)


def test_long_runs_leave_the_process_settings_as_they_found_them(dovecot, session):
    """A multi-batch run tunes the garbage collector and the GIL switch interval
    for itself; the server process gets its own settings back, also when runs
    overlap (one thread's run ending while another's goes on)."""
    interval = sys.getswitchinterval()
    for i in range(3):
        dovecot.append("alice", "INBOX", make_message(ALICE, ME, subject=f"L{i}"))
    store = MemoryStore()
    tuned = []

    def long_run():
        tuned.append((sys.getswitchinterval(), gc.get_freeze_count() > 0))
        return process_tuning.long_run()

    run(
        session,
        sync_engine.FolderState("INBOX", "in"),
        store,
        batch_size=1,
        long_run=long_run,
    )
    assert len(store.recorded) == 3
    assert len(tuned) == 1
    assert (sys.getswitchinterval(), gc.get_freeze_count()) == (interval, 0)
    first, second = process_tuning.long_run(), process_tuning.long_run()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert sys.getswitchinterval() < interval  # the second run is still going
    second.__exit__(None, None, None)
    assert (sys.getswitchinterval(), gc.get_freeze_count()) == (interval, 0)


def test_copies_of_a_message_in_one_batch_are_recorded_once(dovecot, session):
    copy = make_message(ALICE, ME, subject="copy", message_id="<copy@acme.example.com>")
    for _i in range(3):
        dovecot.append("alice", "INBOX", copy)
    store = MemoryStore()
    outcome = run(session, sync_engine.FolderState("INBOX", "in"), store)
    assert (outcome.matched, outcome.recorded) == (3, 1)
    assert store.recorded == [("<copy@acme.example.com>", LEAD_A, "copy")]


def test_a_copy_stands_in_for_a_first_copy_left_out(dovecot, session):
    """Copies with one Message-ID: when the first is left out (here: its MIME
    structure is broken and it has no text), the next one is recorded, so the
    message is not lost."""
    good = make_message(ALICE, ME, subject="kept", message_id="<pair@acme.example.com>")
    head = good.split(b"\r\n\r\n", 1)[0].replace(
        b'Content-Type: text/plain; charset="utf-8"',
        b'Content-Type: multipart/mixed; boundary="gone"',
    )
    broken = head + b"\r\n\r\n"
    dovecot.append("alice", "INBOX", broken)
    dovecot.append("alice", "INBOX", good)
    store = MemoryStore()
    outcome = run(session, sync_engine.FolderState("INBOX", "in"), store)
    assert store.skipped == [(1, "message_malformed")]
    assert store.recorded == [("<pair@acme.example.com>", LEAD_A, "kept")]
    assert (outcome.recorded, outcome.skipped) == (1, 1)


def test_sent_matches_recipients_and_blocklist(dovecot, session):
    dovecot.append("alice", "Sent", make_message(ME, "x@y.example.com", bcc=[BOB]))
    dovecot.append("alice", "Sent", make_message(ME, ALICE, subject="blocked"))
    store = MemoryStore()
    run(
        session,
        sync_engine.FolderState("Sent", "out"),
        store,
        blocked=blocklist.Blocklist([ALICE]),
    )
    assert [(lead, s) for _m, lead, s in store.recorded] == [(LEAD_B, "Test message")]


def test_cap_defers_and_resumes_where_it_stopped(dovecot, session):
    for i in range(4):
        dovecot.append("alice", "INBOX", make_message(ALICE, ME, subject=f"C{i}"))
    folder = sync_engine.FolderState("INBOX", "in")
    store = MemoryStore(cap=3)
    outcome = run(session, folder, store)
    assert outcome.deferred
    assert folder.last_uid == 3
    store.cap = 10  # the next day
    run(session, folder, store)
    assert [s for _m, _l, s in store.recorded] == ["C0", "C1", "C2", "C3"]


def test_already_on_chatter_is_not_downloaded_again(dovecot, session):
    dovecot.append(
        "alice",
        "INBOX",
        make_message(ALICE, ME, message_id="<odoo-1@ours.example.com>"),
    )
    store = MemoryStore(on_chatter={("<odoo-1@ours.example.com>", LEAD_A)})
    outcome = run(session, sync_engine.FolderState("INBOX", "in"), store)
    assert outcome.matched == 1 and outcome.recorded == 0
    assert store.recorded == []


def test_oversized_message_lands_with_its_text(dovecot, session):
    """A message over the size limit is not skipped: its text and the
    attachments that fit the cap are recorded, the rest is listed."""
    big = make_message(
        ALICE,
        ME,
        subject="big",
        text="The figures are attached.",
        attachments=[
            ("big.bin", b"x" * 300_000, None),
            ("note.txt", b"small", "text/plain"),
        ],
    )
    dovecot.append("alice", "INBOX", big)
    dovecot.append("alice", "INBOX", make_message(ALICE, ME, subject="small"))
    recorded = {}

    class KeepingStore(MemoryStore):
        def record(self, folder, items):
            super().record(folder, items)
            recorded.update((item.header.subject, item.message) for item in items)

    store = KeepingStore()
    sync_engine.sync_folder(
        session,
        sync_engine.FolderState("INBOX", "in"),
        store,
        INDEX,
        attachment_cap=100_000,
        max_message_size=100_000,
    )
    assert store.skipped == []
    assert sorted(recorded) == ["big", "small"]
    message = recorded["big"]
    assert message.partial_size == len(big)
    assert message.body_html == "<p>The figures are attached.</p>"
    assert [(n, c) for n, c, _t in message.attachments] == [("note.txt", b"small")]
    assert [name for name, _size in message.omitted_attachments] == ["big.bin"]
    assert recorded["small"].partial_size == 0


def test_uidvalidity_change_rescans(dovecot, session):
    dovecot.append("alice", "INBOX", make_message(ALICE, ME, subject="R"))
    folder = sync_engine.FolderState("INBOX", "in")
    store = MemoryStore()
    run(session, folder, store)
    dovecot.set_uidvalidity("alice", "INBOX", folder.uidvalidity + 1)
    session.close()
    session.open()
    outcome = run(session, folder, store)
    assert outcome.rescanned and outcome.scanned == 1
    assert len(store.recorded) == 1, "nothing recorded twice"


def test_a_dropped_connection_is_reopened_and_the_run_goes_on(dovecot, session):
    """The connection dies between two batches (the server's process for it is
    killed): the engine connects again and finishes the run; no message is
    blamed for it."""
    for i in range(4):
        dovecot.append("alice", "INBOX", make_message(ALICE, ME, subject=f"K{i}"))
    folder = sync_engine.FolderState("INBOX", "in")
    store = MemoryStore()

    def kill_after_the_first():
        if len(store.checkpoints) == 1:
            dovecot.kill_imap_children()

    store.after_checkpoint = kill_after_the_first
    outcome = run(session, folder, store, batch_size=2)
    assert [s for _m, _l, s in store.recorded] == ["K0", "K1", "K2", "K3"]
    assert (folder.last_uid, outcome.held, store.attempts) == (4, 0, {})


def test_a_server_gone_mid_run_raises_after_the_last_checkpoint(dovecot, session):
    """The server stops answering for good: the run fails with the connection
    error, after the last completed batch's checkpoint, and no message is held
    back for it."""
    for i in range(4):
        dovecot.append("alice", "INBOX", make_message(ALICE, ME, subject=f"K{i}"))
    folder = sync_engine.FolderState("INBOX", "in")
    store = MemoryStore()
    store.after_checkpoint = dovecot.stop
    with pytest.raises(errors.MailSyncError) as raised:
        run(session, folder, store, batch_size=2)
    assert raised.value.code == "connection_lost"
    assert folder.last_uid == 2
    assert [s for _m, _l, s in store.recorded] == ["K0", "K1"]
    assert store.attempts == {}


def test_dates_are_aware_utc(dovecot, session):
    when = datetime.datetime(2020, 1, 2, 3, 4, 5)
    dovecot.append("alice", "INBOX", make_message(ALICE, ME, date=when))
    seen = []

    class DateStore(MemoryStore):
        def record(self, folder, items):
            seen.extend(item.header.date for item in items)

    run(session, sync_engine.FolderState("INBOX", "in"), DateStore())
    assert seen == [when.replace(tzinfo=datetime.timezone.utc)]


def test_stores_implement_the_protocol():
    """The in-memory store implements every method of the engine's store with
    the same parameters (the Odoo store is checked by the Odoo tests)."""
    assert sync_engine.SyncStore.missing_from(MemoryStore) == []

    class Partial:
        def record(self, folder, items):
            pass

        def skip(self, folder, uid):
            pass

    assert sync_engine.SyncStore.missing_from(Partial) == [
        "allowed_leads",
        "cap_left",
        "checkpoint",
        "held",
        "hold",
        "known_pairs",
        "release",
        "skip",
    ]
