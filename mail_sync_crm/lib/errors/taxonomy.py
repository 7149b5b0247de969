"""The error taxonomy: every failure becomes a code, a message and a fix hint.

* :class:`MailSyncError` is the one exception the rest of the addon handles; it
  carries a ``code`` (a key of :data:`CATALOGUE`), the ``side`` ("imap",
  "smtp" or None), the server ``host``/``port``, a technical ``detail`` (never
  a password), optional ``params`` for the message, and ``before_login``
  (the sessions set it: the detail may be a stranger's words, not stored).
* :func:`classify` maps any real exception (socket, ssl, imaplib/imapclient,
  smtplib) to a :class:`MailSyncError`.
* :data:`.catalogue.CATALOGUE` (a data module of its own) holds the
  English message and hint of each code; :func:`.text.describe` renders
  them through a translation function given by the Odoo layer, and
  :func:`.text.redact` keeps secrets out of every detail.
* :func:`is_quota_reply` tells the sender which SMTP replies mean "provider
  quota reached: defer, do not fail".
"""

import email.errors
import errno
import imaplib
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterable

from .catalogue import CATALOGUE
from .text import MAX_DETAIL, as_tuple, detail_of, exception_text, redact, to_text

__all__ = [
    "CATALOGUE",
    "CertificateChanged",
    "MailSyncError",
    "QuotaExceeded",
    "classify",
    "is_quota_reply",
]


# ---------------------------------------------------------------------------
# Exceptions


class MailSyncError(Exception):
    """A classified mail sync failure (see :data:`CATALOGUE` for the codes)."""

    default_code = "unknown"

    def __init__(
        self,
        code: str | None = None,
        detail: str = "",
        *,
        side: str | None = None,
        host: str = "",
        port: int | None = None,
        params: dict | None = None,
    ) -> None:
        self.code = code or self.default_code
        self.detail = detail or ""
        self.side = side
        self.host = host or ""
        self.port = port
        self.params = dict(params or {})
        # Raised before the session's login succeeded: ``detail`` may hold
        # what any program listening on that port said (a banner, a greeting),
        # so only the code, message and hint are stored or shown.
        self.before_login = False
        super().__init__(self.code, self.detail)

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}" if self.detail else self.code

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.detail!r})"


class QuotaExceeded(MailSyncError):
    """The provider's sending quota is reached: defer the mail, do not fail it."""

    default_code = "quota_exceeded"

    def __init__(
        self,
        detail: str = "",
        *,
        side: str | None = "smtp",
        host: str = "",
        port: int | None = None,
        params: dict | None = None,
    ) -> None:
        super().__init__(
            "quota_exceeded", detail, side=side, host=host, port=port, params=params
        )


class CertificateChanged(MailSyncError):
    """The server's certificate no longer matches the pinned fingerprint."""

    default_code = "cert_changed"

    def __init__(
        self,
        expected: str,
        seen: str,
        *,
        side: str | None = None,
        host: str = "",
        port: int | None = None,
    ) -> None:
        self.expected = expected
        self.seen = seen
        super().__init__(
            "cert_changed",
            f"pinned certificate fingerprint {expected}, server presented {seen}",
            side=side,
            host=host,
            port=port,
            params={"expected": expected, "seen": seen},
        )


# ---------------------------------------------------------------------------
# SMTP quota replies

# (reply code or None for any, fragments that must all appear, lower-case)
_QUOTA_RULES: tuple[tuple[int | None, tuple[str, ...]], ...] = (
    (550, ("5.4.5",)),  # Gmail: daily user sending limit exceeded
    (None, ("daily user sending",)),  # Gmail, whatever the code
    (432, ("4.3.2",)),  # Microsoft: concurrent connection limit
    (None, ("submissionquotaexceeded",)),  # Microsoft 554 5.2.0 STOREDRV...
    (None, ("5.1.90",)),  # Outlook.com: daily recipient limit reached
    (421, ("4.7.0", "tss04")),  # Yahoo: deferral for sending volume
    (None, ("[tss04]",)),
    (None, ("sending limit",)),
    (None, ("sending quota",)),
)


