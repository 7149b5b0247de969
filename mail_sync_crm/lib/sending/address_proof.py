"""Proving that a password mailbox owns the address it sends from.

A mailbox sends mail From its address only when that address is proven to be
its own: it is the IMAP username, the provider confirmed it at an OAuth
sign-in, or a confirmation email with a one-time code, sent through the
mailbox's own SMTP server to the address, arrives in the mailbox's own Inbox
(the round trip here). Anyone can type a colleague's address; only its owner's
mailbox receives what is sent to it.

The confirmation stays in the Inbox like any confirmation email: the sync
only reads mailboxes (EXAMINE, BODY.PEEK), it never deletes.
"""

import contextlib
import secrets
import time
from dataclasses import replace
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from ..imap.session import ImapSession, ImapSettings
from ..message import addresses
from .smtp_session import SmtpSettings, open_smtp

# The header that carries the code (searched for in the Inbox).
CODE_HEADER = "X-Mail-Sync-Confirmation"
# How long the Inbox is watched for the confirmation by default, and how often.
WAIT_SECONDS = 10.0
POLL_SECONDS = 0.25


def same_address(login: str, address: str) -> bool:
    """Whether the IMAP username is the address itself (case and spacing aside)."""
    login_address = addresses.normalize(login or "")
    return bool(login_address) and login_address == addresses.normalize(address or "")


def new_code() -> str:
    return secrets.token_hex(12)


def confirmation_message(address: str, code: str) -> bytes:
    """The confirmation email: from and to ``address``, the code in a header."""
    message = EmailMessage()
    message["From"] = address
    message["To"] = address
    message["Subject"] = "Mail Sync: confirming this address"
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="mail-sync.invalid")
    message[CODE_HEADER] = code
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(
        "Odoo's Mail Sync sent this email through your mailbox's outgoing server\n"
        "to check that this address is yours. It arrived: nothing else to do.\n"
        "You may delete it.\n"
    )
    return message.as_bytes()


def send_confirmation(smtp: SmtpSettings, address: str, code: str) -> None:
    """Send the confirmation through the mailbox's SMTP server (raises a
    classified ``MailSyncError``)."""
    connection, _fingerprint = open_smtp(smtp)
    try:
        connection.sendmail(address, [address], confirmation_message(address, code))
    finally:
        with contextlib.suppress(Exception):
            connection.quit()


def confirmation_arrived(
    imap: ImapSettings,
    code: str,
    wait_seconds: float = WAIT_SECONDS,
    clock=time.monotonic,
    sleep=time.sleep,
) -> bool:
    """Whether the confirmation carrying ``code`` is in the mailbox's Inbox,
    watched for up to ``wait_seconds`` (raises a classified ``MailSyncError``
    when the server cannot be read)."""
    deadline = clock() + wait_seconds
    with ImapSession(imap) as session:
        session.select_folder("INBOX")
        while True:
            if session.search(["HEADER", CODE_HEADER, code]):
                return True
            if clock() >= deadline:
                return False
            sleep(POLL_SECONDS)


def prove_by_round_trip(
    imap: ImapSettings,
    smtp: SmtpSettings,
    address: str,
    imap_fingerprint: str | None = None,
    smtp_fingerprint: str | None = None,
    wait_seconds: float = WAIT_SECONDS,
) -> bool:
    """Send a confirmation to ``address`` through ``smtp`` and watch ``imap``'s
    Inbox for it. The fingerprints are those the connection test just pinned."""
    if imap_fingerprint:
        imap = replace(imap, pinned_fingerprint=imap_fingerprint)
    if smtp_fingerprint:
        smtp = replace(smtp, pinned_fingerprint=smtp_fingerprint)
    code = new_code()
    send_confirmation(smtp, address, code)
    return confirmation_arrived(imap, code, wait_seconds)
