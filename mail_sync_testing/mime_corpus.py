"""Real-world mail for the MIME fidelity tests, and what a mail client shows of it.

* :func:`cpython_corpus`: CPython's own ``Lib/test/test_email/data/msg_*.txt``
  (48 messages collected from mailers over twenty years), read from the test
  package of the running Python, else of a pyenv Python;
* :func:`odoo_test_mail_messages`: the complete messages of Odoo's
  ``test_mail/data/test_mail_data.py``, templates filled in;
* :func:`hostile_messages`: shapes real mailers write that once got lost or
  mangled (RFC 2231 parameters as Mutt writes them, bounces, read receipts,
  text beside HTML in multipart/mixed, ``cid:`` images, raw 8-bit names, long
  file names, NUL and stray bytes, one Message-ID on two different emails);
* :func:`expectation`: what each message says according to Python's own
  ``email.policy.default`` parse, independent of the parser under test, and
  the helpers comparing it with what was recorded (:func:`words`,
  :func:`html_words`, :func:`same_text`).

No Odoo import.
"""

import ast
import base64
import datetime
import email
import email.policy
import email.utils
import encodings.aliases
import glob
import html.parser
import os
import re
import string
import sysconfig
from dataclasses import dataclass, field

__all__ = [
    "CorpusMissing",
    "Expected",
    "cpython_corpus",
    "cpython_corpus_dir",
    "expectation",
    "hostile_messages",
    "html_words",
    "odoo_test_mail_messages",
    "problems",
    "same_text",
    "words",
]

# Outlook's Thai charset, which Python knows as cp874 only: Odoo registers the
# alias at startup (odoo/_monkeypatches/codecs.py); so does this harness, for
# Python's own parse of the corpus outside Odoo.
encodings.aliases.aliases.setdefault("windows_874", "cp874")

REPORT_TYPES = (
    "message/delivery-status",
    "message/global-delivery-status",
    "message/disposition-notification",
    "message/global-disposition-notification",
)
DATE = b"Date: Tue, 05 Mar 2024 10:00:00 +0100\r\n"


class CorpusMissing(FileNotFoundError):
    """A public corpus the tests need is not on this machine."""


# -- the corpora ---------------------------------------------------------------


def cpython_corpus_dir() -> str:
    """The directory of CPython's ``test_email`` messages: the running Python's
    own test package first (the ``.venv``'s Python, always there when it is a
    full CPython build such as pyenv's), else the newest pyenv Python that has
    it. Raises :class:`CorpusMissing` saying where it looked."""
    tried = [os.path.join(sysconfig.get_path("stdlib"), "test", "test_email", "data")]
    pyenv = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    tried += sorted(
        glob.glob(
            os.path.join(pyenv, "versions", "*", "lib", "python3*", "test")
            + "/test_email/data"
        ),
        reverse=True,
    )
    for path in tried:
        if glob.glob(os.path.join(path, "msg_*.txt")):
            return path
    raise CorpusMissing(
        "CPython's test_email corpus (test/test_email/data/msg_*.txt) is not "
        "installed; looked in: " + ", ".join(tried) + ". Install a Python with its "
        "test package (pyenv builds have it; Debian: libpython3.X-testsuite)."
    )


def cpython_corpus() -> dict[str, bytes]:
    """``msg_*.txt`` name -> raw bytes, sorted by name."""
    path = cpython_corpus_dir()
    found = {}
    for name in sorted(glob.glob(os.path.join(path, "msg_*.txt"))):
        with open(name, "rb") as file:
            found["cpython/" + os.path.basename(name)] = file.read()
    return found