def is_quota_reply(code: int, text: str | bytes) -> bool:
    """True when an SMTP reply means the provider's sending quota is reached.

    Such a reply defers the mail until the quota window resets; it is not a
    permanent failure. Covers Gmail ``550 5.4.5``, Microsoft ``432 4.3.2`` and
    ``554 5.2.0 ...SubmissionQuotaExceededException``, Yahoo ``421 4.7.0
    [TSS04]`` and replies saying "sending limit" or "sending quota".
    """
    lowered = to_text(text or "").lower()
    for rule_code, fragments in _QUOTA_RULES:
        if rule_code is not None and rule_code != code:
            continue
        if all(fragment in lowered for fragment in fragments):
            return True
    return False


# ---------------------------------------------------------------------------
# Classification

_UNREACHABLE_ERRNOS = frozenset(
    {
        errno.ENETUNREACH,
        errno.EHOSTUNREACH,
        errno.EHOSTDOWN,
        errno.ENETDOWN,
        errno.ECONNREFUSED,
        errno.EADDRNOTAVAIL,
    }
)
_LOST_ERRNOS = frozenset(
    {errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED, errno.ENOTCONN}
)

# IMAP error texts (lower-case fragments) -> code; first match wins.
_IMAP_TEXT_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "app_password_required",
        ("application-specific password", "web browser", "webalert"),
    ),
    (
        "imap_disabled",
        (
            "imap access is disabled",
            "imap is disabled",
            "not enabled for imap",
            "not connected",
        ),
    ),
    (
        "encryption_required",
        ("privacyrequired", "plaintext authentication disallowed", "logindisabled"),
    ),
    ("starttls_unsupported", ("tls not supported", "does not support starttls")),
    ("tls_failed", ("couldn't establish tls",)),
    ("server_error", ("[unavailable]",)),
    (
        "auth_failed",
        (
            "authenticationfailed",
            "invalid credentials",
            "authentication failed",
            "login failed",
            "authenticate failed",
        ),
    ),
)

# SMTP AUTH rejections that mean "your usual password is not accepted".
_SMTP_APP_PASSWORD_FRAGMENTS = (
    "5.7.9",
    "application-specific password",
    "basic authentication is disabled",
    "security defaults",
)


def _classify_ssl(exc: BaseException) -> str | None:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "cert_untrusted"
    if isinstance(exc, ssl.SSLError):
        return "tls_failed"
    return None


def _classify_smtp_response(code: int, text: str, exc: BaseException) -> str:
    lowered = text.lower()
    if is_quota_reply(code, text):
        return "quota_exceeded"
    if code == 552 and ("5.3.4" in lowered or "5.2.3" in lowered or "size" in lowered):
        return "message_too_large"
    if isinstance(exc, smtplib.SMTPConnectError):
        return "host_unreachable"
    if code >= 500:
        return "smtp_refused"
    if code == 421:
        return "connection_lost"
    return "server_error"


def _classify_recipients_refused(exc: smtplib.SMTPRecipientsRefused) -> str:
    replies = list((exc.recipients or {}).values())
    if any(is_quota_reply(code, text) for code, text in replies):
        return "quota_exceeded"
    if any(code >= 500 for code, _text in replies):
        return "smtp_refused"
    return "server_error"


def _classify_smtp(exc: BaseException) -> str | None:
    if not isinstance(exc, smtplib.SMTPException):
        return None
    text = exception_text(exc)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        lowered = text.lower()
        if any(fragment in lowered for fragment in _SMTP_APP_PASSWORD_FRAGMENTS):
            return "app_password_required"
        return "smtp_auth_failed"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return _classify_recipients_refused(exc)
    if isinstance(exc, smtplib.SMTPResponseException):
        return _classify_smtp_response(exc.smtp_code, text, exc)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        if "starttls" in text.lower():
            return "starttls_unsupported"
        if "auth" in text.lower():
            return "encryption_required"
        return "server_error"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return "connection_lost"
    return "server_error"


def _is_imapclient_login_error(exc: BaseException) -> bool:
    """imapclient's LoginError, recognised without importing imapclient."""
    cls = type(exc)
    return cls.__name__ == "LoginError" and cls.__module__.startswith("imapclient")


def _classify_oauth(exc: BaseException) -> str | None:
    """Authlib's OAuth errors (``error`` = the OAuth error code), recognised
    without importing Authlib; ``lib.oauth.client`` raises its own classified ones."""
    if not type(exc).__module__.startswith("authlib"):
        return None
    if getattr(exc, "error", None) == "invalid_grant":
        return "oauth_invalid_grant"
    return "oauth_provider_error"


