"""Noise stays out (#20): the rules of ``lib/sync/noise.py`` on header fields,
and the engine leaving list and automated mail off the leads (real Dovecot),
each skip counted once with its reason at the checkpoint that moves past it."""

import pytest
from lib.imap.session import ImapSession
from lib.message.headers import HeaderInfo, parse_headers
from lib.sync import date_order, noise, skip_reasons
from lib.sync import engine as sync_engine
from test_sync_engine import ALICE, BOB, INDEX, LEAD_A, ME, MemoryStore, run

from mail_sync_testing import make_message

LIST_ID = {"List-Id": "Acme users <users.acme.example.com>"}


def _header(*lines, quick=True):
    """A HeaderInfo read from header lines (as the sync's quick parse does)."""
    raw = ("\r\n".join(("From: alice@acme.example.com", *lines)) + "\r\n\r\n").encode()
    return parse_headers(raw, quick=quick)


def _reason(*lines, rules=noise.RULES, to_lead=False):
    return noise.classify(_header(*lines), rules, to_lead)


# -- the rules ---------------------------------------------------------------------


def test_list_id_makes_a_list_mail_whatever_its_case_and_folding():
    assert _reason("List-Id: <users.acme.example.com>") == skip_reasons.MAILING_LIST
    assert _reason("LIST-ID: Users\r\n <users.acme.example.com>") == "mailing_list"
    assert _reason("list-id:\r\n\t<users.acme.example.com>") == "mailing_list"
    assert _reason("List-Id:   ") is None, "an empty List-Id says nothing"


def test_list_unsubscribe_needs_a_bulk_precedence():
    unsubscribe = "List-Unsubscribe: <mailto:leave@acme.example.com>"
    for precedence in ("bulk", "List", "JUNK", "bulk (newsletter)"):
        found = _reason(unsubscribe, f"Precedence: {precedence}")
        assert found == skip_reasons.MAILING_LIST, precedence
    assert _reason(unsubscribe) is None, "personal mailers add List-Unsubscribe too"
    assert _reason("Precedence: bulk") is None, "bulk alone is not a list"
    assert _reason(unsubscribe, "Precedence: first-class") is None
    folded = "List-Unsubscribe:\r\n <https://acme.example.com/leave?id=1>"
    assert _reason(folded, "PRECEDENCE:\r\n bulk") == skip_reasons.MAILING_LIST


def test_auto_submitted_other_than_no_is_automated():
    for value in ("auto-replied", "Auto-Generated", "auto-notified; owner=x@y.z"):
        assert _reason(f"Auto-Submitted: {value}") == skip_reasons.AUTOMATED, value
    assert _reason("Auto-Submitted: auto-replied (vacation)") == "automated"
    assert _reason("Auto-Submitted: no") is None
    assert _reason("auto-submitted: NO (a person wrote this)") is None
    assert _reason("Auto-Submitted:") is None


@pytest.mark.parametrize(
    "address",
    [
        "noreply@acme.example.com",
        "no-reply@acme.example.com",
        "No_Reply@acme.example.com",
        "do-not-reply@acme.example.com",
        "donotreply@acme.example.com",
        "mailer-daemon@acme.example.com",
        "MAILER-DAEMON@acme.example.com",
        "postmaster@acme.example.com",
        "notifications@github.example.com",
        "notification@acme.example.com",
        "bounce@acme.example.com",
        "bounces+12345-alice=ours.example.com@list.example.com",
        "noreply-billing@acme.example.com",
        "github-noreply@acme.example.com",
        "calendar-notification@acme.example.com",
        "noreply+tag@acme.example.com",
    ],
)
def test_role_senders(address):
    assert noise.is_role_address(address.lower())
    header = HeaderInfo(from_=[address.lower()])
    assert noise.classify(header) == skip_reasons.ROLE_SENDER
    assert noise.classify(header, set(noise.RULES) - {"role_sender"}) is None


@pytest.mark.parametrize(
    "address",
    [
        "alice@acme.example.com",
        "info@acme.example.com",
        "sales@acme.example.com",
        "support@acme.example.com",
        "reply@acme.example.com",
        "noreplyguy@acme.example.com",
        "bouncer@acme.example.com",
        "notify.me.not@acme.example.com",
        "alice@noreply.example.com",
        "nonotifications@acme.example.com",
    ],
)
def test_people_and_shared_addresses_are_not_roles(address):
    assert not noise.is_role_address(address)


