"""MIME fidelity: every message a mail client can show is read whole.

The shapes of ``mail_sync_testing.mime_corpus.hostile_messages`` one by one, then
three corpora checked against Python's own ``email.policy.default`` parse, whole
and read part by part (a message too large to take whole) through Dovecot."""

import datetime
import os

import pytest
from lib.imap.session import ImapSession
from lib.message import large_message
from lib.message.full_message import parse_message, safe_filename
from lib.message.headers import decode_words, parse_headers
from lib.sync import engine as sync_engine

from mail_sync_testing import mime_corpus
from mail_sync_testing.mime_corpus import html_text

LEAD = "client@client.example.com"
ME = "sally@ours.example.com"
MB = 1024 * 1024
SHAPES = mime_corpus.hostile_messages(LEAD, ME)
INTERNAL = datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)


def _parse(name):
    return parse_message(SHAPES[f"hostile/{name}"], 10 * MB)


def test_rfc2231_charset_file_name_and_boundary_as_mutt_writes_them():
    """``charset*=ansi-x3.4-1968''us-ascii`` (the value the ``email`` package
    returns as a tuple) no longer drops the message as malformed; the file name
    in two encoded continuations and the RFC 2231 boundary read too."""
    parsed = _parse("mutt_rfc2231")
    assert parsed.error is None
    assert parsed.body_html == (
        "<p>Mutt wrote this body with an RFC 2231 charset parameter.</p>"
    )
    assert parsed.attachments == [
        ("Devis révisé n°2.pdf", b"%PDF-1.4 mutt", "application/pdf")
    ]


def test_a_bounce_shows_its_delivery_report_and_keeps_it_attached():
    parsed = _parse("bounce_delivery_status")
    text = " ".join(html_text(parsed.body_html).split())
    assert text.index("could not be delivered") < text.index("Final-Recipient")
    for line in (
        f"Final-Recipient: rfc822; {LEAD}",
        "Action: failed",
        "Status: 5.1.1",
        (
            "Diagnostic-Code: smtp; 550 5.1.1 <gone@client.example.com>: Recipient"
            " address rejected: User unknown in virtual mailbox table"
        ),
        "Final-Recipient: rfc822; other@client.example.com",
        "Action: delayed",
        "Status: 4.4.1",
    ):
        assert line in text
    names = [(name, mimetype) for name, _c, mimetype in parsed.attachments]
    assert names == [
        ("delivery-status.txt", "message/delivery-status"),
        ("attachment-2.rfc822headers", "text/rfc822-headers"),
    ]
    report = parsed.attachments[0][1]
    assert b"Status: 5.1.1" in report and b"Diagnostic-Code: smtp; 550" in report


def test_a_read_receipt_shows_its_disposition_and_keeps_it_attached():
    parsed = _parse("read_receipt")
    text = " ".join(html_text(parsed.body_html).split())
    assert f"Final-Recipient: rfc822;{LEAD}" in text
    assert "Disposition: manual-action/MDN-sent-manually; displayed" in text
    assert "Original-Message-ID: <quote.40@ours.example.com>" in text
    assert [name for name, _c, _t in parsed.attachments] == [
        "disposition-notification.txt"
    ]


def test_every_inline_text_part_of_multipart_mixed_in_order():
    """One HTML part among four plain text parts: all five, in order, the
    plain ones escaped, the HTML one by its body (no head, no title)."""
    parsed = _parse("mixed_html_and_text")
    assert not parsed.body_is_text
    assert parsed.body_html == (
        "<p>First plain part: alpha.</p>\n"
        "<p>Second part, <b>HTML</b>: bravo.</p>\n"
        "<p>Third plain part: charlie.</p>\n"
        "<p>Fourth plain part: delta &lt;not a tag&gt; &amp; co.</p>\n"
        "<p>Fifth plain part: écho.</p>"
    )


def test_multipart_alternative_still_shows_only_its_richest_part():
    parsed = _parse("inline_cid_images")
    assert "[logo]" not in parsed.body_html  # the plain text alternative
    assert "See our logo <img" in parsed.body_html


def test_inline_cid_images_point_at_their_attachments():
    parsed = _parse("inline_cid_images")
    assert [name for name, _c, _t in parsed.attachments] == [
        "logo.png",
        "attachment-2.png",
    ]
    assert parsed.inline_cids == {
        "logo.png@01DA6F00": 0,
        "chart@client.example.com": 1,
    }
    assert parsed.attachments[0][1].startswith(b"\x89PNG")


