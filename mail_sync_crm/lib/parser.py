"""RFC 5322 parsing that never raises, whatever the input.

Two entry points, both tolerant of real-world damage (8-bit headers in an
unknown charset, NUL bytes, no header block, broken MIME boundaries, garbage
encoded words, impossible dates):

* :func:`parse_headers` reads the header block of one message (the raw bytes
  of ``BODY[HEADER.FIELDS (...)]`` or the head of a full message) into a
  :class:`HeaderInfo`. It is on the hot path of a historical sync (every
  message of the mailbox), so it is a hand-rolled split, not the ``email``
  package.
* :func:`parse_message` reads a full message (fetched only for matched UIDs)
  into a :class:`ParsedMessage`: the same header fields, an HTML body and the
  attachments that fit a size cap.

A message without Message-ID gets a stable synthetic one, derived from its
address/date/subject fields and its size, so that the same message seen in two
folders (or twice) dedupes to the same id, and :func:`parse_message` of the full
message gives the id :func:`parse_headers` gave for its header fields.
"""

import base64
import binascii
import codecs
import datetime
import email
import email.policy
import email.utils
import functools
import hashlib
import html
import re
import secrets
from dataclasses import dataclass, field

from .addresses import extract_all

__all__ = [
    "HEADER_FIELDS",
    "HeaderInfo",
    "ParsedMessage",
    "decode_words",
    "parse_headers",
    "parse_message",
]

# The header fields the sync reads, as requested in ``BODY.PEEK[HEADER.FIELDS]``.
HEADER_FIELDS = (
    "FROM",
    "TO",
    "CC",
    "BCC",
    "MESSAGE-ID",
    "DATE",
    "SUBJECT",
    "IN-REPLY-TO",
    "REFERENCES",
)
_WANTED = frozenset(name.lower().encode("ascii") for name in HEADER_FIELDS)
_ADDRESS_FIELDS = frozenset((b"from", b"to", b"cc", b"bcc"))

SYNTHETIC_DOMAIN = "mail-sync.invalid"
MAX_MESSAGE_ID = 995  # Message-IDs longer than a header line are cut
MAX_SUBJECT = 2000
MAX_FILENAME = 200
MAX_MIME_DEPTH = 30
ELIDE_MIN_SIZE = 8192  # smaller messages hold no base64 run worth cutting out
ADDRESS_CACHE_SIZE = 20_000  # distinct address field values remembered
# A time-zone offset beyond this is nonsense (real ones stay within +-14 h).
MAX_TZ_OFFSET = 24 * 3600

_UTC = datetime.timezone.utc
_MSGID_RE = re.compile(r"<([^<>]*)>")
_ENCODED_WORD_RE = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
# C0 and C1 control characters (tab, CR and LF become spaces, the rest goes):
# NUL is not storable in PostgreSQL text, and Dovecot sends NUL as 0x80.
_CONTROL_TABLE = {
    **{code: None for code in range(0x20)},
    **{code: None for code in range(0x7F, 0xA0)},
    0x09: " ",
    0x0A: " ",
    0x0D: " ",
}


@dataclass(slots=True)
class HeaderInfo:
    """What the sync needs from a message's header fields.

    ``message_id`` is ``<...>`` (synthetic, ``synthetic_id=True``, when absent);
    address lists hold normalised addresses; ``date`` is an aware UTC datetime
    (the INTERNALDATE when the Date header is missing or invalid, None when
    neither is known); ``error`` is None, or a short text saying why the header
    fields could not be read (what could be read is still filled in).
    """

    uid: int = 0
    size: int = 0
    message_id: str = ""
    synthetic_id: bool = False
    from_: list[str] = field(default_factory=list)
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    date: datetime.datetime | None = None
    subject: str = ""
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    error: str | None = None
    internaldate: datetime.datetime | None = None
    # (header block, size) not read yet by a quick ``parse_headers`` (see
    # __getattr__).
    _pending: tuple | None = field(default=None, repr=False, compare=False)

    def __getattr__(self, name):
        """Reached only for a field that a quick :func:`parse_headers` left unset:
        the remaining fields are read now, on first use."""
        if name not in _DEFERRED:
            raise AttributeError(name)
        pending = self._pending
        if pending is None:
            raise AttributeError(name)
        self._pending = None
        block, size = pending
        try:
            fields = split_fields(block)[0]
        except Exception:  # noqa: BLE001 - as parse_headers: never raises
            fields = []
        _fill_rest(self, fields, size)
        return getattr(self, name)

    @property
    def recipients(self) -> list[str]:
        """To, Cc and Bcc addresses, de-duplicated, in order."""
        return list(dict.fromkeys(self.to + self.cc + self.bcc))


