"""Full messages: the body and attachments of a matched message, for the chatter.

:func:`parse_message` reads a full message (fetched only for matched UIDs) into
a :class:`ParsedMessage`: the header fields
:func:`lib.message.headers.parse_headers` reads, an HTML body and the
attachments that fit a size cap. Like the header parser, it never raises,
whatever the input.
"""

import datetime
import email
import email.header
import email.policy
import email.utils
import hashlib
import html
import re
import secrets
from dataclasses import dataclass, field

from .headers import (
    HeaderInfo,
    bytes_to_text,
    clean,
    decode_charset,
    decode_words,
    parse_headers,
)

__all__ = [
    "ParsedMessage",
    "assemble_body",
    "content_fingerprint",
    "parse_message",
    "safe_filename",
    "text_to_html",
]

MAX_FILENAME = 200
# Delivery reports (RFC 3464) and read receipts (RFC 8098): their fields are
# shown in the body and the part is kept as an attachment.
REPORT_TYPES = {
    "message/delivery-status": "delivery-status.txt",
    "message/global-delivery-status": "delivery-status.txt",
    "message/disposition-notification": "disposition-notification.txt",
    "message/global-disposition-notification": "disposition-notification.txt",
}
MAX_MIME_DEPTH = 30
ELIDE_MIN_SIZE = 8192  # smaller messages hold no base64 run worth cutting out


@dataclass(slots=True)
class ParsedMessage:
    """A full message ready for the chatter.

    ``body_html`` holds every text part a mail client shows, in order
    (:func:`assemble_body`): of a multipart/alternative its richest part (the
    HTML one), elsewhere each inline text/plain and text/html part, and the
    fields of delivery and read reports. Plain text only: escaped HTML
    (:func:`text_to_html`, ``body_is_text`` set: nothing left to sanitise);
    HTML parts are passed on as they are, for the Odoo ``html`` field to
    sanitise. ``attachments`` are (filename, content, mimetype) within the cap,
    ``omitted_attachments`` (filename, size) those left out because of it;
    ``inline_cids`` maps the Content-ID of an attachment (``cid:`` images of
    the HTML body) to its index in ``attachments``. ``error`` is None or a
    short text naming what was damaged (the rest of the message is still
    there). ``partial_size``: the message was too large to download whole, and
    this is its size; it was read part by part (:mod:`lib.message.large_message`).
    ``fingerprint``: what the message says (:func:`content_fingerprint`), to
    tell two messages sharing a Message-ID apart.
    """

    message_id: str = ""
    synthetic_id: bool = False
    subject: str = ""
    date: datetime.datetime | None = None
    from_: list[str] = field(default_factory=list)
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    body_html: str = ""
    body_is_text: bool = False
    attachments: list[tuple[str, bytes, str]] = field(default_factory=list)
    omitted_attachments: list[tuple[str, int]] = field(default_factory=list)
    error: str | None = None
    partial_size: int = 0  # too large to take whole: its size (text parts only)
    from_name: str = ""  # the From header's display name ("Alice Martin"), if any
    inline_cids: dict[str, int] = field(default_factory=dict)
    fingerprint: str = ""


# C0 controls other than tab and line feed: not valid in HTML (Odoo's sanitiser
# drops them too).
_TEXT_CONTROLS = {code: None for code in (*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20))}


