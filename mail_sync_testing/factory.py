"""Realistic RFC 5322 test messages (no Odoo import).

* make_message(): one message built with email.message.EmailMessage;
* make_corpus(): many messages quickly and deterministically (benchmarks);
* malformed_messages(): deliberately broken raw messages.

All return bytes with CRLF line endings.
"""

import base64
import datetime
import email.policy
import html
import mimetypes
import random
import uuid
from collections import namedtuple
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr

__all__ = [
    "CorpusMessage",
    "make_corpus",
    "make_message",
    "malformed_messages",
    "parse_address",
]

CRLF = b"\r\n"
_SMTP_POLICY = email.policy.SMTP  # policy.default with CRLF line endings


def parse_address(value):
    """(display name, addr-spec) from "a@b", "Name <a@b>", a pair or an Address."""
    if isinstance(value, Address):
        return value.display_name, value.addr_spec
    if isinstance(value, (tuple, list)):
        name, addr = value
        return name or "", addr
    name, addr = parseaddr(value)
    if not addr:
        raise ValueError(f"not an e-mail address: {value!r}")
    return name, addr


def _addresses(values):
    if values is None:
        return []
    if isinstance(values, (str, Address)) or (
        isinstance(values, tuple) and len(values) == 2 and "@" in str(values[1])
    ):
        values = [values]
    return [parse_address(v) for v in values]


def _header_addresses(values, display_names):
    return [
        Address(display_name=name if display_names else "", addr_spec=addr)
        for name, addr in values
    ]


def _format_date(date):
    if date is None:
        date = datetime.datetime.now(datetime.timezone.utc)
    if isinstance(date, str):
        return date
    if isinstance(date, (int, float)):
        date = datetime.datetime.fromtimestamp(date, datetime.timezone.utc)
    if date.tzinfo is None:
        date = date.replace(tzinfo=datetime.timezone.utc)
    return format_datetime(date)


def _angle(msgid):
    msgid = msgid.strip()
    return msgid if msgid.startswith("<") else f"<{msgid}>"


def _set_thread_headers(msg, in_reply_to, references):
    if in_reply_to:
        msg["In-Reply-To"] = _angle(in_reply_to)
    if references is None and in_reply_to:
        references = [in_reply_to]
    if isinstance(references, str):
        references = references.split()
    if references:
        msg["References"] = " ".join(_angle(ref) for ref in references)


def _cte(text):
    return None if text.isascii() else "quoted-printable"


def _set_body(msg, text, html, attachments):
    text = text or ""
    msg.set_content(text, cte=_cte(text))
    if html is not None:
        msg.add_alternative(html, subtype="html", cte=_cte(html))
    for filename, content, mimetype in attachments:
        if not mimetype:
            mimetype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        maintype, _, subtype = mimetype.partition("/")
        if isinstance(content, str):
            content = content.encode("utf-8")
        msg.add_attachment(
            content, maintype=maintype, subtype=subtype, filename=filename
        )
    for part in msg.walk():
        if part is not msg:
            del part["MIME-Version"]  # EmailMessage adds it to every subpart


