"""Tests of lib.blocklist: entry validation and the blocked-address decision."""

import pytest
from lib.privacy.blocklist import Blocklist, is_blocked, validate_entry


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Ceo@Acme.com", "ceo@acme.com"),
        ("  ceo@acme.com  ", "ceo@acme.com"),
        ("<ceo@acme.com>", "ceo@acme.com"),
        ("acme.com", "acme.com"),
        ("ACME.com.", "acme.com"),
        ("@Acme.com", "acme.com"),
        ("*.acme.com", "acme.com"),
        (".acme.com", "acme.com"),
        ("sales.acme.co.uk", "sales.acme.co.uk"),
        ("Bücher.de", "bücher.de"),
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),
    ],
)
def test_validate_entry_canonical_form(value, expected):
    assert validate_entry(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        None,
        "foo",
        "a@@b",
        "a@b",
        "http://x.com",
        "https://www.x.com/contact",
        "x.com/contact",
        "1.2.3.4",
        "-acme.com",
        "acme-.com",
        "a..com",
        "a b.com",
        "Name <a@b.com>",
        "a@b.com, c@d.com",
        "@",
        "*.",
        "@@acme.com",
    ],
)
def test_validate_entry_rejects(value):
    with pytest.raises(ValueError) as info:
        validate_entry(value)
    assert str(info.value)  # a message for the user


def test_validate_entry_messages_are_helpful():
    with pytest.raises(ValueError, match="web address"):
        validate_entry("http://x.com")
    with pytest.raises(ValueError, match="empty"):
        validate_entry("")
    with pytest.raises(ValueError, match="neither an email address nor a domain"):
        validate_entry("foo")
    with pytest.raises(ValueError, match="not a valid email address"):
        validate_entry("a@@b")


@pytest.fixture
def blocklist():
    return Blocklist(
        ["acme.com", "Ceo@Other.com", "*.Partner.example", "garbage", "", None],
        own_domains=["@MyCompany.example"],
    )


@pytest.mark.parametrize(
    ("address", "blocked"),
    [
        ("someone@acme.com", True),
        ("SOMEONE@ACME.COM", True),
        ("x@sales.acme.com", True),
        ("x@eu.sales.acme.com", True),
        ('"Boss" <ceo@other.com>', True),
        ("CEO@OTHER.COM", True),
        ("cfo@other.com", False),
        ("x@notacme.com", False),
        ("x@acme.com.evil.org", False),
        ("x@acme.co", False),
        ("x@partner.example", True),
        ("x@crm.partner.example", True),
        ("me@mycompany.example", True),
        ("me@mail.mycompany.example", True),
        ("x@example", False),
        ("", False),
        (None, False),
        ("not an address", False),
        ("acme.com", False),
    ],
)
def test_blocks(blocklist, address, blocked):
    assert blocklist.blocks(address) is blocked
    assert (address in blocklist) is blocked


def test_idn_domains_match_in_both_forms():
    assert Blocklist(["bücher.de"]).blocks("x@xn--bcher-kva.de")
    assert Blocklist(["xn--bcher-kva.de"]).blocks("x@shop.bücher.de")


def test_empty_blocklist_blocks_nothing():
    empty = Blocklist()
    assert not empty.blocks("a@b.com")
    assert "a@b.com" not in empty


def test_a_lone_string_is_one_entry_not_characters():
    assert Blocklist("acme.com").domains == {"acme.com"}
    assert not Blocklist("acme.com").blocks("x@a.com")
    assert is_blocked("x@acme.com", [], own_domains="acme.com")


def test_is_blocked_convenience():
    assert is_blocked("x@sub.acme.com", ["acme.com"])
    assert not is_blocked("x@acme.com", ["other.com"])
    assert is_blocked("me@own.example", [], own_domains=["own.example"])


def test_introspection(blocklist):
    assert blocklist.emails == {"ceo@other.com"}
    assert {"acme.com", "partner.example", "mycompany.example"} <= blocklist.domains
    assert "Blocklist" in repr(blocklist)


def test_many_entries_lookup_is_cheap():
    big = Blocklist([f"domain{i}.example" for i in range(50_000)])
    assert big.blocks("x@a.b.domain49999.example")
    assert not big.blocks("x@domain50000.example")