@dataclass(slots=True)
class ParsedMessage:
    """A full message ready for the chatter.

    ``body_html`` is the text/html part, else the text/plain part as escaped
    HTML (:func:`text_to_html`, ``body_is_text`` set: nothing left to
    sanitise); the HTML part is passed on as is, for the Odoo ``html`` field
    to sanitise. ``attachments`` are (filename, content,
    mimetype) within the cap, ``omitted_attachments`` (filename, size) those
    left out because of it. ``error`` is None or a short text naming what was
    damaged (the rest of the message is still there).
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


# ---------------------------------------------------------------------------
# Text helpers


def _bytes_to_text(value: bytes) -> str:
    """UTF-8 when valid, else latin-1 (every byte maps to a character)."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def _clean(text: str) -> str:
    """Drop control characters (tab/CR/LF become spaces) and outer spaces."""
    if not text.isprintable():
        text = text.translate(_CONTROL_TABLE)
    return text.strip()


def _known_charset(charset: str | None) -> str | None:
    """The codec name of ``charset`` (RFC 2231 language dropped), else None."""
    if not charset:
        return None
    charset = charset.partition("*")[0].strip().strip('"').lower()
    try:
        return codecs.lookup(charset).name
    except (LookupError, ValueError):
        return None


def _decode_charset(data: bytes, charset: str | None) -> str:
    """Decode ``data`` in its declared ``charset``.

    Unknown, missing, ASCII or UTF-8 labels: UTF-8, else latin-1 (the usual
    mislabelled 8-bit text). Other charsets: replacement characters for the
    bytes that do not fit.
    """
    codec = _known_charset(charset)
    if codec in (None, "ascii", "utf-8"):
        return _bytes_to_text(data)
    try:
        return data.decode(codec, "replace")
    except Exception:  # noqa: BLE001 - a broken codec: fall back to bytes
        return _bytes_to_text(data)


def _word_bytes(encoding: str, payload: str) -> bytes | None:
    """The bytes of one RFC 2047 encoded word, or None when undecodable."""
    try:
        if encoding in "bB":
            if len(payload) % 4 == 1:
                return None  # cannot be base64 of anything
            return base64.b64decode(payload + "=" * (-len(payload) % 4))
        return binascii.a2b_qp(payload.encode("utf-8"), header=True)
    except (binascii.Error, ValueError):
        return None


def decode_words(text: str) -> str:
    """Decode the RFC 2047 encoded words of an unstructured header value.

    Adjacent encoded words in one charset are joined before decoding (mailers
    split multi-byte characters across them); whitespace between encoded words
    is dropped. Undecodable words stay as written. Never raises.
    """
    if "=?" not in text:
        return text
    parts: list = []  # str, or [charset, bytearray] for decoded words
    pos = 0
    for match in _ENCODED_WORD_RE.finditer(text):
        gap = text[pos : match.start()]
        pos = match.end()
        charset, encoding, payload = match.groups()
        data = _word_bytes(encoding, payload)
        between_words = bool(parts) and isinstance(parts[-1], list) and data is not None
        if gap and not (between_words and gap.isspace()):
            parts.append(gap)
        if data is None:
            parts.append(match.group(0))
        elif parts and isinstance(parts[-1], list) and parts[-1][0] == charset:
            parts[-1][1] += data
        else:
            parts.append([charset, bytearray(data)])
    parts.append(text[pos:])
    return "".join(
        part if isinstance(part, str) else _decode_charset(bytes(part[1]), part[0])
        for part in parts
    )


# ---------------------------------------------------------------------------
# Header fields


def _header_block(raw: bytes) -> bytes:
    """The header block of ``raw``: up to the first empty line (all if none)."""
    if raw.startswith((b"\r\n", b"\n")):
        return b""
    end = raw.find(b"\n\r\n")
    end_lf = raw.find(b"\n\n")
    if end < 0 or 0 <= end_lf < end:
        end = end_lf
    return raw if end < 0 else raw[: end + 1]


