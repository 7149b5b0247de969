"""Full messages: the body and attachments of a matched message, for the chatter.

:func:`parse_message` reads a full message (fetched only for matched UIDs) into
a :class:`ParsedMessage`: the header fields :func:`.parser.parse_headers` reads,
an HTML body and the attachments that fit a size cap. Like the header parser,
it never raises, whatever the input.
"""

import datetime
import email
import email.policy
import html
import re
import secrets
from dataclasses import dataclass, field

from .parser import (
    HeaderInfo,
    _clean,
    _decode_charset,
    decode_words,
    parse_headers,
)

__all__ = ["ParsedMessage", "parse_message", "text_to_html"]

MAX_FILENAME = 200
MAX_MIME_DEPTH = 30
ELIDE_MIN_SIZE = 8192  # smaller messages hold no base64 run worth cutting out


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