@pytest.mark.parametrize(
    "raw_name, expected",
    [
        (b"H\xe9l\xe8ne D\xe9pont", "Hélène Dépont"),  # latin-1, as subjects
        (b"H\xc3\xa9l\xc3\xa8ne D\xc3\xa9pont", "Hélène Dépont"),  # raw UTF-8
        (b'"=?ISO-8859-1?Q?Raoul Grosbedon=E9e?="', "Raoul Grosbedonée"),
        (b"=?utf-8?q?Doe=2C_John?=", "Doe, John"),
    ],
)
def test_sender_names_in_raw_8bit_decode_as_subjects_do(raw_name, expected):
    raw = b"From: " + raw_name + b" <h@client.example.com>\r\nSubject: x\r\n\r\nb\r\n"
    assert parse_message(raw, 0).from_name == expected
    parsed = _parse("latin1_sender_name")
    assert (parsed.from_name, parsed.subject) == ("Hélène Dépont", "Réunion à Noël")
    assert parsed.body_html == "<p>Bonjour, la réunion de Noël est confirmée.</p>"


def test_long_file_names_are_shortened_in_the_stem_keeping_the_extension():
    [(name, content, _type)] = _parse("long_file_name").attachments
    assert len(name) == 200 and name.endswith("….pdf") and content == b"%PDF-1.4 long"
    assert name.startswith("Proposition commerciale détaillée Proposition")
    assert safe_filename("a" * 300 + ".tar.gz").endswith("….tar.gz")
    assert len(safe_filename("b" * 300)) == 200
    assert safe_filename("../../etc/" + "c" * 10 + ".txt") == "cccccccccc.txt"


def test_raw_utf8_file_names_decode():
    [(name, _content, _type)] = _parse("raw_utf8_file_name").attachments
    assert name == "Devis été.pdf"


@pytest.mark.parametrize("nul", [b"\x00", b"\x80"])  # 0x80: NUL as Dovecot sends it
def test_nul_and_control_bytes_are_removed_before_decoding(nul):
    raw = SHAPES["hostile/nul_in_utf8"].replace(b"\x00", nul)
    parsed = parse_message(raw, 0)
    assert parsed.body_html == "<p>Un café crème au bar, déjà payé.</p>"


def test_a_bad_byte_spoils_one_character_not_the_part():
    parsed = _parse("stray_byte_in_utf8")
    assert parsed.body_html == (
        "<p>Crème brûlée for the caf\ufffd team, naïve résumé.</p>"
    )
    # Text without UTF-8 in it is still read as latin-1, as before.
    assert decode_words("=?utf-8?Q?caf=E9?=") == "café"
    info = parse_headers(b"Subject: caf\xc3\xa9 cr\xe8me\r\n\r\n")
    assert info.subject == "café cr\ufffdme"


def test_utf16_text_is_not_cut_up_by_control_byte_removal():
    assert _parse("utf16_text").body_html == "<p>Grüße aus Köln, UTF-16.</p>"


def test_fingerprint_tells_copies_from_other_emails_sharing_a_message_id():
    first, second, copy = (
        parse_message(SHAPES[f"hostile/same_id_{name}"], MB, internaldate=date)
        for name, date in (
            ("first", INTERNAL),
            ("second", INTERNAL),
            ("copy_of_first", INTERNAL + datetime.timedelta(days=3)),
        )
    )
    assert first.message_id == second.message_id == copy.message_id
    assert first.fingerprint == copy.fingerprint != second.fingerprint
    # Without a Date header the INTERNALDATE (which differs between copies)
    # is not part of it.
    undated = b"From: a@client.example.com\r\nMessage-ID: <u@x>\r\n\r\nhello\r\n"
    assert (
        parse_message(undated, 0, internaldate=INTERNAL).fingerprint
        == parse_message(undated, 0, internaldate=None).fingerprint
    )


class _Store(sync_engine.SyncStore):
    """What the engine hands to the store, per (Message-ID, lead)."""

    def __init__(self):
        self.recorded, self.skipped = [], []

    def allowed_leads(self, lead_ids, date):
        return set(lead_ids)

    def known_pairs(self, folder, candidates):
        return set()

    def cap_left(self):
        return None

    def record(self, folder, items):
        self.recorded += [(item.header.message_id, item.message) for item in items]

    def skip(self, folder, uid, err):
        self.skipped.append((uid, err.code))

    def held(self, folder, uidvalidity):
        return {}

    def hold(self, folder, uidvalidity, uid, attempts, err, give_up):
        self.skipped.append((uid, err.code))

    def release(self, folder, uidvalidity, uids):
        pass

    def checkpoint(self, folder, progress):
        folder.uidvalidity, folder.last_uid = progress.uidvalidity, progress.last_uid