def split_fields(block: bytes) -> tuple[list[tuple[bytes, bytes]], int]:
    """The wanted (lower-case name, raw unfolded value) fields of a header block,
    in order, and the number of lines that were not header fields."""
    block = block.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    block = block.replace(b"\n ", b" ").replace(b"\n\t", b"\t")
    fields = []
    bad = 0
    for line in block.split(b"\n"):
        name, colon, value = line.partition(b":")
        name = name.rstrip(b" \t")
        if not colon or not name or b" " in name or b"\t" in name:
            if line.strip():
                bad += 1
            continue
        name = name.lower()
        if name in _WANTED:
            fields.append((name, value.strip()))
    return fields, bad


def _message_id(value: str) -> str | None:
    """``<id>`` from a Message-ID/In-Reply-To value, or None."""
    match = _MSGID_RE.search(value)
    if match:
        inner = "".join(match.group(1).split())
    else:  # a bare id, as some mailers write it
        tokens = value.split()
        inner = tokens[0].strip("<>") if tokens else ""
    inner = _clean(inner)
    if not inner:
        return None
    return f"<{inner[:MAX_MESSAGE_ID]}>"


def _references(value: str) -> list[str]:
    ids = ("".join(inner.split()) for inner in _MSGID_RE.findall(value))
    return list(dict.fromkeys(f"<{_clean(i)}>" for i in ids if _clean(i)))


def parse_date(value: str | None) -> datetime.datetime | None:
    """An RFC 5322 date as an aware UTC datetime, or None when invalid."""
    if not value:
        return None
    try:
        parts = email.utils.parsedate_tz(value)
    except Exception:  # noqa: BLE001 - the stdlib raises on some garbage
        return None
    if not parts:
        return None
    year, month, day, hour, minute, second = parts[:6]
    offset = parts[9] or 0
    if abs(offset) >= MAX_TZ_OFFSET or year < 1900:
        return None
    try:
        local = datetime.datetime(
            year,
            month,
            day,
            hour,
            minute,
            min(second, 59),  # leap second
            tzinfo=datetime.timezone(datetime.timedelta(seconds=offset)),
        )
        return local.astimezone(_UTC)
    except (ValueError, OverflowError):
        return None


def _aware_utc(value: datetime.datetime | None) -> datetime.datetime | None:
    """``value`` in UTC; a naive datetime is taken as UTC."""
    if not isinstance(value, datetime.datetime):
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=_UTC)
    try:
        return value.astimezone(_UTC)
    except (ValueError, OverflowError):
        return None


def synthetic_message_id(fields: list[tuple[bytes, bytes]], size: int) -> str:
    """A stable ``<...>`` id from the header fields (whitespace-insensitive, so
    refolding does not change it) and the message size."""
    digest = hashlib.sha256()
    for name, value in fields:
        digest.update(name + b":" + b" ".join(value.split()) + b"\n")
    digest.update(b"size:%d" % size)
    return f"<{digest.hexdigest()[:40]}@{SYNTHETIC_DOMAIN}>"


@functools.lru_cache(maxsize=ADDRESS_CACHE_SIZE)
def _addresses(value: bytes) -> tuple[str, ...]:
    """``extract_all`` of a raw address field value. Memoised: the same few
    correspondents fill most address fields of a mailbox (the owner's address
    alone is in every message), and parsing them is most of a header's cost."""
    return tuple(extract_all(_bytes_to_text(value)))


# What a quick parse leaves for later: everything but the addresses, the size,
# the INTERNALDATE and the error.
_DEFERRED = frozenset(
    ("message_id", "synthetic_id", "date", "subject", "in_reply_to", "references")
)


def _fill_addresses(info: HeaderInfo, fields: list[tuple[bytes, bytes]]) -> None:
    """Set the address fields of ``info`` from the raw (name, value) pairs."""
    for name, value in fields:
        if name in _ADDRESS_FIELDS:
            target = info.from_ if name == b"from" else getattr(info, name.decode())
            target.extend(a for a in _addresses(value) if a not in target)


