"""Tests of lib.addresses: normalisation and extraction of email addresses."""

import time

import pytest
from lib.message.addresses import domain_of, extract_all, normalize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('"Bruno Keller" <B.Keller@Globex.example.com>', "b.keller@globex.example.com"),
        ("Bruno Keller <B.Keller@Globex.example.com>", "b.keller@globex.example.com"),
        ("<x@y>", "x@y"),
        ("x@y", "x@y"),
        ("  B.Keller@Globex.example.com.  ", "b.keller@globex.example.com"),
        ("<b.keller@globex.example.com.>", "b.keller@globex.example.com"),
        ("=?utf-8?q?Chlo=C3=A9?= <c@d.com>", "c@d.com"),
        ("=?UTF-8?B?Q2hsb8Op?= <C@D.com>", "c@d.com"),
        ("mailto:Sales@Acme.com", "sales@acme.com"),
        ("< john.doe @ example.com >", "john.doe@example.com"),
        ("x@Bücher.DE", "x@bücher.de"),
        ("x@xn--bcher-kva.de", "x@xn--bcher-kva.de"),
        ("first.last+tag=x@example.com", "first.last+tag=x@example.com"),
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("'quoted@example.com'", "quoted@example.com"),
        ("john@example.com (John Doe)", "john@example.com"),
        ('"a@b" <real@c.com>', "real@c.com"),
        ("a@b.com, c@d.com", "a@b.com"),
        ("<@route.example:r@x.com>", "r@x.com"),
        (b'"Ren\xc3\xa9" <R@x.com>', "r@x.com"),
        (b'"Ren\xe9" <R@x.com>', "r@x.com"),  # latin-1, not UTF-8
    ],
)
def test_normalize_valid(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "   ",
        "foo",
        "a@@b",
        "a@b@c",
        "@example.com",
        "user@",
        "a@b..com",
        "a@.com",
        "John Doe",
        "<>",
        "undisclosed-recipients:;",
        b"\xff\xfe\x00",
        12,
        object(),
        ["a@b.com"],
    ],
)
def test_normalize_invalid_gives_none(raw):
    assert normalize(raw) is None


def test_normalize_is_idempotent():
    once = normalize('"X" <Mixed.Case@Example.COM>')
    assert normalize(once) == once


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("a@b.com", ["a@b.com"]),
        ("A <a@b.com>, B <b@c.com>", ["a@b.com", "b@c.com"]),
        ('"Doe, John" <j@d.com>, x@y.org', ["j@d.com", "x@y.org"]),
        ('"a@b" <real@c.com>', ["real@c.com"]),
        ('"Sales, <fake@x.com>" <real@c.com>', ["real@c.com"]),
        ('"esc\\"aped, x@y.com" <real@c.com>', ["real@c.com"]),
        ("undisclosed-recipients:;", []),
        ("Team: A@b.com, c@d.com;, e@f.com", ["a@b.com", "c@d.com", "e@f.com"]),
        ("Empty group:;, solo@x.com", ["solo@x.com"]),
        ("=?utf-8?q?Doe,_John?= <j@d.com>", ["j@d.com"]),
        (
            "=?utf-8?q?Chlo=C3=A9?= <c@d.com>, =?iso-8859-1?q?Ren=E9?= <r@e.fr>",
            ["c@d.com", "r@e.fr"],
        ),
        ("=?UTF-8?B?IkJydW5vIiA8Yi5rQGcuY29tPg==?=", ["b.k@g.com"]),
        ("=?unknown-charset?q?X?= <x@y.com>", ["x@y.com"]),
        ("a@b.com, A@B.COM, <a@b.com>, c@d.com", ["a@b.com", "c@d.com"]),
        ("x@y.com (Boss (the (real) one) z@evil.com), w@v.com", ["x@y.com", "w@v.com"]),
        ("a@b.com\r\n\t, c@d.com", ["a@b.com", "c@d.com"]),
        ('"unterminated <a@b.com>', ["a@b.com"]),
        ("John Smith j@s.com", ["j@s.com"]),
        ("<broken@x.com, ok@y.com", ["broken@x.com", "ok@y.com"]),
        ("not an address, also@not", ["also@not"]),
        ("", []),
        (None, []),
        (b"A <a@b.com>, B <b@c.com>", ["a@b.com", "b@c.com"]),
    ],
)
def test_extract_all(header, expected):
    assert extract_all(header) == expected


def test_extract_all_keeps_order():
    header = ", ".join(f"U{i} <u{i}@x.com>" for i in reversed(range(50)))
    assert extract_all(header) == [f"u{i}@x.com" for i in reversed(range(50))]


@pytest.mark.parametrize(
    "junk",
    [
        '"',
        "<",
        ">",
        "(",
        ")",
        "@",
        "=?",
        "=?utf-8?b?!!!?=",
        "=?utf-8?q?=ZZ?= <a@b.com>",
        ":::;;;,,,",
        "\\",
        '"\\',
        "((((((((a@b.com",
        b"\x80\x81\x82@\xff",
        3.14,
    ],
)
def test_extract_all_never_raises(junk):
    assert isinstance(extract_all(junk), list)
    assert normalize(junk) is None or "@" in normalize(junk)


def test_domain_of():
    assert domain_of('"X" <Someone@Sales.Acme.COM>') == "sales.acme.com"
    assert domain_of("nobody") == ""
    assert domain_of(None) == ""


def test_pathological_inputs_stay_linear():
    headers = [
        "a" * 200_000 + " b@c.com",
        '"' + "a" * 200_000 + " b@c.com",
        "(" * 50_000 + "a@b.com",
        "<" * 50_000 + "a@b.com",
        "a@" * 50_000,
        "=?utf-8?q?" + "x" * 100_000,
    ]
    start = time.perf_counter()
    for header in headers:
        extract_all(header)
        normalize(header)
    assert time.perf_counter() - start < 2.0


def test_fast_enough_for_a_historical_sync():
    headers = [
        '"Bruno Keller" <B.Keller@Globex.example.com>',
        'Anna <anna@x.com>, bob@y.org, "Doe, John" <j@d.com>',
        "plain@example.com",
    ] * 10_000
    start = time.perf_counter()
    for header in headers:
        extract_all(header)
    elapsed = time.perf_counter() - start
    # ~0.15 s on a laptop; the bound only catches accidental quadratic paths.
    assert elapsed < 3.0
