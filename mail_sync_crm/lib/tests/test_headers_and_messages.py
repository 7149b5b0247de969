"""lib.message.headers and lib.message.full_message: header and full-message
parsing that never raises."""

import base64
import datetime
import random

import pytest
from lib.message import full_message as parser_module
from lib.message.full_message import ParsedMessage, parse_message, text_to_html
from lib.message.headers import (
    HEADER_FIELDS,
    HeaderInfo,
    decode_words,
    parse_date,
    parse_headers,
)

from mail_sync_testing import make_corpus, make_message, malformed_messages

UTC = datetime.timezone.utc
ALICE = ("Alice Example", "alice@example.com")
INTERNAL = datetime.datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def _head(raw: bytes) -> bytes:
    """The header block of a raw message, as far as the first empty line."""
    end = raw.find(b"\r\n\r\n")
    return raw if end < 0 else raw[: end + 4]


def _only_fields(raw: bytes) -> bytes:
    """What ``BODY[HEADER.FIELDS (...)]`` returns for ``raw`` (CRLF endings)."""
    wanted = {name.lower().encode() for name in HEADER_FIELDS}
    kept, keep = [], False
    for line in _head(raw).replace(b"\r\n", b"\n").split(b"\n"):
        if line[:1] in (b" ", b"\t"):
            if keep:
                kept.append(line)
            continue
        keep = line.partition(b":")[0].strip().lower() in wanted
        if keep:
            kept.append(line)
    return b"\r\n".join(kept) + b"\r\n\r\n"


# -- parse_headers ---------------------------------------------------------------


def test_plain_message_fields():
    raw = make_message(
        ("Bob Sender", "Bob@Example.ORG"),
        [ALICE, "carol@example.net"],
        cc=["Dave <dave@example.net>"],
        bcc="eve@example.net",
        subject="Quarterly review",
        date=datetime.datetime(2024, 3, 5, 10, 0, tzinfo=UTC),
        message_id="abc.123@example.org",
        in_reply_to="<parent@example.org>",
        references=["<root@example.org>", "<parent@example.org>"],
    )
    info = parse_headers(raw, size=len(raw), uid=7)
    assert isinstance(info, HeaderInfo)
    assert info.uid == 7 and info.size == len(raw)
    assert info.message_id == "<abc.123@example.org>"
    assert not info.synthetic_id
    assert info.from_ == ["bob@example.org"]
    assert info.to == ["alice@example.com", "carol@example.net"]
    assert info.cc == ["dave@example.net"]
    assert info.bcc == ["eve@example.net"]
    assert info.recipients == [
        "alice@example.com",
        "carol@example.net",
        "dave@example.net",
        "eve@example.net",
    ]
    assert info.subject == "Quarterly review"
    assert info.date == datetime.datetime(2024, 3, 5, 10, 0, tzinfo=UTC)
    assert info.in_reply_to == "<parent@example.org>"
    assert info.references == ["<root@example.org>", "<parent@example.org>"]
    assert info.error is None


def test_encoded_subject_and_display_names():
    raw = make_message(
        ("Zoë Ōkubo, Sales", "zoe@example.jp"),
        [('Jürgen "Jo" Müller', "jo@example.de"), ALICE],
        subject="Angebot für Café – 見積もり ☕ " * 3,
        encoded_subject=True,
    )
    assert b"=?utf-8?" in raw
    info = parse_headers(_only_fields(raw))
    assert info.subject == ("Angebot für Café – 見積もり ☕ " * 3).strip()
    assert info.from_ == ["zoe@example.jp"]
    assert info.to == ["jo@example.de", "alice@example.com"]


def test_decode_words_joins_split_multibyte_characters():
    # "é" (c3 a9) split across two encoded words, as some mailers do.
    assert decode_words("=?UTF-8?Q?Caf=C3?= =?UTF-8?Q?=A9_cr=C3=A8me?=") == "Café crème"
    assert decode_words("=?utf-8?b?w6k=?=x") == "éx"
    assert decode_words("a =?iso-8859-1?q?=E9t=E9?= b") == "a été b"
    assert decode_words("no encoded words") == "no encoded words"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("=?utf-8?Q?caf=E9?=", "café"),  # latin-1 bytes labelled UTF-8
        ("=?x-unknown?Q?Bob?=", "Bob"),  # unknown charset
        ("=?utf-8?B?w?=", "=?utf-8?B?w?="),  # impossible base64: kept
        ("=?utf-8?B?w6k=?= =?broken", "é =?broken"),
        ("=?koi8-r?B?98HbINrBy8Ha?=", "Ваш заказ"),
    ],
)
def test_decode_words_garbage(text, expected):
    assert decode_words(text) == expected


