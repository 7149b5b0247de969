"""RFC 5322 parsing that never raises, whatever the input.

Header fields here, full messages in :mod:`lib.message.full_message`; both tolerant of
real-world damage (8-bit headers in an unknown charset, NUL bytes, no header
block, broken MIME boundaries, garbage encoded words, impossible dates):

* :func:`parse_headers` reads the header block of one message (the raw bytes
  of ``BODY[HEADER.FIELDS (...)]`` or the head of a full message) into a
  :class:`HeaderInfo`. It is on the hot path of a historical sync (every
  message of the mailbox), so it is a hand-rolled split, not the ``email``
  package.
* :func:`lib.message.full_message.parse_message` (a module of its own) reads a full
  message (fetched only for matched UIDs) with the helpers defined here.

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
import re
from dataclasses import dataclass, field

from .addresses import extract_all

__all__ = [
    "HEADER_FIELDS",
    "NOISE_FIELDS",
    "HeaderInfo",
    "decode_words",
    "parse_date",
    "parse_headers",
]

# The header fields that say who wrote to whom, when, about what: the synthetic
# Message-ID of a message without one is derived from these (and only these, so
# that fetching more fields never changes it).
_ID_FIELDS = (
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
# The header fields that tell mailing-list and automated mail (lib.sync.noise).
NOISE_FIELDS = ("LIST-ID", "LIST-UNSUBSCRIBE", "PRECEDENCE", "AUTO-SUBMITTED")
# The header fields the sync reads, as requested in ``BODY.PEEK[HEADER.FIELDS]``.
HEADER_FIELDS = _ID_FIELDS + NOISE_FIELDS
_WANTED = frozenset(name.lower().encode("ascii") for name in HEADER_FIELDS)
_ID_WANTED = frozenset(name.lower().encode("ascii") for name in _ID_FIELDS)
_ADDRESS_FIELDS = frozenset((b"from", b"to", b"cc", b"bcc"))

SYNTHETIC_DOMAIN = "mail-sync.invalid"
MAX_MESSAGE_ID = 995  # Message-IDs longer than a header line are cut
MAX_SUBJECT = 2000
MAX_NOISE_VALUE = 200  # a List-Id or token longer than this is cut
ADDRESS_CACHE_SIZE = 20_000  # distinct address field values remembered
# A time-zone offset beyond this is nonsense (real ones stay within +-14 h).
MAX_TZ_OFFSET = 24 * 3600

_UTC = datetime.timezone.utc
_MSGID_RE = re.compile(r"<([^<>]*)>")
# An RFC 2047 encoded word; spaces inside its text are tolerated, as mail
# clients (and Python's own header parser) tolerate them.
_ENCODED_WORD_RE = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
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
    list_id: str = ""
    list_unsubscribe: bool = False
    precedence: str = ""
    auto_submitted: str = ""
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


# ---------------------------------------------------------------------------
# Text helpers


# A well-formed multi-byte UTF-8 sequence, and a byte that can only start one.
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]"
    rb"|[\xe1-\xec\xee\xef][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]"
    rb"|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
_UTF8_LEAD = re.compile(rb"[\xc0-\xff]")
# C0 controls but tab, line feed and carriage return, and DEL: removed from text
# bytes before they are decoded (NUL is not storable in PostgreSQL text).
_CONTROL_BYTES = bytes((*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F))
# The same and the C1 controls, in decoded text.
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Codecs whose text may hold control bytes of its own (escape sequences, NUL
# halves of UTF-16 code units): decoded first, cleaned after.
_STATEFUL_PREFIXES = ("utf_16", "utf_32", "iso2022", "hz", "utf_7")
# Charset labels mailers write that Python does not know by that name.
_CHARSET_ALIASES = {
    "windows-874": "cp874",  # Outlook's Thai (Odoo registers it too)
    "x-windows-874": "cp874",
    "iso-8859-8-i": "iso8859-8",
    "iso-8859-6-i": "iso8859-6",
    "iso-8859-8-e": "iso8859-8",
    "iso-8859-6-e": "iso8859-6",
    "x-sjis": "shift_jis",
    "x-gbk": "gbk",
    "x-mac-roman": "mac-roman",
    "x-euc-jp": "euc_jp",
    "x-unicode20utf8": "utf-8",
}
_BAD_BYTE = "mail_sync_crm.bad_byte"


def _bad_byte(exc: UnicodeError):
    """The decoding error handler of text that is mostly UTF-8: a byte that does
    not fit costs one replacement character, and the 0x80 that Dovecot sends
    for a NUL byte costs nothing."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    return ("" if bad == b"\x80" else "\ufffd"), exc.end


codecs.register_error(_BAD_BYTE, _bad_byte)


