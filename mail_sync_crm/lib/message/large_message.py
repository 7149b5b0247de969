"""A message too large to take whole: its headers, its text and the attachments
that fit, read part by part.

A message over the sync's size limit is not downloaded (``BODY.PEEK[]`` would
hold all of it in memory, then the parser would read it all). Instead
:func:`fetch_partial` reads its MIME structure (``BODYSTRUCTURE``) and its
header, then only the parts it keeps: the text parts (at most
:data:`TEXT_LIMIT` bytes each) and, in order, the attachments whose size the
attachment cap still leaves room for. The others are listed by name and size,
so the chatter says what was left out. Memory stays within the cap plus the
text.
"""

import base64
import binascii
import quopri
import re
import urllib.parse
from dataclasses import dataclass

from .full_message import (
    REPORT_TYPES,
    ParsedMessage,
    assemble_body,
    content_fingerprint,
    copy_headers,
    display_name,
    header_date,
    report_part,
    report_text,
    safe_filename,
)
from .headers import clean, decode_charset, decode_words, header_block, parse_headers

__all__ = ["TEXT_LIMIT", "fetch_partial", "leaves"]

TEXT_LIMIT = 1024 * 1024  # bytes of each text part kept from a message too large
HEADER_ITEM = "BODY.PEEK[HEADER]"
_TEXT_CUT = "\n[…]"


@dataclass
class Leaf:
    """One non-multipart part of a BODYSTRUCTURE, with its IMAP section number."""

    section: str
    mimetype: str
    params: dict
    encoding: str
    size: int  # encoded octets, as the server counts them
    disposition: str
    filename: str
    content_id: str = ""
    # False for the text parts of a multipart/alternative that a mail client
    # does not show (the plain text beside the HTML part).
    shown: bool = True

    @property
    def is_body_text(self) -> bool:
        return (
            self.mimetype in ("text/plain", "text/html")
            and self.disposition != "attachment"
            and not self.filename
        )

    @property
    def decoded_size(self) -> int:
        """The size of the content once decoded (base64: 57 bytes per 78-octet
        line; the other encodings are counted as they come)."""
        if self.encoding == "base64":
            return self.size * 57 // 78
        return self.size


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def _pairs(values) -> dict:
    """A BODYSTRUCTURE parameter list (name, value, name, value...) as a dict
    with lower-case names; RFC 2231 values (``name*``) decoded and their
    continuations (``name*0*``, ``name*1``...) joined."""
    if not isinstance(values, tuple | list):
        return {}
    result, sections = {}, {}
    items = list(values)
    for name, value in zip(items[::2], items[1::2], strict=False):
        name, value = _text(name).lower(), _text(value)
        base, star, rest = name.partition("*")
        if not star:
            result[name] = value
            continue
        number, _star, encoded = rest.partition("*")
        encoded = bool(_star) or not number  # name* or name*N*
        position = int(number) if number.isdigit() else 0
        sections.setdefault(base, []).append((position, encoded, value))
    for base, parts in sections.items():
        parts.sort(key=lambda part: part[0])
        charset, chunks = "", []
        for index, (_position, encoded, value) in enumerate(parts):
            if encoded and index == 0 and value.count("'") >= 2:
                charset, _sep, value = value.partition("'")
                _language, _sep, value = value.partition("'")
            chunks.append(
                urllib.parse.unquote_to_bytes(value)
                if encoded
                else value.encode("latin-1", "replace")
            )
        result[base] = decode_charset(b"".join(chunks), charset or None)
    return result


def _filename(leaf: Leaf, index: int) -> str:
    """A safe file name for an attachment part, as the parser names them."""
    name = safe_filename(decode_words(leaf.filename))
    if leaf.mimetype == "message/rfc822":
        name = name or f"attachment-{index}"
        return name if name.lower().endswith(".eml") else safe_filename(name + ".eml")
    if not name and leaf.mimetype in REPORT_TYPES:
        return REPORT_TYPES[leaf.mimetype]
    subtype = re.sub(r"[^a-z0-9]+", "", leaf.mimetype.partition("/")[2])
    return name or f"attachment-{index}.{subtype or 'bin'}"