def test_folded_headers_and_bare_lf():
    raw = (
        b"From: Bob\n <bob@example.org>\n"
        b"To: a@example.com,\n\tb@example.com\n"
        b"Subject: folded\n  subject\n"
        b"References: <r1@x>\n <r2@x>\n\t<r3@x>\n"
        b"Message-ID:\n <id@x>\n\n"
    )
    info = parse_headers(raw)
    assert info.from_ == ["bob@example.org"]
    assert info.to == ["a@example.com", "b@example.com"]
    assert info.subject == "folded  subject"  # unfolding keeps the WSP
    assert info.references == ["<r1@x>", "<r2@x>", "<r3@x>"]
    assert info.message_id == "<id@x>"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("<abc@x.org>", "<abc@x.org>"),
        ("  < abc@x.org >  (comment)", "<abc@x.org>"),
        ("abc@x.org", "<abc@x.org>"),
        ("<a@x> <b@x>", "<a@x>"),
        ("<>", None),
        ("", None),
    ],
)
def test_message_id_normalised(value, expected):
    info = parse_headers(f"Message-ID: {value}\r\nFrom: a@b.c\r\n\r\n".encode())
    if expected:
        assert info.message_id == expected and not info.synthetic_id
    else:
        assert info.synthetic_id


def test_repeated_address_fields_are_merged():
    raw = b"To: a@x.com\r\nTo: b@x.com, a@x.com\r\nSubject: one\r\nSubject: two\r\n\r\n"
    info = parse_headers(raw)
    assert info.to == ["a@x.com", "b@x.com"]
    assert info.subject == "one"


def test_synthetic_id_is_stable_and_refolding_insensitive():
    raw = b"From: a@x.com\r\nTo: b@x.com\r\nSubject: no id\r\n\r\n"
    first = parse_headers(raw, size=100)
    again = parse_headers(raw, size=100)
    refolded = parse_headers(b"From: a@x.com\nTo:\n b@x.com\nSubject: no id\n\n", 100)
    assert first.synthetic_id and first.message_id.startswith("<")
    assert first.message_id.endswith("@mail-sync.invalid>")
    assert first.message_id == again.message_id == refolded.message_id
    assert parse_headers(raw, size=101).message_id != first.message_id
    other = b"From: a@x.com\r\nTo: b@x.com\r\nSubject: other\r\n\r\n"
    assert parse_headers(other, size=100).message_id != first.message_id


def test_synthetic_id_same_from_header_fields_and_full_message():
    raw = make_message("a@x.com", "b@x.com", subject="no id", headers={"X-A": "1"})
    raw = b"".join(
        line for line in raw.splitlines(keepends=True) if b"Message-ID" not in line
    )
    from_fields = parse_headers(_only_fields(raw), size=len(raw))
    assert from_fields.synthetic_id
    assert parse_message(raw, 0).message_id == from_fields.message_id


@pytest.mark.parametrize(
    "value, expected",
    [
        ("Tue, 05 Mar 2024 10:00:00 +0100", datetime.datetime(2024, 3, 5, 9, 0)),
        ("5 Mar 2024 10:00:00 -0000", datetime.datetime(2024, 3, 5, 10, 0)),
        ("Tue, 5 Mar 24 10:00 GMT", datetime.datetime(2024, 3, 5, 10, 0)),
        (
            "Sat, 31 Dec 2016 23:59:60 +0000",
            datetime.datetime(2016, 12, 31, 23, 59, 59),
        ),
        ("Mon, 32 Foo 2023 25:61:99 +9999", None),
        ("Mon, 30 Feb 2023 10:00:00 +0000", None),
        ("Mon, 01 Jan 2023 10:00:00 +9999", None),
        ("yesterday", None),
        ("", None),
    ],
)
def test_parse_date(value, expected):
    result = parse_date(value)
    if expected is None:
        assert result is None
    else:
        assert result == expected.replace(tzinfo=UTC)
        assert result.tzinfo is UTC


