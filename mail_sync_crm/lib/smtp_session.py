"""SMTP connection check: EHLO, STARTTLS or implicit TLS (pinned when self-signed),
AUTH (LOGIN/PLAIN with the password, or XOAUTH2 with an OAuth access token).
Sending itself goes through Odoo's ``ir.mail_server``."""

import base64
import contextlib
import smtplib
from dataclasses import dataclass

from . import errors, tls

EHLO_NAME = "localhost"


SmtpSettings = tls.ServerSettings


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


def open_smtp(settings: SmtpSettings):
    """A connected, encrypted and authenticated ``smtplib.SMTP`` and the certificate
    fingerprint it presented. Raises a classified ``MailSyncError``."""
    s = settings
    context = tls.make_context(s.allow_self_signed)
    conn = None
    try:
        if s.encryption == "ssl":
            conn = smtplib.SMTP_SSL(
                s.host,
                s.port,
                local_hostname=EHLO_NAME,
                timeout=s.timeout,
                context=context,
            )
        else:
            conn = smtplib.SMTP(
                s.host, s.port, local_hostname=EHLO_NAME, timeout=s.timeout
            )
        conn.ehlo()
        if s.encryption == "starttls":
            if not conn.has_extn("starttls"):
                raise errors.MailSyncError(
                    "starttls_unsupported", side="smtp", detail="no STARTTLS in EHLO"
                )
            conn.starttls(context=context)
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
        return conn, seen
    except Exception as exc:
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
        raise errors.classify(
            exc, side="smtp", host=s.host, port=s.port, secrets=s.secrets, auth=s.auth
        ) from exc


def check_smtp(settings: SmtpSettings) -> SmtpCheck:
    conn, seen = open_smtp(settings)
    try:
        return SmtpCheck(seen, dict(conn.esmtp_features))
    finally:
        try:
            conn.quit()
        except Exception:  # noqa: BLE001
            conn.close()