BOUNCER = "mailer-daemon@mx.client.example.com"


def _sync(dovecot, messages, **kwargs):
    """Sync an INBOX holding ``messages`` (from the lead or its mail server,
    lead 1)."""
    dovecot.fill_maildir("alice", "INBOX", messages)
    store = _Store()
    with ImapSession(dovecot.client_settings("alice")) as session:
        sync_engine.sync_folder(
            session,
            sync_engine.FolderState("INBOX", "in"),
            store,
            {LEAD: {1}, BOUNCER: {1}},
            attachment_cap=10 * MB,
            noise_rules=(),  # bounces too: every shape is to land (lib/sync/noise.py)
            **kwargs,
        )
    return store


def test_two_emails_sharing_a_message_id_both_reach_the_store(dovecot):
    """In one batch: the second email reusing the Message-ID is handed on
    (the store records it under a key of its own); a copy of the first is not."""
    store = _sync(
        dovecot,
        [
            SHAPES["hostile/same_id_first"],
            SHAPES["hostile/same_id_second"],
            SHAPES["hostile/same_id_copy_of_first"],
        ],
    )
    assert store.skipped == []
    bodies = sorted(message.body_html for _id, message in store.recorded)
    assert bodies == [
        "<p>Week 10: 12 demos booked.</p>",
        "<p>Week 11: 19 demos booked.</p>",
    ]
    assert {m for m, _message in store.recorded} == {
        "<weekly.report@client.example.com>"
    }


def _corpus():
    messages = dict(mime_corpus.cpython_corpus())
    odoo = os.environ.get("ODOO_SRC")
    if odoo:  # the Odoo tests read them whatever the environment says
        path = os.path.join(odoo, "odoo/addons/test_mail/data/test_mail_data.py")
        messages.update(mime_corpus.odoo_test_mail_messages(path, ME))
    messages.update(SHAPES)
    return messages


def _problems(raw, parsed):
    expected = mime_corpus.expectation(raw)
    found = mime_corpus.problems(
        expected,
        subject=parsed.subject,
        date=parsed.date,
        sender_name=parsed.from_name if expected.from_address else None,
        body_html=parsed.body_html,
        attachments=[(name, content) for name, content, _t in parsed.attachments],
        fallback_date=INTERNAL,
    )
    if parsed.error and not parsed.body_html and not parsed.attachments:
        found.append(f"nothing readable: {parsed.error}")
    return found


def test_the_corpora_read_as_python_reads_them():
    """CPython's test_email messages, Odoo's test_mail messages (with ODOO_SRC)
    and the hostile shapes: subject, date, sender name, the words of every
    shown text part, report fields and attachments as ``email.policy.default``
    reads them. (Two CPython messages have no header field at all: nothing
    to read but their empty body.)"""
    corpus = _corpus()
    cpython = [name for name in corpus if name.startswith("cpython/")]
    assert len(cpython) >= 47, "CPython's corpus is incomplete"  # 48 since 3.11
    report = {}
    for name, raw in corpus.items():
        crlf = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        parsed = parse_message(crlf, 25 * MB, internaldate=INTERNAL)
        found = _problems(crlf, parsed)
        if found and not (name in ("cpython/msg_18.txt", "cpython/msg_37.txt")):
            report[name] = found
    assert report == {}


def test_read_part_by_part_the_shapes_land_the_same(dovecot):
    """Every hostile shape read as a message too large to take whole (text
    parts, reports and attachments fetched one by one from Dovecot's
    BODYSTRUCTURE) says what its whole parse says. (Not Mutt's RFC 2231
    boundary: Dovecot's BODYSTRUCTURE does not read it.)"""
    names = [
        name
        for name in SHAPES
        if not name.startswith(("hostile/same_id", "hostile/mutt"))
    ]
    dates = [INTERNAL + datetime.timedelta(minutes=i) for i in range(len(names))]
    store = _sync(
        dovecot,
        [(SHAPES[name], date) for name, date in zip(names, dates, strict=True)],
        max_message_size=1,
    )
    assert store.skipped == []
    assert len(store.recorded) == len(names)
    report = {}
    for _message_id, parsed in store.recorded:
        assert parsed.partial_size
        name = next(
            n for n in names if parse_headers(SHAPES[n]).subject == parsed.subject
        )
        raw = SHAPES[name].replace(b"\x00", b"\x80")  # as Dovecot sends it
        found = _problems(raw, parsed)
        if found:
            report[name] = found
    assert report == {}
    assert large_message.TEXT_LIMIT > 1000