def text_to_html(text: str) -> str:
    """Plain text as safe HTML: one paragraph, escaped, line breaks as ``<br>``.

    It is written exactly as Odoo's HTML sanitiser would write it back (quotes
    unescaped, no-break spaces as ``&nbsp;``, no control characters), so the
    store can skip sanitising a body it knows came from here."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").translate(_TEXT_CONTROLS)
    text = text.rstrip()
    if not text.strip():
        return ""
    escaped = html.escape(text, quote=False).replace("\xa0", "&nbsp;")
    return "<p>" + escaped.replace("\n", "<br>\n") + "</p>"


def _part_text(part, elided=None) -> str:
    """The decoded text of a leaf part, in its declared charset (an RFC 2231
    ``charset*=`` parameter too), without control characters."""
    if elided is not None:
        elided.restore_part(part)
    data = part.get_payload(decode=True)
    if data is None:  # a multipart payload where a leaf was expected
        data = str(part.get_payload() or "").encode("utf-8", "surrogateescape")
    return decode_charset(data, part.get_param("charset"))


# A file name's extension(s): ``.pdf``, ``.tar.gz``.
_EXTENSION = re.compile(r"(?:\.[A-Za-z0-9]{1,8}){1,2}$")


def safe_filename(name: str, limit: int = MAX_FILENAME) -> str:
    """``name`` (already decoded) as a safe file name: control characters and
    directories dropped; a name over ``limit`` characters is shortened in its
    stem, its extension kept (``<stem>….pdf``). Empty when nothing is left."""
    name = clean(name).replace("\\", "/").rpartition("/")[2].strip(" .")
    if len(name) <= limit:
        return name
    extension = _EXTENSION.search(name)
    suffix = extension.group(0) if extension else ""
    if len(suffix) >= limit // 2 or len(suffix) == len(name):
        return name[:limit]
    return name[: limit - len(suffix) - 1].rstrip(" .") + "…" + suffix


def _filename(part, index: int) -> str:
    """A safe file name for an attachment part (decoded, without directories)."""
    try:
        name = part.get_filename() or part.get_param("name") or ""
    except Exception:  # noqa: BLE001 - broken RFC 2231 parameters
        name = ""
    if isinstance(name, tuple):  # an RFC 2231 value left undecoded
        name = decode_charset(str(name[2]).encode("latin-1", "replace"), name[0])
    name = safe_filename(decode_words(_header_text(name)))
    if name:
        return name
    subtype = part.get_content_subtype() or "bin"
    return f"attachment-{index}.{re.sub(r'[^a-z0-9]+', '', subtype) or 'bin'}"


def _header_text(value) -> str:
    """A header value as text: raw 8-bit bytes (as the ``email`` package keeps
    them, surrogates) decoded as the header parser decodes them (UTF-8, else
    latin-1)."""
    if isinstance(value, bytes):
        return bytes_to_text(value)
    value = str(value or "")
    if value.isascii() or not _SURROGATE_RE.search(value):
        return value
    return bytes_to_text(value.encode("utf-8", "surrogateescape"))


_SURROGATE_RE = re.compile("[\udc80-\udcff]")


class _TextHeaders(email.policy.Compat32):
    """compat32, except that a header value holding raw 8-bit bytes reads as
    text (:func:`_header_text`) instead of a ``Header`` of unknown-8bit
    replacement characters: sender names, file names and Content-IDs written
    in UTF-8 or latin-1 without encoded words decode as the subject does.
    Writing (``as_bytes``) still uses the raw bytes."""

    def header_fetch_parse(self, name, value):
        if isinstance(value, str) and _SURROGATE_RE.search(value):
            return _header_text(value)
        return super().header_fetch_parse(name, value)


_POLICY = _TextHeaders()


def _is_text_part(part, ctype: str) -> bool:
    """A text part a mail client shows inline (not an attachment)."""
    if ctype not in ("text/html", "text/plain"):
        return False
    return part.get_content_disposition() != "attachment" and not part.get_filename()


def _preferred(parts) -> object | None:
    """The part of a multipart/alternative a mail client shows: the last HTML
    (or multipart, e.g. HTML with its images) part, else the last plain text
    one; None when there is none of those."""
    fallback = None
    for part in reversed(parts):
        ctype = part.get_content_type()
        if part.get_content_disposition() == "attachment":
            continue
        if ctype == "text/html" or part.get_content_maintype() == "multipart":
            return part
        if ctype == "text/plain" and fallback is None:
            fallback = part
    return fallback


def _report_blocks(part) -> list[list[tuple[str, str]]]:
    """The field groups of a delivery or read report part, as (name, value)."""
    payload = part.get_payload()
    if isinstance(payload, str):  # not parsed as fields: read them here
        payload = [
            email.message_from_string(block, policy=_POLICY)
            for block in re.split(r"\r?\n[ \t]*\r?\n", payload)
            if block.strip()
        ]
    blocks = []
    for block in payload if isinstance(payload, list) else []:
        fields = [
            (clean(str(name)), " ".join(_header_text(value).split()))
            for name, value in block.raw_items()
        ]
        if fields:
            blocks.append(fields)
    return blocks


def report_text(part) -> str:
    """The fields of a delivery or read report part (``email`` compat32
    message), one per line, a blank line between its groups."""
    return "\n\n".join(
        "\n".join(f"{name}: {value}" for name, value in fields)
        for fields in _report_blocks(part)
    )


def report_part(content: bytes, mimetype: str):
    """A report part parsed from its content alone (a part read on its own)."""
    head = f"Content-Type: {mimetype}\r\n\r\n".encode("ascii", "replace")
    return email.message_from_bytes(head + content, policy=_POLICY)


class _Collector:
    """Walks a parsed message, gathering body parts and attachments."""

    def __init__(self, attachment_cap: int, elided=None):
        self.cap = max(0, attachment_cap or 0)
        self.elided = elided or _Elided(b"", "", [])
        self.used = 0
        self.segments: list[tuple[bool, str]] = []  # (is HTML, text), in order
        self.attachments: list[tuple[str, bytes, str]] = []
        self.omitted: list[tuple[str, int]] = []
        self.cids: dict[str, int] = {}
        self.problems: list[str] = []

    def walk(self, part, depth: int = 0, body: bool = True) -> None:
        """Collect ``part``; ``body``: its text parts are shown (False for the
        parts of a multipart/alternative a mail client does not show)."""
        self._note_defects(part)
        if depth > MAX_MIME_DEPTH:
            self.problems.append("MIME nesting too deep")
            return
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            self._attach_message(part)
        elif ctype in REPORT_TYPES:
            self._report(part, ctype, body)
        elif part.is_multipart():
            parts = part.get_payload()
            shown = _preferred(parts) if ctype == "multipart/alternative" else None
            for sub in parts:
                self.walk(sub, depth + 1, body and (shown is None or sub is shown))
        elif part.get_content_maintype() == "multipart":
            # A multipart whose boundary was never found: its text is the body.
            if body:
                self.segments.append((False, _part_text(part, self.elided)))
        else:
            self._leaf(part, ctype, body)

    def _note_defects(self, part) -> None:
        for defect in getattr(part, "defects", ()):
            name = type(defect).__name__
            if name not in self.problems:
                self.problems.append(name)

    def _leaf(self, part, ctype: str, body: bool = True) -> None:
        if _is_text_part(part, ctype):
            if body:
                text = _part_text(part, self.elided)
                self.segments.append((ctype == "text/html", text))
            return
        name = _filename(part, self._next_index())
        # Measured before decoding: a part the cap has no room for is never
        # decoded (nor are its base64 runs put back).
        size = self.elided.decoded_size(part)
        if self.used + size > self.cap:
            self.omitted.append((name, size))
            return
        self.elided.restore_part(part)
        content = part.get_payload(decode=True)
        if content is None:
            content = b""
        if self._add(name, content, ctype):
            cid = clean(_header_text(part.get("content-id", ""))).strip("<>").strip()
            if cid:
                self.cids.setdefault(cid, len(self.attachments) - 1)

    def _report(self, part, ctype: str, body: bool) -> None:
        """A delivery or read report: its fields in the body (recipient,
        action, status, diagnostic...), the part itself as an attachment."""
        text = report_text(part)
        if body and text:
            self.segments.append((False, text))
        try:
            payload = part.get_payload()
            content = (
                b"".join(block.as_bytes() for block in payload)
                if isinstance(payload, list)
                else str(payload).encode("utf-8", "surrogateescape")
            )
        except Exception:  # noqa: BLE001 - damaged fields: keep them as read
            content = text.encode("utf-8")
        name = _filename(part, self._next_index()) if part.get_filename() else ""
        self._add(name or REPORT_TYPES[ctype], content, ctype)

    def _attach_message(self, part) -> None:
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        try:
            content = inner.as_bytes() if inner is not None else b""
        except Exception:  # noqa: BLE001 - a damaged forwarded message: keep raw
            content = str(payload).encode("utf-8", "surrogateescape")
        index = self._next_index()
        name = _filename(part, index) if part.get_filename() else f"attachment-{index}"
        if not name.lower().endswith(".eml"):
            name = safe_filename(name + ".eml")
        size = self.elided.restored_size(content)
        if self.used + size > self.cap:
            self.omitted.append((name, size))
            return
        if size != len(content):  # runs to put back, as the generator writes them
            for sub in inner.walk():
                if not sub.is_multipart():
                    self.elided.restore_part(sub)
            content = inner.as_bytes()
        self._add(name, content, "message/rfc822")

    def _next_index(self) -> int:
        """1-based number of the next attachment, kept or omitted."""
        return len(self.attachments) + len(self.omitted) + 1

    def _add(self, name: str, content: bytes, mimetype: str) -> bool:
        if self.used + len(content) > self.cap:
            self.omitted.append((name, len(content)))
            return False
        self.used += len(content)
        self.attachments.append((name, content, mimetype))
        return True

    def body(self) -> tuple[str, bool]:
        return assemble_body(self.segments)


_BODY_RE = re.compile(r"<body\b[^>]*>(.*?)(?:</body\s*>|\Z)", re.IGNORECASE | re.DOTALL)
_OUTSIDE_BODY_RE = re.compile(
    r"<head\b.*?(?:</head\s*>|\Z)|<!doctype[^>]*>|</?html\b[^>]*>|<\?xml[^>]*>",
    re.IGNORECASE | re.DOTALL,
)


def _html_inner(text: str) -> str:
    """The content of an HTML part's body (the whole part when it has none),
    to stand beside other parts in one body."""
    match = _BODY_RE.search(text)
    return match.group(1) if match else _OUTSIDE_BODY_RE.sub("", text)


def assemble_body(segments) -> tuple[str, bool]:
    """The body of a message from its shown text parts, ``(is HTML, text)`` in
    order: (HTML, whether it is plain text only, escaped by
    :func:`text_to_html`). One HTML part is kept as it is; several parts are
    put one after the other, plain text escaped, HTML parts by their body."""
    segments = list(segments)
    if not any(is_html for is_html, _text in segments):
        return "\n".join(filter(None, (text_to_html(t) for _h, t in segments))), True
    if len(segments) == 1:
        return segments[0][1], False
    parts = (
        _html_inner(text) if is_html else text_to_html(text)
        for is_html, text in segments
    )
    return "\n".join(part for part in parts if part.strip()), False


_TAG_RE = re.compile(
    r"<(script|style|head|title)\b.*?</\1\s*>|<[^>]*>", re.IGNORECASE | re.DOTALL
)


def content_fingerprint(message: "ParsedMessage", date=None) -> str:
    """A digest of what ``message`` says: its Date header (``date``, None when
    it has none), sender, subject, the words of its body and its attachments
    (names and bytes; those left out by name and size). Two copies of one
    email (in Inbox and Sent, in two mailboxes, with other Received headers
    or recipients) have the same fingerprint; two emails sharing a Message-ID
    but saying different things do not."""
    digest = hashlib.sha256()

    def add(value: str) -> None:
        digest.update(value.encode("utf-8", "surrogatepass") + b"\x00")

    add(date.astimezone(datetime.timezone.utc).isoformat() if date else "")
    add(",".join(message.from_))
    add(" ".join(message.subject.split()))
    add(" ".join(html.unescape(_TAG_RE.sub(" ", message.body_html)).split()))
    for name, content, _mimetype in message.attachments:
        add(name)
        add(hashlib.sha256(content).hexdigest())
    for name, size in message.omitted_attachments:
        add(f"{name}:{size}")
    return digest.hexdigest()


def copy_headers(parsed: ParsedMessage, info: HeaderInfo) -> None:
    for name in (
        "message_id",
        "synthetic_id",
        "subject",
        "date",
        "from_",
        "to",
        "cc",
        "bcc",
        "in_reply_to",
        "references",
    ):
        setattr(parsed, name, getattr(info, name))


def _join_errors(*errors: str | None) -> str | None:
    texts = [e for e in errors if e]
    return "; ".join(texts)[:500] if texts else None


# A run of 32 or more base64 lines (an attachment's payload, as every mailer
# folds it). The ``email`` package reads a message line by line in Python, which
# costs milliseconds per attachment; such runs are cut out before parsing and
# put back into the parsed parts' payloads (see ``_elide_base64``). The run stops
# short of its last line's end, so that line ending stays where the parser sees it.
# A run is at most 2,048 lines (a long attachment gives several runs, one token
# line each): the regular expression engine keeps a backtracking record per
# repeated line, ~190 bytes each (2.5 times the size of a 57 MB attachment).
_BASE64_RUN = re.compile(
    rb"^(?:[A-Za-z0-9+/=]{60,}\r?\n){31,2047}[A-Za-z0-9+/=]{60,}(?=\r?\n|\Z)",
    re.MULTILINE,
)


def _elide_base64(raw: bytes) -> tuple[bytes, "_Elided"]:
    """``raw`` with each run of base64 lines replaced by a one-line token, and
    the :class:`_Elided` that puts them back. A token (with a random nonce, so
    that text looking like a token stays text) is a line of neither header nor
    boundary shape, so the MIME structure parses the same. The runs are not
    copied: the tokens point into ``raw``."""
    spans: list[tuple[int, int]] = []
    if len(raw) < ELIDE_MIN_SIZE:
        return raw, _Elided(raw, "", spans)
    prefix = f"<mail-sync-elided {secrets.token_hex(8)} "
    encoded = prefix.encode("ascii")

    def cut(match):
        spans.append(match.span())
        return encoded + b"%d>" % (len(spans) - 1)

    return _BASE64_RUN.sub(cut, raw), _Elided(raw, prefix, spans)


class _Elided:
    """The base64 runs :func:`_elide_base64` cut out of ``raw``, put back into a
    part only when it is read (:meth:`restore_part`); until then a part's size
    is measured from the runs' spans (:meth:`decoded_size`), so an attachment
    over the cap costs no memory at all."""

    def __init__(self, raw: bytes, prefix: str, spans: list[tuple[int, int]]):
        self.raw = raw
        self.prefix = prefix
        self.spans = spans
        self.token = re.compile(re.escape(prefix) + r"(\d+)>") if spans else None
        self.prefix_bytes = prefix.encode("ascii")
        self.token_bytes = (
            re.compile(re.escape(self.prefix_bytes) + rb"(\d+)>") if spans else None
        )

    def _runs(self, text: str):
        """The (start, end) spans of the runs whose tokens are in ``text``."""
        if self.token is None or self.prefix not in text:
            return []
        return [self.spans[int(m.group(1))] for m in self.token.finditer(text)]

    def restore(self, text):
        if not isinstance(text, str) or self.token is None or self.prefix not in text:
            return text
        raw = self.raw
        return self.token.sub(
            lambda m: raw[slice(*self.spans[int(m.group(1))])].decode("ascii"), text
        )

    def restore_part(self, part) -> None:
        """Put the runs back into ``part``'s payload (a leaf part)."""
        payload = part.get_payload()
        restored = self.restore(payload)
        if restored is not payload:
            part.set_payload(restored)

    def restored_size(self, data: bytes) -> int:
        """The length of ``data`` once its runs are put back."""
        if self.token_bytes is None or self.prefix_bytes not in data:
            return len(data)
        size = len(data)
        for match in self.token_bytes.finditer(data):
            start, end = self.spans[int(match.group(1))]
            size += end - start - len(match.group(0))
        return size

    def decoded_size(self, part) -> int:
        """The size of a leaf part's content once decoded, read from its encoded
        form: exact for base64 and the identity encodings, a lower bound for
        quoted-printable (at most three characters per byte)."""
        payload = part.get_payload()
        if not isinstance(payload, str):
            return 0
        runs = self._runs(payload)
        visible = self.token.sub("", payload) if runs else payload
        raw = self.raw
        length = len(visible) + sum(end - start for start, end in runs)
        cte = str(part.get("content-transfer-encoding", "")).strip().lower()
        if cte == "quoted-printable":
            return length // 3
        if cte != "base64":
            return length
        spaces = sum(visible.count(c) for c in " \t\r\n") + sum(
            raw.count(b"\n", start, end) + raw.count(b"\r", start, end)
            for start, end in runs
        )
        stripped = payload.rstrip()
        last = self.token.search(stripped, len(stripped) - 64) if runs else None
        if last is not None and last.end() == len(stripped):  # ends with a run
            end = self.spans[int(last.group(1))][1]
            tail = raw[end - 2 : end].decode("ascii")
        else:
            tail = stripped[-2:]
        padding = len(tail) - len(tail.rstrip("="))
        return max(0, (length - spaces) * 3 // 4 - padding)

    def restore_tree(self, message) -> None:
        """Put the runs back into every preamble and epilogue of ``message``
        (payloads are restored as the collector reads them)."""
        if self.token is None:
            return
        for part in message.walk():
            part.preamble = self.restore(part.preamble)
            part.epilogue = self.restore(part.epilogue)


def display_name(value) -> str:
    """The display name of a From header value (raw 8-bit text decoded as
    subjects are, RFC 2047 words decoded), or ""."""
    if not value:
        return ""
    try:
        name = email.utils.getaddresses([_header_text(value)])[0][0]
        name = decode_words(name)
    except Exception:  # noqa: BLE001 - a damaged name is no name
        return ""
    return " ".join(clean(name).split())[:200]


def _mime_tree(raw: bytes):
    """``raw`` parsed by the ``email`` package (compat32), base64 runs elided
    while it reads the structure: (message, :class:`_Elided`)."""
    elided_raw, elided = _elide_base64(raw)
    message = email.message_from_bytes(elided_raw, policy=_POLICY)
    elided.restore_tree(message)
    return message, elided


def header_date(info: HeaderInfo) -> datetime.datetime | None:
    """The date of the Date header, None when there is none (``info.date`` is
    then the INTERNALDATE, which differs between copies of one email)."""
    return None if info.date is info.internaldate else info.date


def parse_message(
    raw: bytes,
    attachment_cap: int,
    internaldate: datetime.datetime | None = None,
) -> ParsedMessage:
    """Parse a full message into a :class:`ParsedMessage`. Never raises.

    Attachments are kept in order while their total size stays within
    ``attachment_cap`` bytes; the others are listed in ``omitted_attachments``.
    Header fields come from :func:`parse_headers` (same ids, addresses, date).
    """
    raw = bytes(raw or b"")
    info = parse_headers(raw, size=len(raw), internaldate=internaldate)
    parsed = ParsedMessage()
    copy_headers(parsed, info)
    collector = _Collector(attachment_cap)
    try:
        tree, collector.elided = _mime_tree(raw)
        parsed.from_name = display_name(tree.get("From"))
        collector.walk(tree)
    except Exception as exc:  # noqa: BLE001 - keep what the headers gave
        collector.problems.append(f"unreadable MIME: {type(exc).__name__}")
    parsed.body_html, parsed.body_is_text = collector.body()
    parsed.attachments = collector.attachments
    parsed.omitted_attachments = collector.omitted
    parsed.inline_cids = collector.cids
    parsed.fingerprint = content_fingerprint(parsed, header_date(info))
    mime_error = (
        "damaged MIME structure: " + ", ".join(collector.problems)
        if collector.problems
        else None
    )
    parsed.error = _join_errors(info.error, mime_error)
    return parsed