def bytes_to_text(value: bytes) -> str:
    """UTF-8 when valid, else :func:`_not_utf8_to_text`."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return _not_utf8_to_text(value)


def _not_utf8_to_text(value: bytes) -> str:
    """Text that is not valid UTF-8: as UTF-8 with each bad byte replaced when
    it is mostly UTF-8 (at least as many well-formed multi-byte sequences as
    bytes that start none), else latin-1 (every byte maps to a character: the
    usual mislabelled 8-bit text)."""
    valid = len(_UTF8_SEQUENCE.findall(value))
    if valid and 2 * valid >= len(_UTF8_LEAD.findall(value)):
        return value.decode("utf-8", _BAD_BYTE)
    return value.decode("latin-1")


def clean(text: str) -> str:
    """Drop control characters (tab/CR/LF become spaces) and outer spaces."""
    if not text.isprintable():
        text = text.translate(_CONTROL_TABLE)
    return text.strip()


def _charset_label(charset) -> str:
    """A charset parameter as text: an RFC 2231 value (``charset*=utf-8''x``,
    which the ``email`` package returns as a (charset, language, value) tuple)
    collapsed to its value."""
    if isinstance(charset, tuple):
        try:
            charset = email.utils.collapse_rfc2231_value(charset)
        except Exception:  # noqa: BLE001 - a broken parameter is no charset
            charset = charset[-1] if charset else ""
    return str(charset or "")


def _known_charset(charset) -> str | None:
    """The codec name of ``charset`` (RFC 2231 language dropped), else None."""
    charset = _charset_label(charset)
    if not charset:
        return None
    charset = charset.partition("*")[0].strip().strip('"').lower()
    charset = _CHARSET_ALIASES.get(charset, charset)
    try:
        return codecs.lookup(charset).name
    except (LookupError, ValueError):
        return None


def decode_charset(data: bytes, charset) -> str:
    """Decode ``data`` in its declared ``charset``, without control characters.

    Unknown, missing, ASCII or UTF-8 labels: UTF-8, else latin-1 (see
    :func:`bytes_to_text`). Other charsets: replacement characters for the
    bytes that do not fit. NUL and other control bytes are removed before
    decoding (after, for the codecs that need them).
    """
    codec = _known_charset(charset)
    if codec in (None, "ascii", "utf-8"):
        text = bytes_to_text(data.translate(None, _CONTROL_BYTES))
    else:
        if not codec.replace("-", "_").startswith(_STATEFUL_PREFIXES):
            data = data.translate(None, _CONTROL_BYTES)
        try:
            text = data.decode(codec, "replace")
        except Exception:  # noqa: BLE001 - a broken codec: fall back to bytes
            text = bytes_to_text(data.translate(None, _CONTROL_BYTES))
    if _CONTROL_CHARS.search(text):
        text = _CONTROL_CHARS.sub("", text)
    return text


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
        part if isinstance(part, str) else decode_charset(bytes(part[1]), part[0])
        for part in parts
    )


# ---------------------------------------------------------------------------
# Header fields


def header_block(raw: bytes) -> bytes:
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
    inner = clean(inner)
    if not inner:
        return None
    return f"<{inner[:MAX_MESSAGE_ID]}>"


def _references(value: str) -> list[str]:
    ids = ("".join(inner.split()) for inner in _MSGID_RE.findall(value))
    return list(dict.fromkeys(f"<{clean(i)}>" for i in ids if clean(i)))


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
        if name not in _ID_WANTED:
            continue
        digest.update(name + b":" + b" ".join(value.split()) + b"\n")
    digest.update(b"size:%d" % size)
    return f"<{digest.hexdigest()[:40]}@{SYNTHETIC_DOMAIN}>"


@functools.lru_cache(maxsize=ADDRESS_CACHE_SIZE)
def _addresses(value: bytes) -> tuple[str, ...]:
    """``extract_all`` of a raw address field value. Memoised: the same few
    correspondents fill most address fields of a mailbox (the owner's address
    alone is in every message), and parsing them is most of a header's cost."""
    return tuple(extract_all(bytes_to_text(value)))


# What a quick parse leaves for later: everything but the addresses, the size,
# the INTERNALDATE and the error.
_DEFERRED = frozenset(
    (
        "message_id",
        "synthetic_id",
        "date",
        "subject",
        "in_reply_to",
        "references",
        "list_id",
        "list_unsubscribe",
        "precedence",
        "auto_submitted",
    )
)


def _fill_addresses(info: HeaderInfo, fields: list[tuple[bytes, bytes]]) -> None:
    """Set the address fields of ``info`` from the raw (name, value) pairs."""
    for name, value in fields:
        if name in _ADDRESS_FIELDS:
            target = info.from_ if name == b"from" else getattr(info, name.decode())
            target.extend(a for a in _addresses(value) if a not in target)


def _token(value: str) -> str:
    """The first token of a keyword field (``Auto-Submitted: auto-replied;
    owner-email=...``, ``Precedence: bulk``): lower-case, without comments or
    parameters ("" when empty)."""
    value = re.sub(r"\([^()]*\)", " ", clean(value))  # (comments)
    words = value.partition(";")[0].split()
    return words[0].lower()[:MAX_NOISE_VALUE] if words else ""


def _fill_rest(info: HeaderInfo, fields: list[tuple[bytes, bytes]], size: int) -> None:
    """Set the fields in ``_DEFERRED`` from the raw (name, value) pairs. Never
    raises: a value that cannot be read stays empty."""
    info.subject, info.message_id, info.synthetic_id = "", "", False
    info.in_reply_to, info.references, info.date = None, [], None
    info.list_id, info.list_unsubscribe = "", False
    info.precedence, info.auto_submitted = "", ""
    try:
        first: dict[bytes, str] = {}
        for name, value in fields:
            if name not in _ADDRESS_FIELDS and name not in first:
                first[name] = bytes_to_text(value)
        if b"subject" in first:
            info.subject = clean(decode_words(first[b"subject"]))[:MAX_SUBJECT]
        if b"message-id" in first:
            info.message_id = _message_id(first[b"message-id"]) or ""
        if b"in-reply-to" in first:
            info.in_reply_to = _message_id(first[b"in-reply-to"])
        if b"references" in first:
            info.references = _references(first[b"references"])
        if b"date" in first:
            info.date = parse_date(first[b"date"])
        if b"list-id" in first:
            info.list_id = clean(decode_words(first[b"list-id"]))[:MAX_NOISE_VALUE]
        info.list_unsubscribe = bool(clean(first.get(b"list-unsubscribe", "")))
        info.precedence = _token(first.get(b"precedence", ""))
        info.auto_submitted = _token(first.get(b"auto-submitted", ""))
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
        block = header_block(bytes(raw or b""))
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
