"""Tests of lib.sync.explain: "Why is this email not here?" from the facts, and
lib.privacy.blocklist.blocking_entry (which entry blocks an address)."""

from datetime import datetime

import pytest
from lib.privacy.blocklist import OWN_DOMAIN, blocking_entry
from lib.sync import explain, skip_reasons
from lib.sync.explain import (
    Email,
    Facts,
    Held,
    Lead,
    Mailbox,
    Moved,
    Recorded,
    ServerMessage,
)

ALICE = "alice@acme.example.com"
ME = "me@ourcompany.example.com"
CONNECTED = datetime(2026, 1, 1)
LEAD = Lead(1, "Acme robots", datetime(2025, 6, 1), frozenset({ALICE}))
LATE_LEAD = Lead(1, "Acme robots", datetime(2026, 3, 1), frozenset({ALICE}))
BOX = Mailbox(7, ME, "enabled", CONNECTED)


def email(key="<1@acme>", subject="Quote", date=datetime(2026, 2, 1)):
    return Email(key, subject, date)


def found(key="<1@acme>", sender=ALICE, **kw):
    values = {
        "mailbox_id": BOX.id,
        "folder": "INBOX",
        "direction": "in",
        "uid": 3,
        "from_": (sender,),
        "recipients": (ME,),
        "beyond_checkpoint": True,
    }
    values.update(kw)
    date = values.pop("date", datetime(2026, 2, 1))
    return ServerMessage(email(key, date=date), **values)


def answer(**kw):
    values = {"lead": LEAD, "mailboxes": (BOX,), "searched": (BOX.id,)}
    values.update(kw)
    return [
        (f.code, f.detail, f.action, f.count) for f in explain.explain(Facts(**values))
    ]


def test_recorded_on_this_lead():
    facts = {"recorded": (Recorded(email(), 1, "Acme robots"),), "found": (found(),)}
    assert answer(**facts) == [("recorded", "", "nothing", 1)]


def test_not_found_in_any_connected_mailbox():
    findings = explain.explain(Facts(LEAD, (BOX,), searched=(BOX.id,)))
    assert [(f.code, f.action) for f in findings] == [("not_found", "check_question")]
    assert findings[0].mailboxes == [BOX]


def test_blocklisted_by_which_entry_and_own_domain():
    blocked = {ALICE: ("domain", "acme.example.com")}
    assert answer(found=(found(),), blocked=blocked) == [
        ("blocklisted", "acme.example.com", "remove_blocklist_entry", 1)
    ]
    blocked = {ALICE: (OWN_DOMAIN, "acme.example.com")}
    assert answer(found=(found(),), blocked=blocked) == [
        ("own_domain", "acme.example.com", "own_domain_setting", 1)
    ]


def test_one_unblocked_matching_address_is_enough():
    bob = "bob@acme.example.com"
    lead = Lead(1, "Acme", LEAD.created, frozenset({ALICE, bob}))
    sent = found(direction="out", folder="Sent", from_=(ME,), recipients=(ALICE, bob))
    result = answer(lead=lead, found=(sent,), blocked={ALICE: ("email", ALICE)})
    assert result == [("not_yet_synced", "", "sync_now", 1)]


@pytest.mark.parametrize("rule", explain.NOISE)
def test_noise_rules_are_named(rule):
    assert answer(found=(found(noise=rule),)) == [(rule, rule, "noise_rule_setting", 1)]


def test_no_lead_says_where_it_is_instead():
    other = found(sender="bruno@globex.example.com")
    assert answer(found=(other,)) == [("no_lead", "", "add_address", 1)]
    elsewhere = (Recorded(email(), 9, "Globex"),)
    assert answer(found=(other,), recorded=elsewhere) == [
        ("no_lead", "Globex", "add_address", 1)
    ]
    # Inbox: the sender counts, not a Cc
    cc = found(sender="bruno@globex.example.com", recipients=(ME, ALICE))
    assert answer(found=(cc,))[0][0] == "no_lead"