def make_message(
    from_,
    to,
    cc=(),
    bcc=(),
    subject="Test message",
    date=None,
    message_id=None,
    in_reply_to=None,
    references=None,
    text="Hello,\n\nThis is a test message.\n\nRegards\n",
    html=None,
    attachments=(),
    encoded_subject=False,
    display_names=True,
    headers=None,
):
    """Build one message; returns its bytes (CRLF line endings).

    Addresses are "a@b", "Name <a@b>", (name, addr) pairs or Address objects;
    `to`/`cc`/`bcc` take one or a list. Non-ASCII display names and subjects
    become RFC 2047 encoded-words; ``encoded_subject=True`` forces an
    encoded-word Subject even when it is ASCII. ``display_names=False`` drops
    display names. `date` is a datetime (naive = UTC), a timestamp or a
    literal header string; `message_id` defaults to a fresh one at the sender's
    domain; `references` is a string or a list of ids (defaults to
    `in_reply_to`). `attachments` are (filename, bytes, mimetype or None)
    triples. `headers` adds extra header fields (a dict or pairs).
    """
    sender = _addresses(from_)
    if len(sender) != 1:
        raise ValueError("from_ must be exactly one address")
    domain = sender[0][1].rpartition("@")[2] or "example.com"
    msg = EmailMessage(policy=email.policy.default)
    msg["From"] = _header_addresses(sender, display_names)
    for name, values in (("To", to), ("Cc", cc), ("Bcc", bcc)):
        values = _addresses(values)
        if values:
            msg[name] = _header_addresses(values, display_names)
    placeholder = None
    if encoded_subject:
        placeholder = f"X-Subject-Placeholder-{uuid.uuid4().hex}"
        msg["Subject"] = placeholder
    elif subject is not None:
        msg["Subject"] = subject
    msg["Date"] = _format_date(date)
    msg["Message-ID"] = _angle(message_id or make_msgid(domain=domain))
    _set_thread_headers(msg, in_reply_to, references)
    if isinstance(headers, dict):
        headers = headers.items()
    for name, value in headers or ():
        msg[name] = value
    _set_body(msg, text, html, attachments)
    raw = msg.as_bytes(policy=_SMTP_POLICY)
    if placeholder:
        encoded = Header(subject or "", "utf-8").encode(maxlinelen=76, linesep="\r\n")
        raw = raw.replace(
            b"Subject: " + placeholder.encode(), b"Subject: " + encoded.encode(), 1
        )
    return raw


# -- corpus ---------------------------------------------------------------------

CorpusMessage = namedtuple("CorpusMessage", "folder raw message_id date")

_FIRST = (
    "Anna",
    "Ben",
    "Chloé",
    "Daniel",
    "Eva",
    "François",
    "Greta",
    "Hugo",
    "Inès",
    "Jan",
    "Karin",
    "Lukas",
    "Marta",
    "Noah",
    "Olga",
    "Pedro",
    "Quentin",
    "Rosa",
    "Søren",
    "Tomás",
    "Ulla",
    "Victor",
    "Wiebke",
    "Xavier",
    "Yara",
    "Zoë",
)
_LAST = (
    "Dupont",
    "Müller",
    "Smith",
    "García",
    "Rossi",
    "Nowak",
    "Jansen",
    "Dubois",
    "Schröder",
    "Kowalski",
    "Silva",
    "Novák",
    "Ferreira",
    "Lindqvist",
    "Öztürk",
    "Martin",
    "Bernard",
    "Peeters",
    "Costa",
    "Fischer",
)
_COMPANIES = (
    "acme.example",
    "globex.example",
    "initech.example",
    "umbrella.example",
    "hooli.example",
    "stark.example",
    "wayne.example",
    "tyrell.example",
)
_WORDS = (
    "meeting",
    "proposal",
    "invoice",
    "quote",
    "contract",
    "delivery",
    "schedule",
    "update",
    "project",
    "budget",
    "review",
    "agenda",
    "follow-up",
    "request",
    "offer",
    "order",
    "payment",
    "renewal",
    "report",
    "planning",
    "workshop",
    "question",
    "feedback",
    "pricing",
    "support",
    "demo",
    "call",
    "visit",
    "partnership",
    "shipment",
    "estimate",
    "timeline",
    "draft",
    "signature",
    "approval",
)
_ENCODED_SUBJECTS = (
    "Réunion de suivi – {w}",
    "Angebot für {w} – Rückfrage",
    "Änderung: {w} (dringend)",
    "Presupuesto año 2025: {w}",
    "見積もりのご依頼 {w}",
    "Ваш заказ: {w}",
    "Café & crème: {w} ☕",
)
_LOREM = (
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
    "enim",
    "ad",
    "minim",
    "veniam",
    "quis",
    "nostrud",
    "exercitation",
    "ullamco",
    "laboris",
    "nisi",
    "aliquip",
    "ex",
    "ea",
    "commodo",
    "consequat",
    "duis",
    "aute",
    "irure",
    "in",
    "reprehenderit",
    "voluptate",
    "velit",
    "esse",
    "cillum",
    "fugiat",
    "nulla",
    "pariatur",
)
_ATTACHMENT_TYPES = (
    ("pdf", "application/pdf"),
    ("png", "image/png"),
    ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("zip", "application/zip"),
)