def _leaf(body, section: str) -> Leaf:
    mimetype = f"{_text(body[0])}/{_text(body[1])}".lower()
    params = _pairs(body[2])
    size = body[6] if isinstance(body[6], int) else 0
    # Extension data starts after the lines (text) or the envelope, body and
    # lines (message/rfc822); the disposition is its second item.
    disposition_at = {"text": 9, "message/rfc822": 11}.get(
        mimetype if mimetype == "message/rfc822" else mimetype.partition("/")[0], 8
    )
    disposition, disposition_params = "", {}
    if len(body) > disposition_at and isinstance(body[disposition_at], tuple):
        value = body[disposition_at]
        disposition = _text(value[0]).lower() if value else ""
        disposition_params = _pairs(value[1]) if len(value) > 1 else {}
    return Leaf(
        section=section,
        mimetype=mimetype,
        params=params,
        encoding=_text(body[5]).lower(),
        size=size,
        disposition=disposition,
        filename=disposition_params.get("filename") or params.get("name") or "",
        content_id=clean(_text(body[3])).strip("<>").strip(),
    )


def _is_multipart(part) -> bool:
    return isinstance(part, tuple | list) and bool(part) and isinstance(part[0], list)


def _preferred(parts) -> int | None:
    """The index of the part of a multipart/alternative a mail client shows:
    the last HTML (or multipart) one, else the last plain text one."""
    fallback = None
    for index in range(len(parts) - 1, -1, -1):
        part = parts[index]
        if _is_multipart(part):
            return index
        if not isinstance(part, tuple | list) or len(part) < 7:
            continue
        mimetype = f"{_text(part[0])}/{_text(part[1])}".lower()
        if mimetype == "text/html":
            return index
        if mimetype == "text/plain" and fallback is None:
            fallback = index
    return fallback


def leaves(structure, prefix: str = "", shown: bool = True) -> list[Leaf]:
    """The non-multipart parts of a BODYSTRUCTURE (imapclient's ``BodyData``),
    in order. A forwarded message (message/rfc822) is one part. The text parts
    of a multipart/alternative other than the one a mail client shows are
    marked not ``shown``."""
    if not isinstance(structure, tuple | list) or not structure:
        return []
    if not isinstance(structure[0], list):  # a single-part message: its body is 1
        leaf = _leaf(structure, prefix or "1")
        leaf.shown = shown
        return [leaf]
    parts = structure[0]
    subtype = _text(structure[1]).lower() if len(structure) > 1 else ""
    preferred = _preferred(parts) if subtype == "alternative" else None
    found = []
    for number, part in enumerate(parts, start=1):
        section = f"{prefix}{number}"
        part_shown = shown and (preferred is None or preferred == number - 1)
        if _is_multipart(part):
            found.extend(leaves(part, section + ".", part_shown))
        elif isinstance(part, tuple | list) and len(part) >= 7:
            leaf = _leaf(part, section)
            leaf.shown = part_shown
            found.append(leaf)
    return found