def _fill_rest(info: HeaderInfo, fields: list[tuple[bytes, bytes]], size: int) -> None:
    """Set the fields in ``_DEFERRED`` from the raw (name, value) pairs. Never
    raises: a value that cannot be read stays empty."""
    info.subject, info.message_id, info.synthetic_id = "", "", False
    info.in_reply_to, info.references, info.date = None, [], None
    try:
        first: dict[bytes, str] = {}
        for name, value in fields:
            if name not in _ADDRESS_FIELDS and name not in first:
                first[name] = _bytes_to_text(value)
        if b"subject" in first:
            info.subject = _clean(decode_words(first[b"subject"]))[:MAX_SUBJECT]
        if b"message-id" in first:
            info.message_id = _message_id(first[b"message-id"]) or ""
        if b"in-reply-to" in first:
            info.in_reply_to = _message_id(first[b"in-reply-to"])
        if b"references" in first:
            info.references = _references(first[b"references"])
        if b"date" in first:
            info.date = parse_date(first[b"date"])
    except Exception as exc:  # noqa: BLE001 - one bad message must not stop a sync
        info.error = (
            info.error or f"unreadable header: {type(exc).__name__}: {exc}"[:200]
        )
    if not info.message_id:
        info.message_id = synthetic_message_id(fields, size)
        info.synthetic_id = True
    if info.date is None:
        info.date = info.internaldate


def parse_headers(
    raw: bytes,
    size: int = 0,
    internaldate: datetime.datetime | None = None,
    uid: int = 0,
    quick: bool = False,
) -> HeaderInfo:
    """Parse a header block (or a whole message: parsing stops at the first
    empty line) into a :class:`HeaderInfo`. Never raises.

    ``size`` (RFC822.SIZE) goes into the synthetic id of a message without
    Message-ID; ``internaldate`` stands in for a missing or invalid Date.
    ``quick``: read only the addresses now, the other fields when first used
    (a sync matches every message by its addresses; few need more).
    """
    info = HeaderInfo.__new__(HeaderInfo)
    info.uid, info.size = uid, size
    info.internaldate = _aware_utc(internaldate)
    info.from_, info.to, info.cc, info.bcc = [], [], [], []
    info.error = None
    fields: list[tuple[bytes, bytes]] = []
    block = b""
    try:
        block = _header_block(bytes(raw or b""))
        fields, bad_lines = split_fields(block)
        _fill_addresses(info, fields)
        if not fields:
            info.error = "no header fields" + (
                f" ({bad_lines} malformed header lines)" if bad_lines else ""
            )
    except Exception as exc:  # noqa: BLE001 - one bad message must not stop a sync
        info.error = f"unreadable header: {type(exc).__name__}: {exc}"[:200]
    info._pending = None
    if quick:
        # The header block (bytes) rather than its fields: fewer objects kept
        # alive for the garbage collector to walk, per message of the batch.
        info._pending = (block, size)
    else:
        _fill_rest(info, fields, size)
    return info


# ---------------------------------------------------------------------------
# Full messages


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


def _part_text(part) -> str:
    """The decoded text of a leaf part, in its declared charset."""
    data = part.get_payload(decode=True)
    if data is None:  # a multipart payload where a leaf was expected
        data = str(part.get_payload() or "").encode("utf-8", "surrogateescape")
    return _decode_charset(data, part.get_param("charset")).replace("\x00", "")


def _filename(part, index: int) -> str:
    """A safe file name for an attachment part (decoded, without directories)."""
    try:
        name = part.get_filename() or part.get_param("name") or ""
    except Exception:  # noqa: BLE001 - broken RFC 2231 parameters
        name = ""
    if isinstance(name, tuple):  # an RFC 2231 value left undecoded
        name = _decode_charset(str(name[2]).encode("latin-1", "replace"), name[0])
    name = _clean(decode_words(str(name)))
    name = name.replace("\\", "/").rpartition("/")[2].strip(" .")
    if name:
        return name[:MAX_FILENAME]
    subtype = part.get_content_subtype() or "bin"
    return f"attachment-{index}.{re.sub(r'[^a-z0-9]+', '', subtype) or 'bin'}"