def _contact_pool(rng, size):
    pool, seen = [], set()
    while len(pool) < size:
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        domain = rng.choice(_COMPANIES)
        addr = f"{first}.{last}@{domain}".lower()
        addr = addr.encode("ascii", "ignore").decode()  # drop accents in addr
        if addr in seen:
            addr = f"{first}.{last}{len(pool)}@{domain}".lower()
            addr = addr.encode("ascii", "ignore").decode()
        seen.add(addr)
        pool.append((f"{first} {last}", addr))
    return pool


def _fold_base64(data):
    return base64.encodebytes(data).replace(b"\n", CRLF)


def _encode_subject(subject):
    if subject.isascii():
        return subject
    return Header(subject, "utf-8").encode(maxlinelen=76, linesep="\r\n")


def make_corpus(
    n,
    seed=0,
    owner=("Alice Example", "alice@example.com"),
    contacts=None,
    n_contacts=50,
    sent_ratio=0.25,
    encoded_subject_ratio=0.10,
    attachment_ratio=0.10,
    attachment_size=(20_000, 300_000),
    reply_ratio=0.30,
    cc_ratio=0.20,
    paragraphs=(1, 8),
    start=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    span_days=365,
    html_ratio=0.0,
):
    """`n` messages as CorpusMessage(folder, raw, message_id, date), oldest first.

    Deterministic for a given `seed`. `owner` is the mailbox owner: INBOX
    messages go from a contact to the owner, "Sent" messages (``sent_ratio``)
    from the owner to contacts. `contacts` is the correspondent pool (addresses
    as accepted by make_message), else ``n_contacts`` generated ones (some with
    non-ASCII names). A share of messages reply to earlier ones (In-Reply-To,
    References, "Re:"), carry an RFC 2047 subject, a Cc, or a binary attachment
    of ``attachment_size`` bytes (min, max). A share ``html_ratio`` has an HTML
    alternative of its text, as mail clients write it. Built from templates, not
    EmailMessage, so 100k messages take seconds.
    """
    rng = random.Random(seed)
    owner_name, owner_addr = parse_address(owner)
    pool = (
        [parse_address(c) for c in contacts]
        if contacts
        else _contact_pool(rng, n_contacts)
    )
    if not pool:
        raise ValueError("contacts must not be empty")
    formatted = {addr: formataddr((name, addr), charset="utf-8") for name, addr in pool}
    formatted[owner_addr] = formataddr((owner_name, owner_addr), charset="utf-8")
    para_pool = [
        "\r\n".join(
            _wrap(
                " ".join(rng.choices(_LOREM, k=rng.randint(20, 90))).capitalize() + "."
            )
        )
        for _ in range(64)
    ]
    # Attachments are slices (at random line offsets) of one pre-encoded random
    # blob: unique-looking content without encoding megabytes per message.
    max_lines = -(-attachment_size[1] // 57) if attachment_ratio > 0 else 0
    blob = _fold_base64(rng.randbytes(57 * max_lines * 2)) if max_lines else b""
    line_len = 78  # 76 base64 characters + CRLF
    span = span_days * 86400
    offsets = sorted(rng.uniform(0, span) for _ in range(n))
    corpus, threads = [], []  # threads: (subject, references, counterpart addr)
    for i, offset in enumerate(offsets):
        date = start + datetime.timedelta(seconds=offset)
        sent = rng.random() < sent_ratio
        reply_to = (
            threads[rng.randrange(len(threads))]
            if (threads and rng.random() < reply_ratio)
            else None
        )
        if reply_to:
            base_subject, refs, contact = reply_to
            subject = (
                base_subject
                if base_subject.startswith("Re: ")
                else ("Re: " + base_subject)
            )
        else:
            contact = rng.choice(pool)[1]
            refs = []
            word = rng.choice(_WORDS)
            if rng.random() < encoded_subject_ratio:
                subject = rng.choice(_ENCODED_SUBJECTS).format(w=word)
            else:
                number = rng.randint(1, 9999)
                subject = f"{word.capitalize()} {rng.choice(_WORDS)} #{number}"
        if sent:
            sender, recipients = owner_addr, [contact]
        else:
            sender, recipients = contact, [owner_addr]
        cc = []
        if rng.random() < cc_ratio:
            cc = [rng.choice(pool)[1]]
            cc = [a for a in cc if a not in (sender, *recipients)]
        domain = sender.rpartition("@")[2]
        message_id = f"<{rng.getrandbits(64):016x}.{i}@{domain}>"
        date_header = format_datetime(date)
        lines = [
            f"From: {formatted[sender]}",
            "To: " + ", ".join(formatted[a] for a in recipients),
        ]
        if cc:
            lines.append("Cc: " + ", ".join(formatted[a] for a in cc))
        lines += [
            f"Subject: {_encode_subject(subject)}",
            f"Date: {date_header}",
            f"Message-ID: {message_id}",
        ]
        if refs:
            lines.append(f"In-Reply-To: {refs[-1]}")
            lines.append("References: " + "\r\n ".join(refs[-10:]))
        lines.append("MIME-Version: 1.0")
        body = "\r\n\r\n".join(
            rng.choice(para_pool) for _ in range(rng.randint(*paragraphs))
        )
        body += "\r\n"
        # (no random draw when html_ratio is 0: the corpus of a seed stays as it was)
        alternative = (
            _alternative(rng, body, lines)
            if html_ratio and rng.random() < html_ratio
            else None
        )
        if rng.random() < attachment_ratio:
            boundary = f"==={rng.getrandbits(64):016x}=="
            ext, mimetype = rng.choice(_ATTACHMENT_TYPES)
            lines_needed = max(1, -(-rng.randint(*attachment_size) // 57))
            first = rng.randrange(max_lines + 1)
            payload = blob[first * line_len : (first + lines_needed) * line_len]
            filename = f"{_filename_word(subject)}-{i}.{ext}"
            lines.append(f'Content-Type: multipart/mixed; boundary="{boundary}"')
            head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
            raw = _multipart(
                head, boundary, body, mimetype, filename, payload, alternative
            )
        elif alternative:
            part_head, part_body = alternative
            head = ("\r\n".join(lines) + "\r\n").encode("utf-8")
            raw = head + part_head + b"\r\n" + part_body
        else:
            lines.append('Content-Type: text/plain; charset="utf-8"')
            lines.append("Content-Transfer-Encoding: 7bit")
            raw = ("\r\n".join(lines) + "\r\n\r\n" + body).encode("utf-8")
        corpus.append(CorpusMessage("Sent" if sent else "INBOX", raw, message_id, date))
        threads.append((subject, refs + [message_id], contact))
    return corpus


def _alternative(rng, text, header_lines):
    """(Content-Type header line, body) of a multipart/alternative part: the
    ASCII ``text`` and an HTML version of it, as a mail client writes one."""
    boundary = f"===alt{rng.getrandbits(64):016x}=="
    paragraphs = "".join(
        "<p>" + html.escape(p).replace("\r\n", "<br>\r\n") + "</p>\r\n"
        for p in text.strip().split("\r\n\r\n")
    )
    html_body = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; '
        'charset=utf-8"><style>p{margin:0 0 1em}</style></head>\r\n'
        '<body><div dir="ltr" style="font-family:Arial,sans-serif;font-size:14px">'
        "\r\n"
        + paragraphs
        + '<div class="signature">-- <br><b>'
        + html.escape(header_lines[0].partition(": ")[2])
        + "</b></div>\r\n"
        "</div></body></html>\r\n"
    )
    delimiter = f"--{boundary}\r\n"
    body = (
        delimiter
        + 'Content-Type: text/plain; charset="utf-8"\r\n'
        + "Content-Transfer-Encoding: 7bit\r\n\r\n"
        + text
        + delimiter
        + 'Content-Type: text/html; charset="utf-8"\r\n'
        + "Content-Transfer-Encoding: 7bit\r\n\r\n"
        + html_body
        + f"--{boundary}--\r\n"
    )
    head = f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n'
    return head.encode("ascii"), body.encode("utf-8")


def _multipart(head, boundary, body, mimetype, filename, payload, alternative=None):
    """multipart/mixed bytes: an ASCII text part (or an ``alternative`` part
    from :func:`_alternative`) and one base64 attachment."""
    delimiter = f"--{boundary}\r\n".encode()
    if alternative:
        text_part = alternative[0] + b"\r\n" + alternative[1]
    else:
        text_part = (
            b'Content-Type: text/plain; charset="utf-8"\r\n'
            b"Content-Transfer-Encoding: 7bit\r\n\r\n" + body.encode("ascii")
        )
    return b"".join(
        (
            head,
            b"This is a multi-part message in MIME format.\r\n",
            delimiter,
            text_part,
            delimiter,
            f'Content-Type: {mimetype}; name="{filename}"\r\n'.encode(),
            b"Content-Transfer-Encoding: base64\r\n",
            f'Content-Disposition: attachment; filename="{filename}"\r\n'.encode(),
            b"\r\n",
            payload,
            f"--{boundary}--\r\n".encode(),
        )
    )


def _filename_word(subject):
    """A filename-safe ASCII word taken from `subject` ("file" if none)."""
    for word in subject.replace(":", " ").split():
        if word.isascii() and word.isalpha() and word.lower() != "re":
            return word.lower()
    return "file"


def _wrap(text, width=76):
    out, line = [], ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    out.append(line)
    return out


# -- malformed messages -------------------------------------------------------------


def malformed_messages():
    """Deliberately broken raw messages: name -> bytes.

    For writing straight into a Maildir (DovecotServer.fill_maildir), since a
    real server may reject or repair some of them on APPEND.
    """
    date = b"Date: Tue, 05 Mar 2024 10:00:00 +0100\r\n"
    return {
        # ISO-8859-1 bytes in headers, without any encoded-word.
        "raw_8bit_headers": (
            b"From: J\xfcrgen M\xfcller <juergen@example.com>\r\n"
            b"To: alice@example.com\r\n"
            b"Subject: Caf\xe9 cr\xe8me \xe0 la carte\r\n"
            + date
            + b"Message-ID: <raw8bit@example.com>\r\n"
            b"\r\n"
            b"Gr\xfc\xdfe aus K\xf6ln\r\n"
        ),
        "nul_bytes": (
            b"From: nul@example.com\r\n"
            b"To: alice@example.com\r\n"
            b"Subject: NUL\x00 inside\r\n" + date + b"Message-ID: <nul@example.com>\r\n"
            b"\r\n"
            b"before\x00after\r\n"
        ),
        "no_headers": b"This message has no header block at all.\r\nJust text.\r\n",
        "empty_header_block": b"\r\nOnly a body after an empty header block.\r\n",
        "broken_mime_boundary": (
            b"From: mime@example.com\r\n"
            b"To: alice@example.com\r\n"
            b"Subject: broken multipart\r\n"
            + date
            + b"Message-ID: <mime@example.com>\r\n"
            b"MIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="declared-boundary"\r\n'
            b"\r\n"
            b"--other-boundary\r\n"
            b"Content-Type: text/plain\r\n"
            b"\r\n"
            b"part without the declared boundary and no closing delimiter\r\n"
        ),
        "invalid_date": (
            b"From: date@example.com\r\n"
            b"To: alice@example.com\r\n"
            b"Subject: invalid date\r\n"
            b"Date: Mon, 32 Foo 2023 25:61:99 +9999\r\n"
            b"Message-ID: <date@example.com>\r\n"
            b"\r\n"
            b"body\r\n"
        ),
        "garbage_encoded_words": (
            b"From: =?utf-8?B?!!!not-base64?= <ew@example.com>\r\n"
            b"To: =?x-unknown-charset?Q?Bob?= <bob@example.com>\r\n"
            b"Subject: =?utf-8?Q?caf=E9_invalid_utf8?= =?utf-8?B?w?= =?broken\r\n"
            + date
            + b"Message-ID: <ew@example.com>\r\n"
            b"\r\n"
            b"body\r\n"
        ),
        "missing_from_and_message_id": (
            b"To: alice@example.com\r\n"
            b"Subject: who sent this?\r\n" + date + b"\r\n"
            b"no From, no Message-ID\r\n"
        ),
        "bare_lf_line_endings": (
            b"From: lf@example.com\n"
            b"To: alice@example.com\n"
            b"Subject: bare LF\n"
            b"Date: Tue, 05 Mar 2024 10:00:00 +0100\n"
            b"Message-ID: <lf@example.com>\n"
            b"\n"
            b"unix line endings\n"
        ),
        "very_long_header_line": (
            b"From: long@example.com\r\n"
            b"To: "
            + b", ".join(b"user%d@example.com" % i for i in range(400))
            + b"\r\n"
            b"Subject: "
            + b"x" * 5000
            + b"\r\n"
            + date
            + b"Message-ID: <long@example.com>\r\n"
            b"\r\n"
            b"body\r\n"
        ),
    }
