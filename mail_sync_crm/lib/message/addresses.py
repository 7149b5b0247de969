"""Email address normalisation and extraction from address headers.

Everything here is tuned for the sync's hot path (headers of ~100k messages per
historical sync) and never raises, whatever the input:

* :func:`normalize` turns one address in any usual form (``"Name" <A@B.com>``,
  ``<a@b.com>``, ``a@b.com.``, RFC 2047 display names, bytes in any encoding)
  into the bare lower-cased address, or ``None``.
* :func:`extract_all` returns every address of a To/Cc/From header value
  (comma lists, groups, quoted display names containing commas or ``@``,
  comments, encoded words), normalised, de-duplicated, in order.
* :func:`domain_of` gives the domain part of an address ('' when none).

IDN domains are lower-cased and otherwise kept as written (no punycode
conversion), so both sides of a comparison must go through :func:`normalize`.
Quoted local parts (``"john doe"@example.com``) are not supported: they are
treated as a display name and yield nothing.
"""

import base64
import binascii
import codecs
import re

__all__ = ["domain_of", "extract_all", "normalize"]

# Characters never allowed in a bare address we accept (RFC 5322 specials,
# whitespace and controls; '@' is handled separately).
_FORBIDDEN = r"\s@<>()\[\],;:\"\\\x00-\x1f\x7f"
_LOCAL = rf"[^{_FORBIDDEN}]+"
# Domain labels: ASCII letters, digits, '-', '_' and any non-ASCII character
# (IDN domains are kept in their Unicode form).
_LABEL = r"[A-Za-z0-9_\-\u0080-\U0010ffff]+"
_DOMAIN = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[^\s\[\]\\]+\])"
_VALID_RE = re.compile(rf"{_LOCAL}@{_DOMAIN}")
# An address-looking run inside free text (a mailbox without angle brackets).
# Anchored on whole runs (linear time on long runs): ``a@b@c`` yields nothing.
_CANDIDATE_RE = re.compile(
    rf"(?<![^{_FORBIDDEN}])(?<!@)[^{_FORBIDDEN}]+@[^{_FORBIDDEN}]+(?![^{_FORBIDDEN}])(?!@)"
)

