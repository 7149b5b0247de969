"""Past mail for a lead added later, against a real Dovecot: one address
searched in the Inbox and Sent, the turn's matching and ledger, no checkpoint."""

import datetime

import pytest
from lib import errors
from lib.imap.session import ImapSession
from lib.net.deadline import Deadline
from lib.sync import past_mail
from lib.sync.store import FolderState
from test_sync_engine import MemoryStore

from mail_sync_testing import make_message

LEAD = 7
CAROL = "carol@client.example.com"
DAVE = "dave@elsewhere.example.com"
ME = "alice@ours.example.com"
BASE = datetime.datetime(2025, 3, 1, 9, 0)


def _day(n):
    return BASE + datetime.timedelta(days=n)


class Store(MemoryStore):
    """The in-memory store, with the turn's rule for a lead created later
    (no older mail) and a record of the order writes came in."""

    def allowed_leads(self, lead_ids, date):
        return set()  # the turn's rule: this lead was created after connect

    def record(self, folder, items):
        for item in items:
            assert item.folder is not None
            for lead in item.lead_ids:
                self.recorded.append(
                    (item.header.message_id, lead, item.message.subject)
                )


def _folders():
    return [FolderState("INBOX", "in", 0, 0), FolderState("Sent", "out", 0, 0)]


def _find(dovecot, store, address=CAROL, **kw):
    with ImapSession(dovecot.client_settings("alice")) as session:
        folders = _folders()
        outcome = past_mail.find_past_mail(
            session, folders, store, LEAD, address, attachment_cap=10**6, **kw
        )
        assert [(f.uidvalidity, f.last_uid) for f in folders] == [(0, 0), (0, 0)]
        return outcome


@pytest.fixture
def history(dovecot):
    """Carol's conversation in the Inbox and Sent, out of order in UIDs, and
    mail that is not hers (Dave's; a message Cc-ing her in the Inbox)."""
    dovecot.append(
        "alice", "INBOX", make_message(CAROL, ME, subject="C3 reply", date=_day(3))
    )
    dovecot.append(
        "alice", "INBOX", make_message(CAROL, ME, subject="C1 first", date=_day(1))
    )
    dovecot.append(
        "alice", "Sent", make_message(ME, CAROL, subject="C2 answer", date=_day(2))
    )
    dovecot.append(
        "alice",
        "Sent",
        make_message(ME, [DAVE], cc=[CAROL], subject="C4 cc", date=_day(4)),
    )
    dovecot.append("alice", "INBOX", make_message(DAVE, ME, subject="D1", date=_day(1)))
    dovecot.append(
        "alice",
        "INBOX",
        make_message(DAVE, ME, cc=[CAROL], subject="D2 cc carol", date=_day(5)),
    )
    # The server matches substrings: the matcher keeps the exact address.
    dovecot.append(
        "alice",
        "INBOX",
        make_message("xcarol@client.example.com", ME, subject="not her", date=_day(6)),
    )
    return dovecot


def test_past_mail_recorded_once_in_date_order(history):
    """A lead the turn gives no older mail gets Carol's history, Inbox and
    Sent together in the order it was written, and nothing else; a second
    search adds nothing (the store's ledger)."""
    store = Store()
    chunks = []
    outcome = _find(history, store, written=lambda o: chunks.append(o.recorded))
    assert [s for _m, _l, s in store.recorded] == [
        "C1 first",
        "C2 answer",
        "C3 reply",
        "C4 cc",
    ]
    assert {lead for _m, lead, _s in store.recorded} == {LEAD}
    assert (outcome.found, outcome.matched, outcome.recorded) == (5, 4, 4)
    assert chunks == [4] and not outcome.cut and not outcome.truncated

    again = _find(history, store)
    assert (again.matched, again.recorded) == (4, 0)
    assert len(store.recorded) == 4


def test_bounded_newest_first_and_chunks_written_early(dovecot):
    """At most ``limit`` messages per folder are read (the newest); each chunk
    is handed over as soon as it is recorded."""
    for n in range(12):
        dovecot.append(
            "alice", "INBOX", make_message(CAROL, ME, subject=f"M{n:02}", date=_day(n))
        )
    store = Store()
    seen = []
    outcome = _find(
        dovecot,
        store,
        limit=10,
        batch_size=4,
        written=lambda o: seen.append(len(store.recorded)),
    )
    assert outcome.truncated and (outcome.found, outcome.read) == (12, 10)
    assert [s for _m, _l, s in store.recorded] == [f"M{n:02}" for n in range(2, 12)]
    assert seen == [4, 8, 10]


def test_noise_stays_out_as_in_a_turn(dovecot):
    """Carol's newsletter (List-Id) is not recorded; with the rule off, it is."""
    dovecot.append(
        "alice",
        "INBOX",
        make_message(
            CAROL,
            ME,
            subject="Newsletter",
            date=_day(1),
            headers={"List-Id": "<news.client.example.com>"},
        ),
    )
    store = Store()
    assert _find(dovecot, store).recorded == 0
    assert _find(dovecot, store, noise_rules=()).recorded == 1


def test_blocklisted_address_finds_nothing(history):
    class Blocked:
        def blocks(self, address):
            return address == CAROL

    store = Store()
    outcome = _find(history, store, blocklist=Blocked())
    assert store.recorded == [] and outcome.recorded == 0


@pytest.mark.parametrize(
    "address",
    ['we"ird\\(x)@client.example.com', "josé@exemple.example.com"],
)
def test_quoting_of_unusual_addresses(dovecot, address):
    """Quotes, backslashes, parentheses and non-ASCII characters reach the
    server as the address they are (no syntax error, no other message)."""
    dovecot.append("alice", "INBOX", make_message(CAROL, ME, subject="not this"))
    with ImapSession(dovecot.client_settings("alice")) as session:
        session.select_folder("INBOX")
        for direction in ("in", "out"):
            criteria, charset = past_mail.criteria_for(address, direction)
            assert session.search(criteria, charset) == []


def test_control_characters_refused():
    with pytest.raises(ValueError):
        past_mail.criteria_for('x@y.example.com" ALL\r\nA1 LOGOUT', "in")


def test_deadline_ends_it_without_raising(history):
    store = Store()
    outcome = _find(history, store, deadline=Deadline(0))
    assert outcome.cut and store.recorded == []


def test_server_failure_raises(dovecot):
    with ImapSession(dovecot.client_settings("alice")) as session:
        folders = [FolderState("Nowhere", "in")]
        with pytest.raises(errors.MailSyncError) as caught:
            past_mail.find_past_mail(
                session, folders, Store(), LEAD, CAROL, attachment_cap=10**6
            )
        assert caught.value.code == "folder_missing"
