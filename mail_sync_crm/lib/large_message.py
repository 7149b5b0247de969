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
import email.utils
import quopri
from dataclasses import dataclass

from .message_parser import (
    ParsedMessage,
    _copy_headers,
    text_to_html,
)
from .parser import _clean, _decode_charset, decode_words, parse_headers

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
    with lower-case names; RFC 2231 values (``name*``) decoded."""
    if not isinstance(values, tuple | list):
        return {}
    result = {}
    items = list(values)
    for name, value in zip(items[::2], items[1::2], strict=False):
        name, value = _text(name).lower(), _text(value)
        if name.endswith("*"):
            name = name.rstrip("*")
            charset, _sep, rest = value.partition("''")
            if rest:
                value = email.utils.collapse_rfc2231_value((charset, "", rest))
        result[name] = value
    return result


def _filename(leaf: Leaf, index: int) -> str:
    """A safe file name for an attachment part, as the parser names them."""
    name = _clean(decode_words(leaf.filename)).replace("\\", "/").rpartition("/")[2]
    name = name.strip(" .")[:200]
    if leaf.mimetype == "message/rfc822":
        name = name or f"attachment-{index}"
        return name if name.lower().endswith(".eml") else name + ".eml"
    return name or f"attachment-{index}.{leaf.mimetype.partition('/')[2] or 'bin'}"


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
    )


def leaves(structure, prefix: str = "") -> list[Leaf]:
    """The non-multipart parts of a BODYSTRUCTURE (imapclient's ``BodyData``),
    in order. A forwarded message (message/rfc822) is one part."""
    if not isinstance(structure, tuple | list) or not structure:
        return []
    if not isinstance(structure[0], list):  # a single-part message: its body is 1
        return [_leaf(structure, prefix or "1")]
    found = []
    for number, part in enumerate(structure[0], start=1):
        section = f"{prefix}{number}"
        if isinstance(part, tuple | list) and part and isinstance(part[0], list):
            found.extend(leaves(part, section + "."))
        elif isinstance(part, tuple | list) and len(part) >= 7:
            found.append(_leaf(part, section))
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
    info = parse_headers(
        bytes(data.get(b"BODY[HEADER]") or b""),
        size=size if isinstance(size, int) else 0,
        internaldate=internaldate if hasattr(internaldate, "tzinfo") else None,
        uid=uid,
    )
    parsed = ParsedMessage()
    _copy_headers(parsed, info)
    parsed.partial_size = size if isinstance(size, int) else 0
    parts = leaves(data.get(b"BODYSTRUCTURE"))
    texts = [leaf for leaf in parts if leaf.is_body_text]
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
    html, plain = [], []
    for leaf in texts:
        cut = leaf.size > TEXT_LIMIT
        content = _decode(_answer(answer, leaf), leaf.encoding, cut)
        text = _decode_charset(content, leaf.params.get("charset")).replace("\x00", "")
        (html if leaf.mimetype == "text/html" else plain).append(
            text + _TEXT_CUT if cut else text
        )
    for name, leaf in kept:
        content = _decode(_answer(answer, leaf), leaf.encoding, False)
        parsed.attachments.append((name, content, leaf.mimetype))
    parsed.body_is_text = not html
    parsed.body_html = (
        "\n".join(html)
        if html
        else "\n".join(filter(None, (text_to_html(text) for text in plain)))
    )
    parsed.error = info.error
    return parsed
