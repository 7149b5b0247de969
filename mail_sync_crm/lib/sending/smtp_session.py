"""SMTP connection check: EHLO, STARTTLS or implicit TLS (pinned when self-signed),
AUTH (LOGIN/PLAIN with the password, or XOAUTH2 with an OAuth access token).
Sending itself goes through Odoo's ``ir.mail_server``."""

import base64
import contextlib
import smtplib
from dataclasses import dataclass

from .. import errors
from ..net import host_policy, tls
from ..net.deadline import Deadline, Watchdog, connect_within, session_error
from ..net.settings import SmtpSettings

EHLO_NAME = "localhost"


@dataclass
class SmtpCheck:
    fingerprint: str | None
    features: dict


def login(conn: smtplib.SMTP, user: str, password: str):
    """``conn.login``, except that a non-ASCII login or password (which smtplib
    can only send as ASCII) goes as AUTH PLAIN in UTF-8 (RFC 4616)."""
    if (user + password).isascii():
        return conn.login(user, password)
    token = base64.b64encode(f"\0{user}\0{password}".encode()).decode("ascii")
    code, reply = conn.docmd("AUTH", "PLAIN " + token)
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)
    return code, reply


def xoauth2_login(conn: smtplib.SMTP, user: str, access_token: str):
    """SASL XOAUTH2 (Gmail, Microsoft 365) with ``smtplib``'s own AUTH, which
    checks the reply: a refused token raises ``SMTPAuthenticationError`` (535),
    not a confusing refusal of the MAIL FROM that follows. To the server's
    error challenge (334 + JSON) the client answers empty, as required."""
    response = f"user={user}\x01auth=Bearer {access_token}\x01\x01"

    def answer(challenge=None):
        return response if challenge is None else ""

    conn.ehlo_or_helo_if_needed()
    return conn.auth("XOAUTH2", answer, initial_response_ok=True)


def _connect(settings: SmtpSettings, context):
    """An ``smtplib.SMTP`` (or ``SMTP_SSL``) connected to an address of the
    host that the settings' host policy checked just now; ``context`` gives
    TLS the host name (``host_policy.named_context``)."""
    s = settings
    addresses = s.host_policy.check(s.host, s.port, side="smtp")
    if s.encryption == "ssl":
        return host_policy.connect_in_turn(
            addresses,
            lambda address: smtplib.SMTP_SSL(
                address,
                s.port,
                local_hostname=EHLO_NAME,
                timeout=s.timeout,
                context=context,
            ),
        )
    return host_policy.connect_in_turn(
        addresses,
        lambda address: smtplib.SMTP(
            address, s.port, local_hostname=EHLO_NAME, timeout=s.timeout
        ),
    )


def _close(conn):
    with contextlib.suppress(Exception):
        conn.close()


def _open(settings: SmtpSettings, deadline: Deadline | None):
    """(connection, certificate fingerprint, watchdog or None): see
    :func:`open_smtp`."""
    s = settings
    context = host_policy.named_context(tls.shared_context(s.allow_self_signed), s.host)
    conn = watchdog = None
    try:
        conn = connect_within(deadline, lambda: _connect(s, context), _close)
        if deadline is not None:
            watchdog = Watchdog(deadline, conn.sock)
        conn.ehlo()
        if s.encryption == "starttls":
            if not conn.has_extn("starttls"):
                raise errors.MailSyncError(
                    "starttls_unsupported", side="smtp", detail="no STARTTLS in EHLO"
                )
            conn.starttls(context=context)
            if watchdog is not None:  # the TLS socket took the plain one's place
                watchdog.cancel()
                watchdog = Watchdog(deadline, conn.sock)
            conn.ehlo()
        seen = None
        if s.encryption != "none":
            seen = tls.check_pin(
                conn.sock, s.allow_self_signed, s.pinned_fingerprint, "smtp"
            )
        if s.access_token:
            xoauth2_login(conn, s.login, s.access_token)
        elif s.login:
            login(conn, s.login, s.password)
        return conn, seen, watchdog
    except Exception as exc:
        if watchdog is not None:
            watchdog.cancel()
        if conn is not None:
            _close(conn)
        # Nothing the server said before the login succeeded is kept.
        raise session_error(exc, "smtp", s, deadline, before_login=True) from exc


def open_smtp(settings: SmtpSettings):
    """A connected, encrypted and authenticated ``smtplib.SMTP`` and the certificate
    fingerprint it presented. Raises a classified ``MailSyncError``.

    It connects to an address of the host that ``settings.host_policy``
    checked just before (``lib.net.host_policy``); any failure here comes before
    the login succeeded and is marked ``before_login``."""
    conn, seen, _watchdog = _open(settings, None)
    return conn, seen


def check_smtp(settings: SmtpSettings, deadline: Deadline | None = None) -> SmtpCheck:
    """Connect, encrypt and log in for real, then QUIT; with a ``deadline``,
    the connection is shut down when it passes, whatever the server does."""
    conn, seen, watchdog = _open(settings, deadline)
    try:
        return SmtpCheck(seen, dict(conn.esmtp_features))
    finally:
        try:
            conn.quit()
        except Exception:  # noqa: BLE001
            conn.close()
        if watchdog is not None:
            watchdog.cancel()