def test_the_role_is_read_from_the_sender_only():
    header = _header("To: noreply@acme.example.com", quick=False)
    assert noise.classify(header) is None


def test_each_rule_can_be_switched_off_and_the_first_on_gives_the_reason():
    lines = (
        "List-Id: <users.acme.example.com>",
        "Auto-Submitted: auto-generated",
    )
    header = _header(*lines)
    header.from_[:] = ["noreply@acme.example.com"]
    assert noise.classify(header) == skip_reasons.MAILING_LIST
    without_list = set(noise.RULES) - {skip_reasons.MAILING_LIST}
    assert noise.classify(header, without_list) == skip_reasons.AUTOMATED
    assert noise.classify(header, {skip_reasons.ROLE_SENDER}) == "role_sender"
    assert noise.classify(header, ()) is None


def test_a_list_mail_to_its_lead_is_let_through_by_the_list_rule_only():
    assert _reason("List-Id: <l.example.com>", to_lead=True) is None
    auto = ("List-Id: <l.example.com>", "Auto-Submitted: auto-replied")
    assert _reason(*auto, to_lead=True) == skip_reasons.AUTOMATED


def test_noise_fields_do_not_change_a_synthetic_message_id():
    """A message without Message-ID is keyed by its header fields: fetching the
    noise fields too must not give it another key (it would be recorded twice
    after an upgrade)."""
    plain = b"From: alice@acme.example.com\r\nSubject: hi\r\n\r\n"
    listed = (
        b"From: alice@acme.example.com\r\nList-Id: <l.example.com>\r\n"
        b"Auto-Submitted: auto-generated\r\nSubject: hi\r\n\r\n"
    )
    one, two = parse_headers(plain, size=10), parse_headers(listed, size=10)
    assert one.synthetic_id and two.synthetic_id
    assert one.message_id == two.message_id
    assert two.list_id == "<l.example.com>" and two.auto_submitted == "auto-generated"


# -- the engine, against Dovecot ------------------------------------------------------


@pytest.fixture
def session(dovecot):
    with ImapSession(dovecot.client_settings("alice")) as opened:
        yield opened


def _total(store):
    """{reason: count} summed over the store's checkpoints."""
    total = {}
    for progress in store.checkpoints:
        for reason, count in progress.skips.items():
            total[reason] = total.get(reason, 0) + count
    return total


def _fill_inbox(dovecot):
    inbox = [
        make_message(ALICE, ME, subject="person"),
        make_message(ALICE, "users@lists.example.com", subject="list", headers=LIST_ID),
        make_message(
            ALICE,
            ME,
            subject="newsletter",
            headers={
                "List-Unsubscribe": "<mailto:x@y.example.com>",
                "Precedence": "bulk",
            },
        ),
        make_message(
            ALICE, ME, subject="away", headers={"Auto-Submitted": "auto-replied"}
        ),
        make_message(
            ALICE, ME, subject="handwritten", headers={"Auto-Submitted": "no"}
        ),
        make_message("x@nobody.example.com", ME, subject="stranger"),
    ]
    for raw in inbox:
        dovecot.append("alice", "INBOX", raw)


def test_list_and_automated_mail_is_skipped_and_counted(dovecot, session):
    _fill_inbox(dovecot)
    store = MemoryStore()
    outcome = run(session, sync_engine.FolderState("INBOX", "in"), store)
    assert sorted(s for _m, _l, s in store.recorded) == ["handwritten", "person"]
    expected = {"mailing_list": 2, "automated": 1, "no_lead": 1}
    assert _total(store) == expected
    assert dict(outcome.skips) == expected
    assert outcome.skipped == 4


def test_a_rule_switched_off_records_that_mail(dovecot, session):
    _fill_inbox(dovecot)
    store = MemoryStore()
    rules = set(noise.RULES) - {skip_reasons.AUTOMATED}
    run(session, sync_engine.FolderState("INBOX", "in"), store, noise_rules=rules)
    assert "away" in {s for _m, _l, s in store.recorded}
    assert _total(store) == {"mailing_list": 2, "no_lead": 1}
    store = MemoryStore()
    run(session, sync_engine.FolderState("INBOX", "in"), store, noise_rules=())
    assert len(store.recorded) == 5