class _Collector:
    """Walks a parsed message, gathering body parts and attachments."""

    def __init__(self, attachment_cap: int):
        self.cap = max(0, attachment_cap or 0)
        self.used = 0
        self.html: list[str] = []
        self.plain: list[str] = []
        self.attachments: list[tuple[str, bytes, str]] = []
        self.omitted: list[tuple[str, int]] = []
        self.problems: list[str] = []

    def walk(self, part, depth: int = 0) -> None:
        self._note_defects(part)
        if depth > MAX_MIME_DEPTH:
            self.problems.append("MIME nesting too deep")
            return
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            self._attach_message(part)
        elif part.is_multipart():
            for sub in part.get_payload():
                self.walk(sub, depth + 1)
        elif part.get_content_maintype() == "multipart":
            # A multipart whose boundary was never found: its text is the body.
            self.plain.append(_part_text(part))
        else:
            self._leaf(part, ctype)

    def _note_defects(self, part) -> None:
        for defect in getattr(part, "defects", ()):
            name = type(defect).__name__
            if name not in self.problems:
                self.problems.append(name)

    def _leaf(self, part, ctype: str) -> None:
        is_attachment = part.get_content_disposition() == "attachment" or bool(
            part.get_filename()
        )
        if ctype in ("text/html", "text/plain") and not is_attachment:
            (self.html if ctype == "text/html" else self.plain).append(_part_text(part))
            return
        content = part.get_payload(decode=True)
        if content is None:
            content = b""
        self._add(_filename(part, self._next_index()), content, ctype)

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
            name += ".eml"
        self._add(name, content, "message/rfc822")

    def _next_index(self) -> int:
        """1-based number of the next attachment, kept or omitted."""
        return len(self.attachments) + len(self.omitted) + 1

    def _add(self, name: str, content: bytes, mimetype: str) -> None:
        if self.used + len(content) > self.cap:
            self.omitted.append((name, len(content)))
            return
        self.used += len(content)
        self.attachments.append((name, content, mimetype))

    def body_html(self) -> str:
        if self.html:
            return "\n".join(self.html)
        return "\n".join(filter(None, (text_to_html(text) for text in self.plain)))


def _copy_headers(parsed: ParsedMessage, info: HeaderInfo) -> None:
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
_BASE64_RUN = re.compile(
    rb"^(?:[A-Za-z0-9+/=]{60,}\r?\n){31,}[A-Za-z0-9+/=]{60,}(?=\r?\n|\Z)", re.MULTILINE
)


def _elide_base64(raw: bytes) -> tuple[bytes, str, list[bytes]]:
    """``raw`` with each run of base64 lines replaced by a one-line token, the
    token's prefix (with a random nonce, so that text looking like a token stays
    text) and the runs cut out. A token is a line of neither header nor boundary
    shape, so the MIME structure parses the same."""
    runs: list[bytes] = []
    if len(raw) < ELIDE_MIN_SIZE:
        return raw, "", runs
    prefix = f"<mail-sync-elided {secrets.token_hex(8)} "
    encoded = prefix.encode("ascii")

    def cut(match):
        runs.append(match.group(0))
        return encoded + b"%d>" % (len(runs) - 1)

    return _BASE64_RUN.sub(cut, raw), prefix, runs


def _restore_base64(message, prefix: str, runs: list[bytes]) -> None:
    """Put the runs cut by ``_elide_base64`` back into every part of the parsed
    ``message`` (payloads, preambles and epilogues, nested messages included)."""
    token = re.compile(re.escape(prefix) + r"(\d+)>")

    def restore(text):
        if not isinstance(text, str) or prefix not in text:
            return text
        return token.sub(lambda m: runs[int(m.group(1))].decode("ascii"), text)

    for part in message.walk():
        if not part.is_multipart():
            payload = part.get_payload()
            restored = restore(payload)
            if restored is not payload:
                part.set_payload(restored)
        part.preamble = restore(part.preamble)
        part.epilogue = restore(part.epilogue)


def _mime_tree(raw: bytes):
    """``raw`` parsed by the ``email`` package (compat32), base64 runs elided
    while it reads the structure."""
    elided, prefix, runs = _elide_base64(raw)
    message = email.message_from_bytes(elided, policy=email.policy.compat32)
    if runs:
        _restore_base64(message, prefix, runs)
    return message


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
    _copy_headers(parsed, info)
    collector = _Collector(attachment_cap)
    try:
        collector.walk(_mime_tree(raw))
    except Exception as exc:  # noqa: BLE001 - keep what the headers gave
        collector.problems.append(f"unreadable MIME: {type(exc).__name__}")
    parsed.body_html = collector.body_html()
    parsed.body_is_text = not collector.html
    parsed.attachments = collector.attachments
    parsed.omitted_attachments = collector.omitted
    mime_error = (
        "damaged MIME structure: " + ", ".join(collector.problems)
        if collector.problems
        else None
    )
    parsed.error = _join_errors(info.error, mime_error)
    return parsed