def _classify_imap(exc: BaseException) -> str | None:
    if not isinstance(exc, imaplib.IMAP4.error):
        return None
    lowered = exception_text(exc).lower()
    for code, fragments in _IMAP_TEXT_RULES:
        if any(fragment in lowered for fragment in fragments):
            return code
    if isinstance(exc, imaplib.IMAP4.abort):
        return "connection_lost"
    if _is_imapclient_login_error(exc):
        return "auth_failed"
    return "server_error"


def _classify_os(exc: BaseException) -> str | None:
    if isinstance(exc, socket.gaierror | ConnectionRefusedError):
        return "host_unreachable"
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError
        return "timeout"
    if isinstance(exc, ConnectionError | EOFError):
        return "connection_lost"  # reset, aborted, broken pipe, EOF
    if isinstance(exc, OSError):
        if exc.errno in _UNREACHABLE_ERRNOS:
            return "host_unreachable"
        if exc.errno == errno.ETIMEDOUT:
            return "timeout"
        if exc.errno in _LOST_ERRNOS:
            return "connection_lost"
    return None


def _classify_parse(exc: BaseException) -> str | None:
    if isinstance(exc, email.errors.MessageError):
        return "message_malformed"
    return None


# Order matters: ssl errors and smtplib exceptions are OSErrors too.
_CLASSIFIERS: tuple[Callable[[BaseException], str | None], ...] = (
    _classify_ssl,
    _classify_smtp,
    _classify_imap,
    _classify_oauth,
    _classify_os,
    _classify_parse,
)


def _infer_side(exc: BaseException) -> str | None:
    if isinstance(exc, smtplib.SMTPException):
        return "smtp"
    if isinstance(exc, imaplib.IMAP4.error):
        return "imap"
    return None


def _code_of(exc: BaseException) -> tuple[str, BaseException]:
    """The code of ``exc``, else of its explicit cause (``raise ... from``)."""
    current: BaseException | None = exc
    for _depth in range(5):
        if current is None:
            break
        if isinstance(current, MailSyncError):
            return current.code, current
        for classifier in _CLASSIFIERS:
            code = classifier(current)
            if code:
                return code, current
        current = current.__cause__
    return "unknown", exc


def _complete(
    err: MailSyncError,
    side: str | None,
    host: str,
    port: int | None,
    secrets: Iterable[str | bytes | None],
) -> MailSyncError:
    """Fill what a passed-through MailSyncError lacks and redact its detail."""
    err.side = err.side or side
    err.host = err.host or host or ""
    err.port = err.port if err.port is not None else port
    err.detail = redact(err.detail, secrets)[:MAX_DETAIL]
    err.params = {
        key: redact(value, secrets) if isinstance(value, str) else value
        for key, value in err.params.items()
    }
    err.args = (err.code, err.detail)
    return err


def classify(
    exc: BaseException,
    side: str | None = None,
    host: str = "",
    port: int | None = None,
    secrets: Iterable[str | bytes | None] = (),
    auth: str | None = None,
) -> MailSyncError:
    """Map any exception to a :class:`MailSyncError` with a catalogue code.

    A MailSyncError passes through (side, host and port filled when missing).
    ``side`` is inferred from smtplib/imaplib exceptions when not given. Every
    value of ``secrets`` is replaced by ``***`` in the detail. ``auth`` says
    how the session signed in ("oauth" picks the catalogue's OAuth wording of
    a refused login, see :func:`describe`). Never raises.
    """
    err = _classify(exc, side, host, port, as_tuple(secrets))
    if auth:
        err.params.setdefault("auth", auth)
    return err


def _classify(exc, side, host, port, secrets) -> MailSyncError:
    if isinstance(exc, MailSyncError):
        return _complete(exc, side, host, port, secrets)
    try:
        code, source = _code_of(exc)
    except Exception:  # noqa: BLE001 - odd exception attributes: still classify
        code, source = "unknown", exc
    if isinstance(source, MailSyncError):
        return _complete(source, side, host, port, secrets)
    detail = detail_of(source, secrets)
    side = side or _infer_side(source)
    if code == "quota_exceeded":
        err: MailSyncError = QuotaExceeded(detail, side=side, host=host, port=port)
    else:
        err = MailSyncError(code, detail, side=side, host=host, port=port)
    err.__cause__ = exc
    return err