def test_a_role_sender_that_is_a_lead_is_skipped(dovecot, session):
    index = {"noreply@acme.example.com": {LEAD_A}}
    dovecot.append("alice", "INBOX", make_message("noreply@acme.example.com", ME))
    store = MemoryStore()
    sync_engine.sync_folder(
        session,
        sync_engine.FolderState("INBOX", "in"),
        store,
        index,
        attachment_cap=10**6,
    )
    assert store.recorded == []
    assert _total(store) == {"role_sender": 1}


def test_a_list_mail_addressed_to_its_lead_is_recorded(dovecot, session):
    """Sent from a list address (a shared team list) to the lead: the lead is
    in To or Cc, so it is the person's mail, not the list's broadcast; the same
    list's mail not addressed to one of its leads stays out."""
    team = "team@lists.ours.example.com"
    dovecot.append(
        "alice",
        "Sent",
        make_message(team, ALICE, subject="to the lead", headers=LIST_ID),
    )
    dovecot.append(
        "alice",
        "Sent",
        make_message(
            team, "other@x.example.com", cc=ALICE, subject="cc", headers=LIST_ID
        ),
    )
    dovecot.append(
        "alice",
        "Sent",
        make_message(team, ME, bcc=ALICE, subject="bcc only", headers=LIST_ID),
    )
    store = MemoryStore()
    run(session, sync_engine.FolderState("Sent", "out"), store)
    assert sorted(s for _m, _l, s in store.recorded) == ["cc", "to the lead"]
    assert _total(store) == {"mailing_list": 1}


def test_a_list_mail_from_a_lead_naming_another_lead_stays_out(dovecot, session):
    """The exception needs one of the message's own leads in To/Cc: Alice
    writing to a list with Bob (another lead) in copy is still the list's."""
    dovecot.append(
        "alice",
        "INBOX",
        make_message(ALICE, "users@lists.example.com", cc=BOB, headers=LIST_ID),
    )
    store = MemoryStore()
    run(session, sync_engine.FolderState("INBOX", "in"), store)
    assert store.recorded == []
    assert _total(store) == {"mailing_list": 1}


def test_skips_are_counted_once_when_the_cap_stops_a_run(dovecot, session):
    """The daily cap stops the run at the second email to record: the skips
    above the checkpoint are counted by the run that moves past them."""
    for raw in (
        make_message(ALICE, ME, subject="list 1", headers=LIST_ID),
        make_message(ALICE, ME, subject="one"),
        make_message(ALICE, ME, subject="two"),
        make_message(ALICE, ME, subject="list 2", headers=LIST_ID),
    ):
        dovecot.append("alice", "INBOX", raw)
    folder = sync_engine.FolderState("INBOX", "in")
    store = MemoryStore(cap=1)
    first = run(session, folder, store)
    assert (first.deferred, folder.last_uid) == (True, 2)
    assert _total(store) == {"mailing_list": 1}
    store.cap = None
    second = run(session, folder, store)
    assert folder.last_uid == 4
    assert dict(second.skips) == {"mailing_list": 1}
    assert _total(store) == {"mailing_list": 2}, "each list mail counted once"
    run(session, folder, store)
    assert _total(store) == {"mailing_list": 2}, "nothing new: nothing counted"


def test_the_date_order_sync_counts_the_same(dovecot, session):
    dovecot.fill_maildir("alice", "Sent", [])
    _fill_inbox(dovecot)
    dovecot.append("alice", "Sent", make_message(ME, "stranger@x.example.com"))
    inbox = sync_engine.FolderState("INBOX", "in")
    sent = sync_engine.FolderState("Sent", "out")
    store = MemoryStore()
    outcomes = date_order.sync_history(
        session,
        [inbox, sent],
        store,
        INDEX,
        None,
        attachment_cap=10**6,
        noise_rules={skip_reasons.MAILING_LIST},
    )
    assert sorted(s for _m, _l, s in store.recorded) == [
        "away",
        "handwritten",
        "person",
    ]
    assert dict(outcomes["INBOX"].skips) == {"mailing_list": 2, "no_lead": 1}
    assert dict(outcomes["Sent"].skips) == {"no_lead": 1}
    assert _total(store) == {"mailing_list": 2, "no_lead": 2}