def test_invalid_or_missing_date_falls_back_to_internaldate():
    bad = parse_headers(b"Date: nonsense\r\nFrom: a@b.c\r\n\r\n", internaldate=INTERNAL)
    assert bad.date == INTERNAL
    missing = parse_headers(b"From: a@b.c\r\n\r\n", internaldate=INTERNAL)
    assert missing.date == INTERNAL
    offset = datetime.timezone(datetime.timedelta(hours=2))
    local = parse_headers(
        b"From: a@b.c\r\n\r\n", internaldate=INTERNAL.astimezone(offset)
    )
    assert local.date == INTERNAL and local.date.utcoffset() == datetime.timedelta(0)
    naive = parse_headers(
        b"From: a@b.c\r\n\r\n", internaldate=INTERNAL.replace(tzinfo=None)
    )
    assert naive.date == INTERNAL
    assert parse_headers(b"From: a@b.c\r\n\r\n").date is None


def test_8bit_headers_and_control_characters():
    raw = (
        b"From: J\xfcrgen <j@example.de>\r\n"
        b"Subject: Caf\xe9\x00 cr\xe8me\x80\tok\r\n"
        b"To: caf\xc3\xa9 <c@example.fr>\r\n\r\n"
    )
    info = parse_headers(raw)
    assert info.from_ == ["j@example.de"]
    assert info.subject == "Café crème ok"
    assert info.to == ["c@example.fr"]


@pytest.mark.parametrize("raw", [b"", b"\r\n", b"\r\n\r\nbody", None])
def test_empty_input(raw):
    info = parse_headers(raw, size=5)
    assert info.error and info.synthetic_id
    assert info.from_ == [] and info.subject == "" and info.date is None


def test_malformed_messages_headers():
    infos = {
        name: parse_headers(raw, size=len(raw), internaldate=INTERNAL)
        for name, raw in malformed_messages().items()
    }
    assert infos["raw_8bit_headers"].subject == "Café crème à la carte"
    assert infos["raw_8bit_headers"].from_ == ["juergen@example.com"]
    assert infos["nul_bytes"].subject == "NUL inside"
    assert infos["no_headers"].error and infos["no_headers"].synthetic_id
    assert infos["empty_header_block"].error
    assert infos["invalid_date"].date == INTERNAL
    assert infos["garbage_encoded_words"].from_ == ["ew@example.com"]
    assert infos["garbage_encoded_words"].to == ["bob@example.com"]
    assert infos["missing_from_and_message_id"].synthetic_id
    assert infos["missing_from_and_message_id"].from_ == []
    assert infos["bare_lf_line_endings"].message_id == "<lf@example.com>"
    assert len(infos["very_long_header_line"].to) == 400
    for name in (
        "raw_8bit_headers",
        "nul_bytes",
        "invalid_date",
        "bare_lf_line_endings",
    ):
        assert infos[name].error is None, name