# One lexical token of an address header: quoted string, angle address
# (possibly unterminated), comment start, separator, run of plain text, or any
# other single (stray) character, such as an unbalanced double quote.
_TOKEN_RE = re.compile(
    r"""
    (?P<quoted>"(?:[^"\\]|\\.)*")
  | (?P<angle><[^<>]*(?:>|\Z))
  | (?P<comment>\()
  | (?P<sep>[,;:])
  | (?P<text>[^",;:<(]+)
  | (?P<stray>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_ENCODED_WORD_RE = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_SPACE_BETWEEN_WORDS_RE = re.compile(r"(\?=)\s+(=\?)")
_FAST_PATH_BLOCKERS = ('"', "(", ":", ";", "=?")
_STRIP_CHARS = " \t\r\n'`.<>"
# Anything that a bare address cannot contain and a full mailbox may.
_NEEDS_PARSING_RE = re.compile(r'[<>",()\s;:]|=\?')


def _to_text(value: object) -> str | None:
    """Return ``value`` as text: bytes are decoded as UTF-8, else latin-1."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("latin-1")
    return None


def _bare(candidate: str) -> str | None:
    """Validate one bare address candidate and return its normalised form."""
    addr = candidate.strip(_STRIP_CHARS)
    if addr[:7].lower() == "mailto:":
        addr = addr[7:].strip(_STRIP_CHARS)
    addr = addr.lower()
    if _VALID_RE.fullmatch(addr):
        return addr
    return None


def _from_angle(token: str) -> str | None:
    """Normalise the content of an ``<...>`` token (whitespace is dropped)."""
    content = "".join(token.strip("<>").split())
    if content.startswith("@") and ":" in content:  # obsolete source route
        content = content.rpartition(":")[2]
    return _bare(content)


def _from_text(text: str) -> list[str]:
    """Addresses found in the unquoted text of a mailbox without ``<...>``."""
    found = []
    for candidate in _CANDIDATE_RE.findall(text):
        addr = _bare(candidate)
        if addr:
            found.append(addr)
    return found


def _decode_charset(data: bytes, charset: str) -> str:
    charset = charset.partition("*")[0]  # RFC 2231 language suffix
    try:
        codecs.lookup(charset)
    except LookupError:
        charset = "utf-8"
    try:
        return data.decode(charset)
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _decode_word(match: re.Match) -> str:
    """Decode one RFC 2047 encoded word into header-safe text.

    Decoded display names come back as a quoted string so that commas or
    quotes inside them cannot split the list; decoded text that contains an
    ``@`` is inserted as is, since broken mailers sometimes encode a whole
    ``Name <address>``.
    """
    charset, encoding, payload = match.groups()
    try:
        if encoding in "bB":
            data = base64.b64decode(payload + "=" * (-len(payload) % 4))
        else:
            data = binascii.a2b_qp(payload.encode("ascii", "replace"), header=True)
    except (binascii.Error, ValueError):
        return match.group(0)
    text = _decode_charset(data, charset)
    if "@" in text:
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _decode_words(text: str) -> str:
    text = _SPACE_BETWEEN_WORDS_RE.sub(r"\1\2", text)
    return _ENCODED_WORD_RE.sub(_decode_word, text)


def _skip_comment(text: str, pos: int) -> int:
    """Return the index just after the (possibly nested) comment at ``pos``."""
    depth = 0
    end = len(text)
    while pos < end:
        char = text[pos]
        if char == "\\":
            pos += 2
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return pos + 1
        pos += 1
    return end


class _Mailbox:
    """Tokens of the mailbox being read: angle addresses and plain text."""

    __slots__ = ("angles", "texts")

    def __init__(self) -> None:
        self.angles: list[str] = []
        self.texts: list[str] = []

    def addresses(self) -> list[str]:
        for token in reversed(self.angles):
            addr = _from_angle(token)
            if addr:
                return [addr]
        if self.texts:
            return _from_text(" ".join(self.texts))
        return []


def _parse(text: str) -> list[str]:
    """Full tokenising parser for an address header (with duplicates)."""
    found: list[str] = []
    mailbox = _Mailbox()
    pos, end = 0, len(text)
    while pos < end:
        match = _TOKEN_RE.match(text, pos)
        kind = match.lastgroup
        if kind == "comment":
            pos = _skip_comment(text, pos)
            continue
        pos = match.end()
        token = match.group()
        if kind == "angle":
            mailbox.angles.append(token)
        elif kind == "text":
            mailbox.texts.append(token)
        elif kind == "sep":
            if token == ":":  # group name: what came before is its display name
                mailbox.texts.clear()
            else:
                found.extend(mailbox.addresses())
                mailbox = _Mailbox()
        # quoted strings are display names; stray characters are noise
    found.extend(mailbox.addresses())
    return found


def _parse_simple(text: str) -> list[str]:
    """Fast path for headers without quotes, comments, groups or encoded words."""
    found = []
    for part in text.split(","):
        left = part.rfind("<")
        if left >= 0:
            right = part.find(">", left)
            addr = _from_angle(part[left:right] if right >= 0 else part[left:])
            if addr:
                found.append(addr)
        elif "@" in part:
            found.extend(_from_text(part))
    return found


def _unique(addresses: list[str]) -> list[str]:
    return list(dict.fromkeys(addresses))


def _extract(text: str) -> list[str]:
    if "=?" in text:
        text = _decode_words(text)
    if any(blocker in text for blocker in _FAST_PATH_BLOCKERS):
        return _parse(text)
    return _parse_simple(text)


def extract_all(header_value: str | bytes | None) -> list[str]:
    """Return all normalised addresses of an address header value, in order.

    Handles comma lists, groups (``undisclosed-recipients:;``), quoted display
    names containing commas or ``@``, comments and RFC 2047 encoded words.
    Duplicates are dropped; invalid entries are skipped. Never raises.
    """
    try:
        text = _to_text(header_value)
        if not text or ("@" not in text and "=?" not in text):
            return []
        return _unique(_extract(text))
    except Exception:  # noqa: BLE001 - this function must never raise
        return []


def normalize(addr: str | bytes | None) -> str | None:
    """Return the bare lower-cased address in ``addr``, or None.

    ``addr`` may be a bare address or a full mailbox (``"Name" <a@b.com>``);
    when it holds several addresses, the first valid one is returned.
    Never raises.
    """
    try:
        text = _to_text(addr)
        if not text or ("@" not in text and "=?" not in text):
            return None
        text = text.strip()
        if text.count("@") == 1 and not _NEEDS_PARSING_RE.search(text):
            return _bare(text)  # already bare: the common case
        found = _extract(text)
        return found[0] if found else None
    except Exception:  # noqa: BLE001 - this function must never raise
        return None


def domain_of(addr: str | bytes | None) -> str:
    """Return the domain of ``addr`` (normalised), or '' when it has none."""
    normalized = normalize(addr)
    if not normalized:
        return ""
    return normalized.rpartition("@")[2]
