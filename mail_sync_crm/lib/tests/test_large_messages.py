"""Large messages: attachments measured before decoding, memory bounded."""

import random
import tracemalloc

from lib.imap.session import ImapSession
from lib.message import large_message
from lib.message.full_message import parse_message
from lib.sync import engine as sync_engine

from mail_sync_testing import make_message

MB = 1024 * 1024
ALICE = "alice@acme.example.com"
ME = "me@ours.example.com"


def _big_message(attachment_size):
    """A text, a small PDF and a video of ``attachment_size`` bytes (base64)."""
    video = random.Random(57).randbytes(attachment_size)
    return make_message(
        ALICE,
        ME,
        subject="The video",
        text="Here is the video of the demo.\n",
        attachments=[
            ("small.pdf", b"%PDF-1.4 " + b"a" * 100_000, "application/pdf"),
            ("demo.mp4", video, "video/mp4"),
        ],
    )


def test_an_attachment_over_the_cap_is_never_decoded():
    """A ~57 MB message with a 42 MB video and a 10 MB cap: the text and the PDF
    are kept, the video is listed with its exact size, and parsing it grows the
    process by less than the message's own size (it was 5.5 times: 317 MB)."""
    raw = _big_message(42 * MB)
    assert len(raw) > 55 * MB
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        parsed = parse_message(raw, 10 * MB)
        growth = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert parsed.body_html == "<p>Here is the video of the demo.</p>"
    assert [name for name, _c, _t in parsed.attachments] == ["small.pdf"]
    assert parsed.omitted_attachments == [("demo.mp4", 42 * MB)]
    assert growth < len(raw), f"{growth / MB:.1f} MB for {len(raw) / MB:.1f} MB"


class _Recorder(sync_engine.SyncStore):
    """A store that keeps what it is given (the engine's view of the chatter)."""

    def __init__(self):
        self.messages, self.skipped = {}, []

    def allowed_leads(self, lead_ids, date):
        return set(lead_ids)

    def known_pairs(self, folder, candidates):
        return set()

    def cap_left(self):
        return None

    def record(self, folder, items):
        self.messages.update((item.header.subject, item.message) for item in items)

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


def test_a_message_over_the_size_limit_lands_with_its_text(dovecot):
    """A 57 MB email (over the 50 MB taken whole) is recorded with its headers,
    its text and the attachment that fits the 10 MB cap; the video is listed as
    left out. Only those parts are downloaded: the sync grows the process by
    less than the message's size."""
    raw = _big_message(42 * MB)
    dovecot.fill_maildir("alice", "INBOX", [raw])
    dovecot.append("alice", "INBOX", make_message(ALICE, ME, subject="Small one"))
    settings = dovecot.client_settings("alice")
    store = _Recorder()
    folder = sync_engine.FolderState("INBOX", "in")
    with ImapSession(settings) as session:
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            outcome = sync_engine.sync_folder(
                session, folder, store, {ALICE: {1}}, attachment_cap=10 * MB
            )
            growth = tracemalloc.get_traced_memory()[1] - before
        finally:
            tracemalloc.stop()
    assert store.skipped == []
    assert (outcome.recorded, folder.last_uid) == (2, 2)
    message = store.messages["The video"]
    assert message.partial_size == len(raw)
    assert message.body_html == "<p>Here is the video of the demo.</p>"
    assert [name for name, _c, _t in message.attachments] == ["small.pdf"]
    assert message.attachments[0][1] == b"%PDF-1.4 " + b"a" * 100_000
    assert [name for name, _size in message.omitted_attachments] == ["demo.mp4"]
    assert message.from_ == [ALICE] and message.message_id.startswith("<")
    assert growth < len(raw), f"{growth / MB:.1f} MB for {len(raw) / MB:.1f} MB"


def _sync_alone(dovecot, raw, attachment_cap):
    """Sync an INBOX holding only ``raw`` (Alice's, for lead 1) with a 100 KB
    limit of messages taken whole; the recorded messages."""
    dovecot.fill_maildir("alice", "INBOX", [raw])
    store = _Recorder()
    with ImapSession(dovecot.client_settings("alice")) as session:
        sync_engine.sync_folder(
            session,
            sync_engine.FolderState("INBOX", "in"),
            store,
            {ALICE: {1}},
            attachment_cap=attachment_cap,
            max_message_size=100_000,
        )
    return store


def test_a_large_message_keeps_its_html_and_a_forwarded_message(dovecot):
    """Read part by part: the HTML alternative is the body (nested sections),
    a forwarded message that fits is kept as .eml, the large file is left out,
    a long text is cut with a mark."""
    inner = make_message("x@y.example.com", ME, subject="Inner", text="inner text")
    raw = make_message(
        ALICE,
        ME,
        subject="Mixed",
        text="plain version",
        html="<p>html <b>version</b></p>",
        attachments=[
            ("fwd.eml", inner, "message/rfc822"),
            ("big.bin", b"\0" * 300_000, None),
        ],
    )
    store = _sync_alone(dovecot, raw, attachment_cap=100_000)
    message = store.messages["Mixed"]
    assert message.partial_size > 100_000  # RFC822.SIZE, as the server counts
    assert message.body_html == parse_message(raw, 0).body_html  # as if whole
    assert message.body_html.strip() == "<p>html <b>version</b></p>"
    assert not message.body_is_text
    assert [name for name, _c, _t in message.attachments] == ["fwd.eml"]
    assert b"Subject: Inner" in message.attachments[0][1]
    assert [name for name, _size in message.omitted_attachments] == ["big.bin"]


def test_a_very_long_text_is_cut(dovecot, monkeypatch):
    monkeypatch.setattr(large_message, "TEXT_LIMIT", 1000)
    raw = make_message(ALICE, ME, subject="Long", text="word " * 50_000)
    store = _sync_alone(dovecot, raw, attachment_cap=0)
    body = store.messages["Long"].body_html
    assert body.startswith("<p>word word") and body.endswith("[…]</p>")
    assert len(body) < 1200