def test_quick_parse_reads_the_same_fields_when_they_are_used():
    """A quick parse reads the addresses at once and the other fields on first
    use; whatever the input, the result is the one of a full parse."""
    rng = random.Random(6)
    corpus = [c.raw for c in make_corpus(300, seed=12, attachment_ratio=0)]
    samples = [_only_fields(raw) for raw in corpus]
    samples += [_head(raw) for raw in malformed_messages().values()]
    for _ in range(300):
        raw = bytearray(_head(rng.choice(corpus)))
        for _flip in range(rng.randint(1, 30)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        samples.append(bytes(raw[: rng.randrange(len(raw) + 1)]))
    samples += [b"", b"\r\n", rng.randbytes(300), b"Subject: only\r\n\r\n"]
    for uid, raw in enumerate(samples):
        quick = parse_headers(raw, size=uid, internaldate=INTERNAL, uid=uid, quick=True)
        full = parse_headers(raw, size=uid, internaldate=INTERNAL, uid=uid)
        assert (quick.from_, quick.recipients, quick.error) == (
            full.from_,
            full.recipients,
            full.error,
        )
        assert quick == full, raw  # compares every field: the rest is read now
    lazy = parse_headers(samples[0], quick=True)
    with pytest.raises(AttributeError):
        object.__getattribute__(lazy, "date")  # not read until used
    assert lazy.date == parse_headers(samples[0]).date


def test_parse_headers_never_raises_on_noise():
    rng = random.Random(1)
    corpus = [c.raw for c in make_corpus(30, seed=3, attachment_ratio=0)]
    for _ in range(400):
        raw = bytearray(_head(rng.choice(corpus)))
        for _flip in range(rng.randint(1, 30)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        info = parse_headers(bytes(raw[: rng.randrange(len(raw) + 1)]), size=1)
        assert info.message_id.startswith("<")
    for _ in range(200):
        noise = rng.randbytes(rng.randint(0, 600))
        assert parse_headers(noise).message_id


# -- parse_message ------------------------------------------------------------


def test_html_part_preferred():
    raw = make_message(
        "bob@example.org",
        ALICE,
        text="plain <b>text</b>",
        html="<p>Hello <b>there</b></p>",
    )
    parsed = parse_message(raw, 10_000)
    assert isinstance(parsed, ParsedMessage)
    assert parsed.body_html.strip() == "<p>Hello <b>there</b></p>"
    assert parsed.attachments == [] and parsed.error is None
    assert parsed.from_ == ["bob@example.org"] and parsed.to == ["alice@example.com"]


def test_plain_text_becomes_escaped_html():
    raw = make_message(
        "bob@example.org", ALICE, text="a < b & c\r\nline 2 <script>x</script>\n"
    )
    parsed = parse_message(raw, 0)
    assert parsed.body_html == (
        "<p>a &lt; b &amp; c<br>\nline 2 &lt;script&gt;x&lt;/script&gt;</p>"
    )
    assert parsed.body_is_text
    assert text_to_html('"q"\x00\x0c \xa0x\n\n') == '<p>"q" &nbsp;x</p>'
    assert text_to_html(" \r\n\t") == ""


def test_non_utf8_and_unknown_charsets():
    raw = (
        b"From: a@x.com\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\n"
        b"Gr\xfc\xdfe\r\n"
    )
    assert parse_message(raw, 0).body_html == "<p>Grüße</p>"
    raw = (
        b"From: a@x.com\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\n"
        b"caf\xe9 ok\r\n"
    )
    assert parse_message(raw, 0).body_html == "<p>café ok</p>"
    raw = (
        b"From: a@x.com\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nw6kgIQ==\r\n"
    )
    assert parse_message(raw, 0).body_html == "<p>é !</p>"


def test_attachments_within_cap_and_omitted():
    raw = make_message(
        "bob@example.org",
        ALICE,
        text="see attached",
        attachments=[
            ("small.pdf", b"%PDF" + b"a" * 996, "application/pdf"),
            ("big.zip", b"z" * 5000, "application/zip"),
            ("tiny.txt", b"hello", "text/plain"),
            ("Prix d’été ☀.png", b"\x89PNG" + b"p" * 96, None),
        ],
    )
    parsed = parse_message(raw, attachment_cap=2000)
    names = [name for name, _content, _type in parsed.attachments]
    assert names == ["small.pdf", "tiny.txt", "Prix d’été ☀.png"]
    assert parsed.attachments[0] == (
        "small.pdf",
        b"%PDF" + b"a" * 996,
        "application/pdf",
    )
    assert parsed.attachments[2][2] == "image/png"
    assert parsed.omitted_attachments == [("big.zip", 5000)]
    assert parsed.body_html == "<p>see attached</p>"
    assert sum(len(c) for _n, c, _t in parsed.attachments) <= 2000
    nothing = parse_message(raw, attachment_cap=0)
    assert nothing.attachments == [] and len(nothing.omitted_attachments) == 4


def test_attachment_name_is_sanitised_and_forwarded_message_kept():
    inner = make_message("x@y.com", "z@y.com", subject="inner")
    raw = (
        b"From: a@x.com\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nbody\r\n"
        b"--B\r\nContent-Type: application/octet-stream\r\n"
        b'Content-Disposition: attachment; filename="../../etc/passwd"\r\n\r\nx\r\n'
        b"--B\r\nContent-Type: image/gif\r\n\r\nGIF\r\n"
        b"--B\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--B--\r\n"
    )
    parsed = parse_message(raw, 10**6)
    names = [name for name, _c, _t in parsed.attachments]
    assert names == ["passwd", "attachment-2.gif", "attachment-3.eml"]
    assert b"Subject: inner" in parsed.attachments[2][1]
    assert parsed.body_html == "<p>body</p>"


def _attachment_cases():
    """Messages whose base64 runs sit in every place the parser may meet them."""
    rng = random.Random(4)
    blob = rng.randbytes(30_000)
    inner = make_message(
        "x@y.com", "z@y.com", subject="inner", attachments=[("in.bin", blob, None)]
    )
    folded = base64.encodebytes(blob).replace(b"\n", b"\r\n")
    fake = b"<mail-sync-elided 0123456789abcdef 0>"
    return {
        **{
            f"corpus {i}": c.raw
            for i, c in enumerate(
                make_corpus(
                    6, seed=8, attachment_ratio=1.0, attachment_size=(9000, 60_000)
                )
            )
        },
        "two attachments and html": make_message(
            "bob@example.org",
            ALICE,
            html="<p>see</p>",
            attachments=[
                ("a.pdf", blob, "application/pdf"),
                ("b.png", blob[::-1], None),
            ],
        ),
        "forwarded message with an attachment": (
            b"From: a@x.com\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
            b"--B\r\nContent-Type: text/plain\r\n\r\nbody\r\n"
            b"--B\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--B--\r\n"
        ),
        "run against the closing boundary, bare LF": (
            b"From: a@x.com\nMIME-Version: 1.0\n"
            b'Content-Type: multipart/mixed; boundary="B"\n\n'
            b"--B\nContent-Type: application/octet-stream\n"
            b"Content-Transfer-Encoding: base64\n\n"
            + base64.encodebytes(blob[:22_800]).rstrip(b"\n")
            + b"\n--B--"
        ),
        "run in a text body, a look-alike token, no final newline": (
            b"From: a@x.com\r\nContent-Type: text/plain\r\n\r\n"
            + fake
            + b"\r\n"
            + folded.rstrip()
        ),
        "run in the preamble": (
            b"From: a@x.com\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
            + folded
            + b"--B\r\nContent-Type: text/plain\r\n\r\nbody\r\n--B--\r\n"
        ),
    }


@pytest.mark.parametrize("name", list(_attachment_cases()))
def test_attachments_read_the_same_as_line_by_line(name, monkeypatch):
    """Base64 runs are cut out while the MIME structure is read, then put back:
    every field, attachment byte and defect is what a line-by-line parse gives."""
    raw = _attachment_cases()[name]
    fast = parse_message(raw, 10**6)
    monkeypatch.setattr(parser_module, "ELIDE_MIN_SIZE", float("inf"))
    slow = parse_message(raw, 10**6)
    assert fast == slow
    assert fast.attachments or "text body" in name or "preamble" in name
    if "look-alike" in name:
        assert fast.body_html.startswith(
            "<p>&lt;mail-sync-elided 0123456789abcdef 0&gt;"
        )


def test_malformed_messages_never_raise():
    for name, raw in malformed_messages().items():
        parsed = parse_message(raw, 1000)
        assert isinstance(parsed, ParsedMessage), name
        assert "\x00" not in parsed.body_html
    parsed = {name: parse_message(raw, 0) for name, raw in malformed_messages().items()}
    assert parsed["raw_8bit_headers"].body_html == "<p>Grüße aus Köln</p>"
    assert parsed["nul_bytes"].body_html == "<p>beforeafter</p>"
    assert parsed["no_headers"].error
    assert "This message has no header block" in parsed["no_headers"].body_html
    assert (
        "part without the declared boundary" in parsed["broken_mime_boundary"].body_html
    )
    assert "Boundary" in parsed["broken_mime_boundary"].error
    assert parsed["invalid_date"].date is None
    assert parsed["invalid_date"].error is None


def test_parse_message_never_raises_on_damaged_corpus():
    rng = random.Random(2)
    corpus = [
        c.raw
        for c in make_corpus(
            20, seed=9, attachment_ratio=0.5, attachment_size=(500, 3000)
        )
    ]
    for _ in range(150):
        raw = bytearray(rng.choice(corpus))
        for _flip in range(rng.randint(1, 40)):
            raw[rng.randrange(len(raw))] = rng.choice(b'\x00\r\n-=?:;"<>\xff')
        cut = bytes(raw[: rng.randrange(len(raw) + 1)])
        parsed = parse_message(cut, rng.choice([0, 2000, 10**6]))
        assert parsed.message_id.startswith("<")
    for _ in range(100):
        assert isinstance(
            parse_message(rng.randbytes(rng.randint(0, 2000)), 100), ParsedMessage
        )
