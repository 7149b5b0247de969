"""lib.matcher: which messages belong to which leads."""

import pytest
from lib.message.headers import HeaderInfo, parse_headers
from lib.privacy.blocklist import Blocklist
from lib.sync.matcher import Match, chunks, match

INDEX = {
    "ann@acme.example": {1},
    "bob@globex.example": {2, 3},
    "carl@initech.example": {4},
    "dora@mycompany.example": {5},
}


def _header(uid, from_=(), to=(), cc=(), bcc=()):
    return HeaderInfo(
        uid=uid,
        message_id=f"<m{uid}@x>",
        from_=list(from_),
        to=list(to),
        cc=list(cc),
        bcc=list(bcc),
    )


def test_inbox_matches_the_sender_only():
    headers = [
        _header(1, from_=["ann@acme.example"], to=["me@mycompany.example"]),
        _header(2, from_=["stranger@x.example"], to=["ann@acme.example"]),
        _header(3, from_=["nobody@x.example"]),
    ]
    assert match(headers, "in", INDEX) == [
        Match(1, "<m1@x>", frozenset({1}), ("ann@acme.example",))
    ]


def test_sent_matches_any_recipient():
    headers = [
        _header(1, from_=["me@x.example"], to=["ann@acme.example"]),
        _header(2, from_=["me@x.example"], cc=["bob@globex.example"]),
        _header(3, from_=["me@x.example"], bcc=["carl@initech.example"]),
        _header(4, from_=["ann@acme.example"], to=["nobody@x.example"]),
    ]
    result = match(headers, "out", INDEX)
    assert [(m.uid, m.lead_ids) for m in result] == [
        (1, frozenset({1})),
        (2, frozenset({2, 3})),
        (3, frozenset({4})),
    ]


def test_several_leads_give_one_match():
    headers = [
        _header(
            9,
            to=["ann@acme.example", "nobody@x.example"],
            cc=["bob@globex.example", "ann@acme.example"],
            bcc=["carl@initech.example"],
        )
    ]
    (result,) = match(headers, "out", INDEX)
    assert result.uid == 9 and result.message_id == "<m9@x>"
    assert result.lead_ids == frozenset({1, 2, 3, 4})
    assert result.addresses == (
        "ann@acme.example",
        "bob@globex.example",
        "carl@initech.example",
    )
    assert hash(result)  # frozen, usable in sets


def test_blocked_addresses_never_match():
    blocklist = Blocklist(["bob@globex.example"], own_domains=["mycompany.example"])
    headers = [
        _header(1, to=["bob@globex.example"]),
        _header(2, to=["bob@globex.example", "ann@acme.example"]),
        _header(3, to=["dora@mycompany.example"]),
    ]
    result = match(headers, "out", INDEX, blocklist)
    assert [(m.uid, m.lead_ids, m.addresses) for m in result] == [
        (2, frozenset({1}), ("ann@acme.example",))
    ]
    domain_block = Blocklist(["acme.example"])
    inbox = [_header(1, from_=["ann@acme.example"])]
    assert match(inbox, "in", INDEX, domain_block) == []
    assert len(match(inbox, "in", INDEX, None)) == 1


def test_matches_parsed_headers_and_mapping_index():
    raw = (
        b'From: "Ann, Acme" <Ann@ACME.example>\r\n'
        b"To: =?utf-8?q?Me_M=C3=BCller?= <me@x.example>\r\n"
        b"Message-ID: <p@x>\r\n\r\n"
    )
    header = parse_headers(raw, uid=5)
    index = {"ann@acme.example": frozenset({7})}
    assert match([header], "in", index) == [
        Match(5, "<p@x>", frozenset({7}), ("ann@acme.example",))
    ]
    assert match([header], "out", index) == []


def test_empty_and_invalid_direction():
    assert match([], "in", INDEX) == []
    with pytest.raises(ValueError):
        match([], "both", INDEX)


def test_chunks():
    assert list(chunks(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(chunks([], 3)) == []
    assert list(chunks(iter([1, 2]), 5)) == [[1, 2]]
    assert [len(c) for c in chunks(range(4000), 2000)] == [2000, 2000]
    with pytest.raises(ValueError):
        list(chunks([1], 0))


def test_a_message_naming_an_erased_address_is_not_recorded():
    erased = Blocklist(erased=["Carl@Initech.example"])
    headers = [
        _header(1, from_=["ann@acme.example"], cc=["carl@initech.example"]),
        _header(2, from_=["me@x.example"], to=["bob@globex.example"]),
        _header(3, from_=["me@x.example"], bcc=["carl@initech.example"]),
        _header(4, from_=["carl@initech.example"]),
    ]
    assert [m.uid for m in match(headers[:1], "in", INDEX, erased)] == []
    assert [m.uid for m in match(headers[1:3], "out", INDEX, erased)] == [2]
    assert match(headers[3:], "in", INDEX, erased) == []
    assert erased.blocks("carl@initech.example")
    assert erased.erased == frozenset({"carl@initech.example"})
    # without the erasure, the same messages are recorded
    assert [m.uid for m in match(headers[:1], "in", INDEX, Blocklist())] == [1]