def test_before_the_lead_with_past_mail_off_or_on_request():
    old = found(date=datetime(2026, 2, 1))
    assert answer(lead=LATE_LEAD, found=(old,)) == [
        ("before_lead", "off", "ask_past_emails", 1)
    ]
    assert answer(lead=LATE_LEAD, found=(old,), past_mail="on_request") == [
        ("before_lead", "on_request", "find_past_emails", 1)
    ]
    # automatic: it is being fetched; a lead that existed at connect has it all
    assert answer(lead=LATE_LEAD, found=(old,), past_mail="auto")[0][0] == (
        "not_yet_synced"
    )
    assert answer(lead=LEAD, found=(old,))[0][0] == "not_yet_synced"


def test_passed_by_the_sync_when_it_was_not_to_be_recorded():
    # behind the checkpoint, and recorded under today's facts: the lead got this
    # address later, or a rule was switched off since; the sync does not go back
    passed = found(beyond_checkpoint=False)
    assert answer(found=(passed,)) == [
        ("passed_earlier", "off", "read_history_again", 1)
    ]
    assert answer(found=(passed,), past_mail="on_request") == [
        ("passed_earlier", "on_request", "find_past_emails", 1)
    ]


def test_held_message_waiting_for_retry():
    hold = Held(email(), BOX.id, "INBOX", 3, attempts=2)
    assert answer(found=(found(),), held=(hold,)) == [("held", "", "nothing", 1)]
    # a held message given up on is skipped for good: the search decides
    gone = Held(email(), BOX.id, "INBOX", 3, attempts=5, given_up=True)
    assert answer(found=(found(),), held=(gone,))[0][0] == "not_yet_synced"


def test_mailbox_not_connected_or_in_error():
    off = Mailbox(8, "old@ourcompany.example.com", "draft", None)
    broken = Mailbox(9, ME, "error", CONNECTED, "The password was refused")
    result = answer(mailboxes=(off, broken), searched=(), search_failed={9: "refused"})
    assert result == [
        ("mailbox_error", "The password was refused", "reconnect", 0),
        ("mailbox_disconnected", "", "reconnect", 0),
        ("search_failed", "refused", "nothing", 0),
    ]
    assert answer(mailboxes=(), searched=()) == [("no_mailbox", "", "connect", 0)]


def test_moved_off_this_lead():
    result = answer(found=(found(),), moved=(Moved(email(), "Acme phase 2"),))
    assert result == [("moved", "Acme phase 2", "open_lead", 1)]


def test_findings_in_order_one_line_per_reason():
    facts = {
        "found": (
            found("<a@x>", uid=1, noise=skip_reasons.MAILING_LIST),
            found("<b@x>", uid=2, sender="other@else.example.com"),
            found("<c@x>", uid=3, sender="other@else.example.com"),
            found("<d@x>", uid=4),
        ),
        "recorded": (Recorded(email("<d@x>"), 1, "Acme robots"),),
    }
    assert answer(**facts) == [
        ("recorded", "", "nothing", 1),
        ("no_lead", "", "add_address", 2),
        ("mailing_list", "mailing_list", "noise_rule_setting", 1),
    ]


def test_blocking_entry_names_the_entry():
    values = ["bruno@globex.example.com", "acme.example.com"]
    assert blocking_entry("Alice@Sales.Acme.example.com", values) == (
        "domain",
        "acme.example.com",
    )
    assert blocking_entry("bruno@globex.example.com", values) == (
        "email",
        "bruno@globex.example.com",
    )
    assert blocking_entry(
        "me@ourcompany.example.com", values, ["ourcompany.example.com"]
    ) == (
        OWN_DOMAIN,
        "ourcompany.example.com",
    )
    assert blocking_entry("x@notacme.example.org", values) is None
    assert blocking_entry("not an address", values) is None


def test_held_uids_are_left_out_of_the_search():
    from lib.imap.question import without_uids

    crit = 'FROM "a@x"'
    assert without_uids(crit, set(), 5) == crit
    assert without_uids(crit, {2}, 3) == 'UID 1:1 FROM "a@x"'  # never "3:*"
    assert without_uids(crit, {2, 3}, 10) == 'UID 1:1,4:9 FROM "a@x"'
    assert without_uids(crit, {1}, 2) is None
    assert without_uids(["FROM", "é@x"], {1}, 4) == ["UID", "2:3", "FROM", "é@x"]