def _decode(data: bytes, encoding: str, cut: bool) -> bytes:
    if encoding == "base64":
        data = b"".join(data.split())
        if cut:
            data = data[: len(data) // 4 * 4]
        try:
            return base64.b64decode(data + b"=" * (-len(data) % 4))
        except (binascii.Error, ValueError):
            return b""
    if encoding == "quoted-printable":
        return quopri.decodestring(data)
    return data


def _section_item(leaf: Leaf, limit: int | None) -> str:
    if limit is not None and leaf.size > limit:
        return f"BODY.PEEK[{leaf.section}]<0.{limit}>"
    return f"BODY.PEEK[{leaf.section}]"


def _answer(data: dict, leaf: Leaf) -> bytes:
    """A part's bytes in a FETCH answer (``BODY[1.2]`` or ``BODY[1.2]<0>``)."""
    key = f"BODY[{leaf.section}]".encode("ascii")
    value = data.get(key)
    if value is None:
        value = data.get(key + b"<0>")
    return bytes(value or b"")


def fetch_partial(fetch, uid: int, attachment_cap: int) -> ParsedMessage | None:
    """The message ``uid`` as a :class:`ParsedMessage` read part by part (see
    the module's docstring), with ``partial_size`` set to its full size; None
    when it is no longer in the folder. ``fetch(uids, items)`` is one UID
    FETCH (``ImapSession.fetch_items``); its failures are the caller's."""
    head = fetch([uid], ["BODYSTRUCTURE", HEADER_ITEM, "RFC822.SIZE", "INTERNALDATE"])
    data = head.get(uid)
    if not data:
        return None
    size = data.get(b"RFC822.SIZE") or 0
    internaldate = data.get(b"INTERNALDATE")
    header = bytes(data.get(b"BODY[HEADER]") or b"")
    info = parse_headers(
        header,
        size=size if isinstance(size, int) else 0,
        internaldate=internaldate if hasattr(internaldate, "tzinfo") else None,
        uid=uid,
    )
    parsed = ParsedMessage()
    copy_headers(parsed, info)
    parsed.partial_size = size if isinstance(size, int) else 0
    parts = leaves(data.get(b"BODYSTRUCTURE"))
    texts = [leaf for leaf in parts if leaf.is_body_text and leaf.shown]
    kept, used = [], 0
    cap = max(0, attachment_cap or 0)
    for index, leaf in enumerate((p for p in parts if not p.is_body_text), start=1):
        name = _filename(leaf, index)
        if used + leaf.decoded_size > cap:
            parsed.omitted_attachments.append((name, leaf.decoded_size))
        else:
            kept.append((name, leaf))
            used += leaf.decoded_size
    wanted = [_section_item(leaf, TEXT_LIMIT) for leaf in texts]
    wanted += [_section_item(leaf, None) for _name, leaf in kept]
    answer = fetch([uid], wanted).get(uid, {}) if wanted else {}
    reports = {}  # section -> the report's fields, shown in the body
    for name, leaf in kept:
        content = _decode(_answer(answer, leaf), leaf.encoding, False)
        parsed.attachments.append((name, content, leaf.mimetype))
        if leaf.content_id:
            parsed.inline_cids.setdefault(leaf.content_id, len(parsed.attachments) - 1)
        if leaf.mimetype in REPORT_TYPES:
            reports[leaf.section] = report_text(report_part(content, leaf.mimetype))
    segments = []
    for leaf in parts:  # the shown text parts and reports, in order
        if leaf.section in reports and leaf.shown:
            segments.append((False, reports[leaf.section]))
        elif leaf.is_body_text and leaf.shown:
            cut = leaf.size > TEXT_LIMIT
            content = _decode(_answer(answer, leaf), leaf.encoding, cut)
            text = decode_charset(content, leaf.params.get("charset"))
            segments.append(
                (leaf.mimetype == "text/html", text + _TEXT_CUT if cut else text)
            )
    parsed.body_html, parsed.body_is_text = assemble_body(segments)
    parsed.from_name = display_name(_from_field(header))
    parsed.fingerprint = content_fingerprint(parsed, header_date(info))
    parsed.error = info.error
    return parsed


def _from_field(header: bytes) -> bytes:
    """The raw value of the first From field of a header block."""
    block = header_block(header).replace(b"\r\n", b"\n")
    match = re.search(
        rb"^from[ \t]*:(.*(?:\n[ \t].*)*)", block, re.IGNORECASE | re.MULTILINE
    )
    return b" ".join(match.group(1).split()) if match else b""