def _template_values(name: str, to: str) -> dict:
    """Values for the placeholders of Odoo's message templates."""
    slug = name.lower().replace("_", "-")
    return {
        "to": to,
        "cc": "",
        "email_from": f'"Sylvie Lelitre" <sylvie.{slug}@agrolait.example.com>',
        "return_path": f"<sylvie.{slug}@agrolait.example.com>",
        "subject": f"Odoo test mail {name}",
        "msg_id": f"<{slug}.odoo-test-mail@agrolait.example.com>",
        "extra": "",
        "extra_html": "<p>Some more HTML</p>",
        "references": "",
        "charset": '; charset="UTF-8"',
        "content": "SGVsbG8gd29ybGQ=",
        "pdf_mime": "application/pdf",
        "delivered_to": to,
        "email_to": to,
    }


def odoo_test_mail_messages(path: str, to: str) -> dict[str, bytes]:
    """The complete messages among the string constants of Odoo's
    ``test_mail/data/test_mail_data.py`` (``path``), read without importing
    it, placeholders filled in (sent ``to`` the given address; each with a
    sender of its own). A template that is not a message (no header block)
    is left out."""
    if not os.path.isfile(path):
        raise CorpusMissing(f"Odoo's test_mail data is not at {path}")
    with open(path, encoding="utf-8") as file:
        tree = ast.parse(file.read())
    found = {}
    for node in tree.body:
        if not (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            continue
        name, text = node.targets[0].id, node.value.value
        fields = {f for _l, f, _s, _c in string.Formatter().parse(text) if f}
        values = _template_values(name, to)
        if fields <= set(values):
            text = text.format(**values)
        if not re.match(r"^[A-Za-z-]+:", text):
            continue
        raw = text.encode("utf-8")
        if b"\n\n" not in raw.replace(b"\r\n", b"\n"):
            continue  # a header block without a body: not a message
        found["odoo/" + name] = raw
    return found


def _crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


def hostile_messages(lead: str, to: str) -> dict[str, bytes]:
    """Shapes real mailers write that once got lost or mangled; each from
    ``lead`` (whose lead they belong on) to ``to``. Bytes, CRLF line endings;
    write them straight into a Maildir (NUL and raw 8-bit bytes included)."""
    head = f"From: Client <{lead}>\r\nTo: {to}\r\n".encode() + DATE
    mutt = head + (
        b"Subject: Mutt: RFC 2231 parameters everywhere\r\n"
        b"Message-ID: <mutt.2231@client.example.com>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary*=''mutt-2231-boundary\r\n"
        b"Content-Disposition: inline\r\n\r\n"
        b"--mutt-2231-boundary\r\n"
        b"Content-Type: text/plain; charset*=ansi-x3.4-1968''us-ascii\r\n"
        b"Content-Disposition: inline\r\n\r\n"
        b"Mutt wrote this body with an RFC 2231 charset parameter.\r\n"
        b"--mutt-2231-boundary\r\n"
        b"Content-Type: application/pdf; name*0*=utf-8''Devis%20r%C3%A9vis%C3%A9;\r\n"
        b" name*1*=%20n%C2%B02.pdf\r\n"
        b"Content-Disposition: attachment;\r\n"
        b" filename*0*=utf-8''Devis%20r%C3%A9vis%C3%A9;\r\n"
        b" filename*1*=%20n%C2%B02.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        b"JVBERi0xLjQgbXV0dA==\r\n"
        b"--mutt-2231-boundary--\r\n"
    )
    bounce = (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.client.example.com>\r\n"
        + f"To: {to}\r\n".encode()
        + DATE
        + b"Subject: Undelivered Mail Returned to Sender\r\n"
        b"Message-ID: <bounce.dsn@mx.client.example.com>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: multipart/report; report-type=delivery-status;\r\n"
        b' boundary="dsn-boundary"\r\n\r\n'
        b"--dsn-boundary\r\n"
        b"Content-Description: Notification\r\n"
        b"Content-Type: text/plain; charset=us-ascii\r\n\r\n"
        b"This is the mail system at host mx.client.example.com.\r\n"
        b"I'm sorry to have to inform you that your message could not\r\n"
        b"be delivered to one or more recipients.\r\n\r\n"
        b"--dsn-boundary\r\n"
        b"Content-Description: Delivery report\r\n"
        b"Content-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.client.example.com\r\n"
        b"Arrival-Date: Tue,  5 Mar 2024 10:00:00 +0100 (CET)\r\n\r\n"
        + f"Final-Recipient: rfc822; {lead}\r\n".encode()
        + b"Original-Recipient: rfc822;gone@client.example.com\r\n"
        b"Action: failed\r\n"
        b"Status: 5.1.1\r\n"
        b"Remote-MTA: dns; mail.client.example.com\r\n"
        b"Diagnostic-Code: smtp; 550 5.1.1 <gone@client.example.com>: Recipient\r\n"
        b"    address rejected: User unknown in virtual mailbox table\r\n\r\n"
        b"Final-Recipient: rfc822; other@client.example.com\r\n"
        b"Action: delayed\r\n"
        b"Status: 4.4.1\r\n"
        b"Diagnostic-Code: X-Postfix; connect to mail.client.example.com:\r\n"
        b"    Connection timed out\r\n\r\n"
        b"--dsn-boundary\r\n"
        b"Content-Description: Undelivered Message Headers\r\n"
        b"Content-Type: text/rfc822-headers\r\n\r\n"
        + f"From: {to}\r\nTo: gone@client.example.com\r\n".encode()
        + b"Subject: Quote for 40 robots\r\n"
        b"Message-ID: <quote.40@ours.example.com>\r\n\r\n"
        b"--dsn-boundary--\r\n"
    )
    receipt = head + (
        b"Subject: Read: Quote for 40 robots\r\n"
        b"Message-ID: <mdn.receipt@client.example.com>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: multipart/report; report-type=disposition-notification;\r\n"
        b' boundary="mdn-boundary"\r\n\r\n'
        b"--mdn-boundary\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Your message was displayed on the recipient's screen.\r\n\r\n"
        b"--mdn-boundary\r\n"
        b"Content-Type: message/disposition-notification\r\n\r\n"
        b"Reporting-UA: mail.client.example.com; Thunderbird 115\r\n"
        + f"Final-Recipient: rfc822;{lead}\r\n".encode()
        + b"Original-Message-ID: <quote.40@ours.example.com>\r\n"
        b"Disposition: manual-action/MDN-sent-manually; displayed\r\n\r\n"
        b"--mdn-boundary--\r\n"
    )
    mixed = head + (
        b"Subject: One HTML part and four text parts\r\n"
        b"Message-ID: <mixed.html.text@client.example.com>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="mixed-boundary"\r\n\r\n'
        b"--mixed-boundary\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"First plain part: alpha.\r\n"
        b"--mixed-boundary\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><head><title>ignored</title></head>"
        b"<body><p>Second part, <b>HTML</b>: bravo.</p></body></html>\r\n"
        b"--mixed-boundary\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Third plain part: charlie.\r\n"
        b"--mixed-boundary\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Disposition: inline\r\n\r\n"
        b"Fourth plain part: delta <not a tag> & co.\r\n"
        b"--mixed-boundary\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"Fifth plain part: =E9cho.\r\n"
        b"--mixed-boundary--\r\n"
    )
    png = (
        b"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGA"
        b"WjR9awAAAABJRU5ErkJggg=="
    )
    inline = head + (
        b"Subject: Our logo, inline\r\n"
        b"Message-ID: <inline.cid@client.example.com>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/alternative; boundary="alt-boundary"\r\n\r\n'
        b"--alt-boundary\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"See our logo [logo] and the chart [chart].\r\n"
        b"--alt-boundary\r\n"
        b'Content-Type: multipart/related; boundary="rel-boundary";\r\n'
        b' type="text/html"\r\n\r\n'
        b"--rel-boundary\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n"
        b'<html><body><p>See our logo <img src="cid:logo.png@01DA6F00" alt="logo">'
        b" and the chart <img src='CID:chart@client.example.com'>.</p>"
        b"</body></html>\r\n"
        b"--rel-boundary\r\n"
        b'Content-Type: image/png; name="logo.png"\r\n'
        b"Content-Transfer-Encoding: base64\r\n"
        b"Content-ID: <logo.png@01DA6F00>\r\n"
        b'Content-Disposition: inline; filename="logo.png"\r\n\r\n' + png + b"\r\n"
        b"--rel-boundary\r\n"
        b"Content-Type: image/png\r\n"
        b"Content-Transfer-Encoding: base64\r\n"
        b"Content-ID: <chart@client.example.com>\r\n\r\n" + png + b"\r\n"
        b"--rel-boundary--\r\n"
        b"--alt-boundary--\r\n"
    )
    latin1 = (
        b"From: H\xe9l\xe8ne D\xe9pont <" + lead.encode() + b">\r\n"
        b"To: " + to.encode() + b"\r\n" + DATE + b"Subject: R\xe9union \xe0 No\xebl\r\n"
        b"Message-ID: <latin1.name@client.example.com>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n"
        b"Bonjour, la r\xe9union de No\xebl est confirm\xe9e.\r\n"
    )
    stem = "Proposition commerciale détaillée " * 8
    long_name = (
        head + b"Subject: A very long file name\r\n"
        b"Message-ID: <long.filename@client.example.com>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="long-boundary"\r\n\r\n'
        b"--long-boundary\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"The proposal is attached.\r\n"
        b"--long-boundary\r\n"
        b"Content-Type: application/pdf\r\n"
        b"Content-Disposition: attachment;\r\n"
        b" filename*=utf-8''"
        + "".join(
            c
            if c.isalnum() and c.isascii()
            else "".join(f"%{b:02X}" for b in c.encode())
            for c in stem.strip() + ".pdf"
        ).encode()
        + b"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"JVBERi0xLjQgbG9uZw==\r\n"
        b"--long-boundary--\r\n"
    )
    nul = head + (
        b"Subject: NUL and control bytes in UTF-8\r\n"
        b"Message-ID: <nul.utf8@client.example.com>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n"
        b"Un caf\xc3\xa9 cr\xc3\xa8me\x00 au bar\x01\x7f,"
        b" d\xc3\xa9j\xc3\xa0 pay\xc3\xa9.\r\n"
    )
    stray = head + (
        b"Subject: One stray byte in UTF-8\r\n"
        b"Message-ID: <stray.byte@client.example.com>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n"
        b"Cr\xc3\xa8me br\xc3\xbbl\xc3\xa9e for the caf\xe9 team, na\xc3\xafve "
        b"r\xc3\xa9sum\xc3\xa9.\r\n"
    )
    raw_utf8_name = head + (
        b"Subject: Raw UTF-8 file name\r\n"
        b"Message-ID: <raw.utf8.filename@client.example.com>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="raw-boundary"\r\n\r\n'
        b"--raw-boundary\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Le devis est joint.\r\n"
        b"--raw-boundary\r\n"
        b'Content-Type: application/pdf; name="Devis \xc3\xa9t\xc3\xa9.pdf"\r\n'
        b'Content-Disposition: attachment; filename="Devis \xc3\xa9t\xc3\xa9.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        b"JVBERi0xLjQgcmF3\r\n"
        b"--raw-boundary--\r\n"
    )
    utf16 = head + (
        b"Subject: UTF-16 text\r\n"
        b"Message-ID: <utf16.text@client.example.com>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-16\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.b64encode("Grüße aus Köln, UTF-16.\n".encode("utf-16"))
        + b"\r\n"
    )
    same_id = (
        f"From: Client <{lead}>\r\nTo: {to}\r\n".encode()
        + b"Date: Wed, 06 Mar 2024 09:00:00 +0100\r\n"
        b"Subject: Weekly report\r\n"
        b"Message-ID: <weekly.report@client.example.com>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    return {
        "hostile/mutt_rfc2231": mutt,
        "hostile/bounce_delivery_status": bounce,
        "hostile/read_receipt": receipt,
        "hostile/mixed_html_and_text": mixed,
        "hostile/inline_cid_images": inline,
        "hostile/latin1_sender_name": latin1,
        "hostile/long_file_name": long_name,
        "hostile/nul_in_utf8": nul,
        "hostile/stray_byte_in_utf8": stray,
        "hostile/raw_utf8_file_name": raw_utf8_name,
        "hostile/utf16_text": utf16,
        # One Message-ID on two different emails (a mailer reusing ids): both
        # land; a third copy of the first (another Received header) does not.
        "hostile/same_id_first": same_id + b"Week 10: 12 demos booked.\r\n",
        "hostile/same_id_second": same_id + b"Week 11: 19 demos booked.\r\n",
        "hostile/same_id_copy_of_first": (
            b"Received: from relay.client.example.com by mx.ours.example.com;\r\n"
            b" Wed, 06 Mar 2024 09:00:02 +0100\r\n"
            + same_id
            + b"Week 10: 12 demos booked.\r\n"
        ),
    }


# -- what a mail client shows ----------------------------------------------------


@dataclass
class Expected:
    """What a message says, per ``email.policy.default``.

    ``attachments``: ("file", name or None, bytes), ("eml", name or None,
    inner subject) or ("report", name or None, [field values]); ``texts``:
    the text of each shown text part (HTML ones with ``is_html``);
    ``reports``: the field values of each delivery or read report."""

    message_id: str | None = None
    subject: str = ""
    date: datetime.datetime | None = None
    from_address: str | None = None
    from_name: str = ""
    addresses: list = field(default_factory=list)
    texts: list = field(default_factory=list)  # (is_html, text)
    attachments: list = field(default_factory=list)
    reports: list = field(default_factory=list)


def _header(message, name):
    try:
        return message[name]
    except Exception:  # noqa: BLE001 - a header the policy cannot parse
        return None


def _header_str(message, name) -> str:
    value = _header(message, name)
    return "" if value is None else str(value)


def _addresses(message, names=("From", "To", "Cc"), comments=None):
    """(field, display name, address) of each address of the fields; the
    comment of an address without display name (``bbb@ddd.com (John X.
    Doe)``, in ``comments``: address -> comment) stands for it, as mail
    clients show it."""
    found = []
    for name in names:
        value = _header(message, name)
        for address in getattr(value, "addresses", ()) or ():
            spec = (address.addr_spec or "").lower()
            if "@" in spec and not spec.startswith("@") and not spec.endswith("@"):
                display = address.display_name or (comments or {}).get(spec, "")
                found.append((name, display, spec))
    return found


def _comments(raw: bytes) -> dict:
    """Address -> the comment naming it, in the From field of ``raw``."""
    legacy = email.message_from_bytes(raw, policy=email.policy.compat32)
    value = legacy.get("From")
    if value is None or not isinstance(value, str):
        return {}
    return {
        address.lower(): name
        for name, address in email.utils.getaddresses([value])
        if name and "(" in value
    }


def _text_content(part) -> str:
    try:
        content = part.get_content()
        return content if isinstance(content, str) else str(content)
    except Exception:  # noqa: BLE001 - unknown charset: its bytes as UTF-8
        data = part.get_payload(decode=True) or b""
        return data.decode("utf-8", "replace")


def _shown(parts):
    """The part of a multipart/alternative a mail client shows."""
    fallback = None
    for part in reversed(parts):
        if part.get_content_disposition() == "attachment":
            continue
        ctype = part.get_content_type()
        if ctype == "text/html" or part.get_content_maintype() == "multipart":
            return part
        if ctype == "text/plain" and fallback is None:
            fallback = part
    return fallback


def _report_values(part) -> list[str]:
    values = []
    payload = part.get_payload()
    for block in payload if isinstance(payload, list) else []:
        for name, value in block.items():
            if name.lower() in (
                "final-recipient",
                "action",
                "status",
                "diagnostic-code",
                "disposition",
            ):
                values.append(" ".join(str(value).split()))
    return values


def _walk(expected: Expected, part, shown=True):
    ctype = part.get_content_type()
    if ctype == "message/rfc822":
        inner = part.get_payload()
        inner = inner[0] if isinstance(inner, list) and inner else None
        subject = _header_str(inner, "Subject") if inner is not None else ""
        expected.attachments.append(("eml", part.get_filename(), subject))
        return
    if ctype in REPORT_TYPES:
        values = _report_values(part)
        expected.reports.append(values)
        expected.attachments.append(("report", part.get_filename(), values))
        return
    if part.is_multipart():
        parts = list(part.get_payload())
        chosen = _shown(parts) if ctype == "multipart/alternative" else None
        for sub in parts:
            _walk(expected, sub, shown and (chosen is None or sub is chosen))
        return
    if part.get_content_maintype() == "multipart":  # no boundary found: text
        if shown:
            expected.texts.append((False, str(part.get_payload())))
        return
    name = part.get_filename()
    if (
        ctype in ("text/plain", "text/html")
        and part.get_content_disposition() != "attachment"
        and not name
    ):
        if shown:
            expected.texts.append((ctype == "text/html", _text_content(part)))
        return
    data = part.get_payload(decode=True)
    expected.attachments.append(("file", name, data if data is not None else b""))


def expectation(raw: bytes) -> Expected:
    """What ``raw`` says according to ``email.policy.default``."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    expected = Expected()
    message_id = _header(message, "Message-ID")
    if message_id is not None and str(message_id).strip():
        inner = str(message_id).strip()
        match = re.search(r"<([^<>]*)>", inner)
        inner = "".join((match.group(1) if match else inner.split()[0]).split())
        expected.message_id = f"<{inner.strip('<>')}>" if inner.strip("<>") else None
    expected.subject = _header_str(message, "Subject")
    date = _header(message, "Date")
    value = getattr(date, "datetime", None)
    if value is not None:
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        expected.date = value.astimezone(datetime.timezone.utc)
    expected.addresses = _addresses(message)
    senders = _addresses(message, ("From",), _comments(raw))
    if senders:
        _field, expected.from_name, expected.from_address = senders[0]
    _walk(expected, message)
    return expected


# -- comparing -------------------------------------------------------------------


def _unreadable(token: str) -> bool:
    return "\ufffd" in token or bool(re.search("[\udc80-\udcff]", token))


def words(text: str) -> set[str]:
    """The words of ``text`` (letters and digits), lower case; a
    whitespace-separated token holding an undecodable byte (a replacement
    character or a surrogate, as ``email.policy.default`` leaves them) is left
    out, being spelt differently by any better decoding."""
    found = set()
    for token in text.split():
        if not _unreadable(token):
            found.update(w.lower() for w in re.findall(r"[^\W_]+", token))
    return found


class _TextOf(html.parser.HTMLParser):
    """The text an HTML document shows (no head, title, script or style)."""

    HIDDEN = ("head", "title", "script", "style")

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.hidden = 0
        self.chunks = []

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.hidden += 1
        self.chunks.append(" ")

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and self.hidden:
            self.hidden -= 1
        self.chunks.append(" ")

    def handle_data(self, data):
        if not self.hidden:
            self.chunks.append(data)


def html_text(text: str) -> str:
    parser = _TextOf()
    parser.feed(text)
    parser.close()
    return "".join(parser.chunks)


def html_words(text: str) -> set[str]:
    """The :func:`words` an HTML document shows."""
    return words(html_text(text))


def same_text(expected: str, actual: str) -> bool:
    """Whether ``actual`` reads as ``expected`` (whitespace and control
    characters aside), where a character ``email.policy.default`` could not
    decode (replacement character, surrogate) stands for any one character
    other than a replacement character."""

    def norm(value):
        value = re.sub(r"[\x00-\x1f\x7f-\x9f]", " ", value or "")
        return " ".join(value.split())

    expected, actual = norm(expected), norm(actual)
    if not _unreadable(expected):
        return expected == actual
    pattern = "".join(
        f"[^\ufffd]{{1,{len(run)}}}" if _unreadable(run) else re.escape(run)
        for run in re.findall(
            "[\ufffd\udc80-\udcff]+|[^\ufffd\udc80-\udcff]+", expected
        )
    )
    return re.fullmatch(pattern, actual) is not None


def _unfold(value: str) -> str:
    return " ".join(str(value).split())


def problems(
    expected: Expected,
    *,
    subject: str,
    date: datetime.datetime | None,
    sender_name: str | None,
    body_html: str,
    attachments: list,
    fallback_date: datetime.datetime | None = None,
) -> list[str]:
    """What was recorded of a message (``attachments``: (name, bytes)) that
    differs from what it says: subject, date (``fallback_date``: the
    INTERNALDATE, when it has no valid Date), sender name (None: not
    checked), the words of every shown text part (all in the body), the
    fields of its reports, and its attachments (names and bytes, each once)."""
    found = []
    if not same_text(expected.subject, subject):
        found.append(f"subject {subject!r} instead of {expected.subject!r}")
    wanted_date = expected.date or fallback_date
    if wanted_date is not None and date != wanted_date:
        found.append(f"date {date} instead of {wanted_date}")
    if sender_name is not None and not same_text(expected.from_name, sender_name):
        found.append(f"sender {sender_name!r} instead of {expected.from_name!r}")
    body_words = html_words(body_html)
    for is_html, text in expected.texts:
        missing = (html_words(text) if is_html else words(text)) - body_words
        if missing:
            found.append(f"words missing from the body: {sorted(missing)[:8]}")
    body_text = _unfold(html_text(body_html))
    for values in expected.reports:
        for value in values:
            if _unfold(value) not in body_text:
                found.append(f"report field {value!r} not in the body")
    found += _attachment_problems(expected.attachments, attachments)
    return found


def _fits(kind, name, content, got_name, got) -> bool:
    """Whether the recorded attachment (``got_name``, ``got``) is the expected
    one (``kind``, ``name``, ``content``: see :class:`Expected`)."""
    if kind == "file" and got != content:
        return False
    if kind == "eml":
        inner = email.message_from_bytes(got, policy=email.policy.default)
        if not same_text(content, _header_str(inner, "Subject")):
            return False
    if kind == "report":
        text = _unfold(got.decode("utf-8", "replace"))
        if not all(_unfold(value) in text for value in content):
            return False
    return not name or _same_name(name, got_name)


def _attachment_problems(expected, attachments) -> list[str]:
    """Each expected attachment recorded once, and nothing else."""
    found, left = [], list(attachments)
    for kind, name, content in expected:
        match = next(
            (i for i, (n, c) in enumerate(left) if _fits(kind, name, content, n, c)),
            None,
        )
        if match is None:
            found.append(f"attachment {kind} {name!r} missing or different")
        else:
            del left[match]
    if left:
        found.append(f"unexpected attachments {[n for n, _c in left]}")
    return found


def _same_name(expected: str, actual: str) -> bool:
    """Whether ``actual`` is the attachment name ``expected`` once made safe:
    no directory, and a name over 200 characters shortened in its stem, its
    extension kept."""
    expected = " ".join(expected.replace("\\", "/").rpartition("/")[2].split())
    expected = expected.strip(" .")
    if len(expected) <= 200:
        return same_text(expected, actual)
    extension = re.search(r"(?:\.[A-Za-z0-9]{1,8}){1,2}$", expected)
    suffix = extension.group(0) if extension else ""
    return (
        len(actual) <= 200
        and actual.endswith(suffix)
        and expected.startswith(actual[: len(actual) - len(suffix) - 1])
    )
