"""Tests of lib.errors: classification of real exceptions, catalogue, redaction.

Most exceptions come from real calls: sockets to closed loopback ports, and
imaplib/imapclient/smtplib talking to tiny scripted servers on 127.0.0.1.
"""

import email.errors
import errno
import imaplib
import re
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError
from lib import errors
from lib.errors import (
    CATALOGUE,
    CertificateChanged,
    MailSyncError,
    QuotaExceeded,
    classify,
    describe,
    is_quota_reply,
    redact,
)
from lib.errors import catalogue as error_catalogue

PASSWORD = "pässwörd-Secret!42"
# imaplib and smtplib send LOGIN / AUTH arguments as ASCII: a non-ASCII password
# raises UnicodeEncodeError before reaching the server, so real exchanges use this.
ASCII_PASSWORD = "Secr3t!pw-42"

REQUIRED_CODES = {
    "auth_failed",
    "app_password_required",
    "imap_disabled",
    "host_unreachable",
    "timeout",
    "tls_failed",
    "starttls_unsupported",
    "cert_untrusted",
    "cert_changed",
    "folder_missing",
    "smtp_auth_failed",
    "smtp_refused",
    "quota_exceeded",
    "message_too_large",
    "message_malformed",
    "connection_lost",
    "server_error",
    "unknown",
    "password_missing",
    "secret_key_mismatch",
    "secret_key_unavailable",
}


# ---------------------------------------------------------------------------
# A scripted line server: greeting, then one reply per received line.


class ScriptedServer:
    """Serve one connection on 127.0.0.1: ``respond(line)`` -> reply or None.

    A None reply closes the connection; a None greeting closes it at once.
    """

    def __init__(
        self, greeting: bytes | None, respond: Callable[[bytes], bytes | None]
    ):
        self.greeting = greeting
        self.respond = respond
        self.received: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(10)
        try:
            conn, _addr = self.listener.accept()
        except OSError:
            return
        with conn, conn.makefile("rb") as reader:
            if self.greeting is None:
                return
            conn.settimeout(10)
            try:
                conn.sendall(self.greeting)
                for line in reader:
                    self.received.append(line)
                    reply = self.respond(line)
                    if reply is None:
                        break
                    conn.sendall(reply)
            except OSError:  # the client went away or timed out: fine
                return

    def close(self) -> None:
        self.listener.close()
        self.thread.join(5)


@pytest.fixture
def serve():
    servers = []

    def start(greeting: bytes | None, respond: Callable[[bytes], bytes | None]):
        server = ScriptedServer(greeting, respond)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def _imap_responder(login_reply: bytes) -> Callable[[bytes], bytes | None]:
    def respond(line: bytes) -> bytes | None:
        tag, _sp, rest = line.partition(b" ")
        command = rest.split(b" ", 1)[0].strip().upper()
        if command == b"CAPABILITY":
            return b"* CAPABILITY IMAP4rev1\r\n" + tag + b" OK done\r\n"
        if command == b"LOGIN":
            return tag + b" " + login_reply + b"\r\n"
        if command == b"LOGOUT":
            return b"* BYE\r\n" + tag + b" OK bye\r\n"
        return tag + b" BAD unknown\r\n"

    return respond


def _smtp_responder(**replies: bytes) -> Callable[[bytes], bytes | None]:
    def respond(line: bytes) -> bytes | None:
        verb = line.split(b" ", 1)[0].split(b":", 1)[0].strip().upper().decode()
        if verb == "EHLO":
            return replies.get("EHLO", b"250-fake\r\n250 AUTH PLAIN LOGIN\r\n")
        if verb == "QUIT":
            return None
        return replies.get(verb.replace(" ", "_"), b"250 ok\r\n")

    return respond


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def _raised(func: Callable[[], object]) -> BaseException:
    try:
        func()
    except BaseException as exc:  # noqa: BLE001 - the test wants it
        return exc
    raise AssertionError("expected an exception")


# ---------------------------------------------------------------------------
# Catalogue


def test_catalogue_has_every_required_code():
    assert REQUIRED_CODES <= set(CATALOGUE)


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_every_entry_renders(code):
    for side, host, port in (("imap", "imap.example.com", 993), ("smtp", "", None)):
        err = MailSyncError(code, "detail", side=side, host=host, port=port)
        message, hint = describe(err)
        assert message and hint
        assert "%(" not in message + hint
        assert "None" not in message + hint
        assert message.endswith(".") and hint.endswith(".")
        assert message[0].isupper()


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_catalogue_strings_are_plain_named_placeholders(code):
    for text in CATALOGUE[code]:
        assert isinstance(text, str)
        placeholders = set(re.findall(r"%\((\w+)\)s", text))
        assert placeholders <= {"side", "host", "port", "server", "address", "provider"}
        assert "%s" not in text  # positional placeholders cannot be translated


def test_catalogue_strings_are_marked_for_translation():
    with open(error_catalogue.__file__, encoding="utf-8") as handle:
        source = handle.read()
    assert source.count("_lt(") >= 2 * len(CATALOGUE)


def test_describe_renders_host_port_and_side():
    err = MailSyncError("host_unreachable", side="imap", host="imap.x.com", port=993)
    message, _hint = describe(err)
    assert "IMAP" in message
    assert "imap.x.com:993" in message


def test_describe_without_host_reads_well():
    assert describe(MailSyncError("timeout"))[0] == (
        "No answer in time from the mail server."
    )
    assert describe(MailSyncError("timeout", side="smtp"))[0] == (
        "No answer in time from the SMTP server."
    )
    assert describe(MailSyncError("timeout", side="imap", host="h"))[0] == (
        "No answer in time from the IMAP server h."
    )


def test_describe_translates_first():
    calls = []

    def translate(text):
        calls.append(text)
        return "TR[" + text + "]"

    err = MailSyncError("auth_failed", side="smtp", host="h", port=25)
    message, hint = describe(err, translate)
    assert message.startswith("TR[Login refused by TR[the SMTP server h:25]")
    assert hint.startswith("TR[")
    assert CATALOGUE["auth_failed"][0] in calls


def test_describe_survives_broken_translations():
    err = MailSyncError("auth_failed", side="imap", host="h")
    message, _hint = describe(err, lambda text: "100% %(nope)s %(side)s")
    assert message  # a bad "%" falls back to the raw translated text
    message, _hint = describe(err, lambda text: 1 / 0)
    assert message.startswith("Login refused by the IMAP server h:")


def test_unknown_code_renders_as_unknown():
    message, hint = describe(MailSyncError("no_such_code"))
    assert (message, hint) == describe(MailSyncError("unknown"))


def test_params_are_available_to_translations():
    err = MailSyncError("folder_missing", params={"folder": "Sent"})
    message, _hint = describe(err, lambda text: "missing %(folder)s")
    assert message == "missing Sent"


# ---------------------------------------------------------------------------
# Exceptions


def test_mail_sync_error_attributes():
    err = MailSyncError("auth_failed", "LoginError: x", side="imap", params={"a": 1})
    assert (err.code, err.side, err.detail, err.params) == (
        "auth_failed",
        "imap",
        "LoginError: x",
        {"a": 1},
    )
    assert str(err) == "auth_failed: LoginError: x"
    assert isinstance(err, Exception)
    assert MailSyncError().code == "unknown"


def test_certificate_changed():
    err = CertificateChanged("AA:BB", "CC:DD", side="imap", host="h", port=993)
    assert err.code == "cert_changed"
    assert (err.expected, err.seen) == ("AA:BB", "CC:DD")
    assert "AA:BB" in err.detail and "CC:DD" in err.detail
    assert isinstance(err, MailSyncError)
    assert describe(err)[0].startswith("The certificate of the IMAP server h:993 ")


def test_quota_exceeded_subclass():
    err = QuotaExceeded("550 5.4.5 Daily user sending limit exceeded")
    assert (err.code, err.side) == ("quota_exceeded", "smtp")
    assert err.detail.startswith("550 5.4.5")
    assert isinstance(err, MailSyncError)


def test_non_ascii_password_is_refused_by_imaplib_itself(serve):
    # A fact the session code must handle (e.g. AUTHENTICATE PLAIN in UTF-8).
    server = serve(b"* OK ready\r\n", _imap_responder(b"OK logged in"))
    client = IMAPClient("127.0.0.1", port=server.port, ssl=False, timeout=5)
    exc = _raised(lambda: client.login("user@example.com", PASSWORD))
    client.shutdown()
    assert isinstance(exc, UnicodeEncodeError)
    assert not any(b"LOGIN" in line for line in server.received)
    assert PASSWORD not in classify(exc, secrets=[PASSWORD]).detail


# ---------------------------------------------------------------------------
# classify: sockets and TLS


def test_connection_refused_is_host_unreachable():
    port = _closed_port()
    exc = _raised(lambda: socket.create_connection(("127.0.0.1", port), timeout=5))
    assert isinstance(exc, ConnectionRefusedError)
    err = classify(exc, side="imap", host="127.0.0.1", port=port)
    assert err.code == "host_unreachable"
    assert (err.side, err.host, err.port) == ("imap", "127.0.0.1", port)
    assert err.detail.startswith("ConnectionRefusedError: ")
    assert err.__cause__ is exc


def test_dns_failure_is_host_unreachable():
    exc = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert classify(exc).code == "host_unreachable"


@pytest.mark.parametrize("code", [errno.ENETUNREACH, errno.EHOSTUNREACH])
def test_unreachable_errnos(code):
    assert classify(OSError(code, "unreachable")).code == "host_unreachable"


def test_real_timeout(serve):
    server = serve(b"", lambda line: b"")
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.settimeout(0.05)
    with sock:
        exc = _raised(lambda: sock.recv(10))
    assert isinstance(exc, socket.timeout)
    assert classify(exc).code == "timeout"
    assert classify(TimeoutError()).code == "timeout"
    assert classify(OSError(errno.ETIMEDOUT, "timed out")).code == "timeout"


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionResetError(errno.ECONNRESET, "reset"),
        BrokenPipeError(errno.EPIPE, "broken pipe"),
        ConnectionAbortedError(),
        EOFError(),
        imaplib.IMAP4.abort("socket error: EOF"),
        smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
    ],
)
def test_connection_lost(exc):
    assert classify(exc).code == "connection_lost"


def test_real_imap_eof_is_connection_lost(serve):
    server = serve(None, lambda line: None)
    # The server closes without a greeting: imaplib raises abort("... EOF").
    exc = _raised(lambda: imaplib.IMAP4("127.0.0.1", server.port, timeout=5))
    assert isinstance(exc, imaplib.IMAP4.abort)
    err = classify(exc)
    assert (err.code, err.side) == ("connection_lost", "imap")


def test_real_tls_on_plain_port_is_tls_failed(serve):
    server = serve(b"* OK IMAP4rev1 plain text server ready\r\n", lambda line: None)
    context = ssl.create_default_context()
    exc = _raised(
        lambda: imaplib.IMAP4_SSL(
            "127.0.0.1", server.port, ssl_context=context, timeout=5
        )
    )
    assert isinstance(exc, ssl.SSLError)
    assert classify(exc, side="imap").code == "tls_failed"


def test_certificate_verification_error_is_cert_untrusted():
    exc = ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed"
    )
    assert classify(exc).code == "cert_untrusted"


# ---------------------------------------------------------------------------
# classify: IMAP


def test_imapclient_login_error_is_auth_failed():
    exc = LoginError(b"[AUTHENTICATIONFAILED] Authentication failed.")
    err = classify(exc, host="imap.example.com")
    assert (err.code, err.side) == ("auth_failed", "imap")
    assert err.detail == "LoginError: [AUTHENTICATIONFAILED] Authentication failed."


def test_real_imap_login_failure_with_leaky_server(serve):
    # A (badly behaved) server echoing the password must not leak it into detail.
    reply = (
        b"NO [AUTHENTICATIONFAILED] Authentication failed for "
        + ASCII_PASSWORD.encode()
        + b" / "
        + PASSWORD.encode()  # as raw UTF-8 bytes, which show up escaped
    )
    server = serve(b"* OK ready\r\n", _imap_responder(reply))
    client = IMAPClient("127.0.0.1", port=server.port, ssl=False, timeout=5)
    exc = _raised(lambda: client.login("user@example.com", ASCII_PASSWORD))
    client.shutdown()
    assert isinstance(exc, LoginError)
    assert b"LOGIN" in server.received[-1]
    err = classify(exc, side="imap", secrets=[ASCII_PASSWORD, PASSWORD])
    assert err.code == "auth_failed"
    assert ASCII_PASSWORD not in err.detail
    assert PASSWORD not in err.detail
    assert "\\xc3\\xa4" not in err.detail  # not even as escaped bytes
    assert err.detail.count("***") == 2


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("[AUTHENTICATIONFAILED] Invalid credentials (Failure)", "auth_failed"),
        ("LOGIN failed.", "auth_failed"),
        ("AUTHENTICATE failed.", "auth_failed"),
        (
            (
                "[ALERT] Application-specific password required: "
                "https://support.google.com/accounts/answer/185833 (Failure)"
            ),
            "app_password_required",
        ),
        (
            "[ALERT] Please log in via your web browser (Failure)",
            "app_password_required",
        ),
        ("[WEBALERT https://x] Web login required", "app_password_required"),
        (
            "[ALERT] Your account is not enabled for IMAP use. (Failure)",
            "imap_disabled",
        ),
        ("IMAP access is disabled for your domain", "imap_disabled"),
        ("User is authenticated but not connected.", "imap_disabled"),
        (
            "[PRIVACYREQUIRED] Plaintext authentication disallowed",
            "encryption_required",
        ),
        ("[UNAVAILABLE] Temporary authentication failure.", "server_error"),
        ("Something else entirely", "auth_failed"),  # a LoginError all the same
    ],
)
def test_imap_login_texts(text, code):
    assert classify(LoginError(text)).code == code


def test_imap_texts_without_login_error():
    assert classify(imaplib.IMAP4.error("SELECT command error: BAD")).code == (
        "server_error"
    )
    assert classify(imaplib.IMAP4.abort("TLS not supported by server")).code == (
        "starttls_unsupported"
    )
    bytes_err = imaplib.IMAP4.error(b"[AUTHENTICATIONFAILED] Invalid credentials")
    assert classify(bytes_err).code == "auth_failed"


# ---------------------------------------------------------------------------
# classify: SMTP


def test_real_smtp_auth_failure(serve):
    server = serve(
        b"220 fake ESMTP\r\n",
        _smtp_responder(AUTH=b"535 5.7.8 Username and Password not accepted.\r\n"),
    )
    smtp = smtplib.SMTP("127.0.0.1", server.port, timeout=5)
    exc = _raised(lambda: smtp.login("user@example.com", ASCII_PASSWORD))
    smtp.close()
    assert isinstance(exc, smtplib.SMTPAuthenticationError)
    err = classify(exc, secrets=[ASCII_PASSWORD])
    assert (err.code, err.side) == ("smtp_auth_failed", "smtp")
    assert err.detail.startswith("SMTPAuthenticationError: 535 5.7.8")


def test_real_smtp_app_password_required(serve):
    reply = b"534-5.7.9 Application-specific password required.\r\n534 5.7.9 more\r\n"
    server = serve(b"220 fake\r\n", _smtp_responder(AUTH=reply))
    smtp = smtplib.SMTP("127.0.0.1", server.port, timeout=5)
    exc = _raised(lambda: smtp.login("user@gmail.com", ASCII_PASSWORD))
    smtp.close()
    assert classify(exc).code == "app_password_required"


def test_real_smtp_quota_on_mail_from(serve):
    server = serve(
        b"220 fake\r\n",
        _smtp_responder(MAIL=b"550 5.4.5 Daily user sending limit exceeded.\r\n"),
    )
    smtp = smtplib.SMTP("127.0.0.1", server.port, timeout=5)
    exc = _raised(lambda: smtp.sendmail("a@b.com", ["c@d.com"], "Subject: x\r\n\r\nx"))
    smtp.close()
    assert isinstance(exc, smtplib.SMTPSenderRefused)
    err = classify(exc)
    assert isinstance(err, QuotaExceeded)
    assert err.code == "quota_exceeded"


def test_real_smtp_starttls_unsupported(serve):
    server = serve(b"220 fake\r\n", _smtp_responder(EHLO=b"250 fake\r\n"))
    smtp = smtplib.SMTP("127.0.0.1", server.port, timeout=5)
    exc = _raised(smtp.starttls)
    smtp.close()
    assert isinstance(exc, smtplib.SMTPNotSupportedError)
    assert classify(exc, side="smtp").code == "starttls_unsupported"


def test_real_smtp_auth_not_offered_needs_encryption(serve):
    server = serve(b"220 fake\r\n", _smtp_responder(EHLO=b"250 fake\r\n"))
    smtp = smtplib.SMTP("127.0.0.1", server.port, timeout=5)
    exc = _raised(lambda: smtp.login("u", ASCII_PASSWORD))
    smtp.close()
    assert classify(exc).code == "encryption_required"


def test_smtp_connect_error_is_host_unreachable():
    exc = smtplib.SMTPConnectError(554, b"no SMTP service here")
    assert classify(exc).code == "host_unreachable"


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (
            smtplib.SMTPSenderRefused(
                550, b"5.4.5 Daily user sending quota exceeded", "a@b"
            ),
            "quota_exceeded",
        ),
        (
            smtplib.SMTPDataError(
                554,
                b"5.2.0 STOREDRV.Submission.Exception:"
                b"SubmissionQuotaExceededException; Failed to process message",
            ),
            "quota_exceeded",
        ),
        (
            smtplib.SMTPResponseException(
                432, b"4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded"
            ),
            "quota_exceeded",
        ),
        (
            smtplib.SMTPSenderRefused(
                421, b"4.7.0 [TSS04] Messages from 1.2.3.4 temporarily deferred", "a"
            ),
            "quota_exceeded",
        ),
        (
            smtplib.SMTPRecipientsRefused(
                {"x@y.com": (550, b"5.4.5 Daily user sending quota exceeded")}
            ),
            "quota_exceeded",
        ),
        (
            smtplib.SMTPRecipientsRefused({"x@y.com": (550, b"5.1.1 No such user")}),
            "smtp_refused",
        ),
        (
            smtplib.SMTPRecipientsRefused({"x@y.com": (450, b"4.2.1 Try later")}),
            "server_error",
        ),
        (
            smtplib.SMTPSenderRefused(553, b"5.7.1 Sender not owned by user", "a"),
            "smtp_refused",
        ),
        (
            smtplib.SMTPDataError(552, b"5.3.4 Message size exceeds fixed limit"),
            "message_too_large",
        ),
        (smtplib.SMTPDataError(451, b"4.3.0 Try again later"), "server_error"),
        (
            smtplib.SMTPAuthenticationError(
                535,
                b"5.7.139 Authentication unsuccessful, basic authentication is"
                b" disabled.",
            ),
            "app_password_required",
        ),
        (smtplib.SMTPException("weird"), "server_error"),
    ],
)
def test_smtp_exceptions(exc, code):
    err = classify(exc)
    assert err.code == code
    assert err.side == "smtp"


# ---------------------------------------------------------------------------
# classify: other cases


def test_mail_sync_error_passes_through_and_gets_filled():
    original = MailSyncError("folder_missing", f"no Sent for {PASSWORD}")
    err = classify(original, side="imap", host="h", port=143, secrets=[PASSWORD])
    assert err is original
    assert (err.side, err.host, err.port) == ("imap", "h", 143)
    assert PASSWORD not in err.detail


def test_pass_through_keeps_existing_side():
    original = MailSyncError("timeout", side="smtp")
    assert classify(original, side="imap").side == "smtp"


def test_explicit_cause_is_followed():
    try:
        try:
            raise ConnectionRefusedError(errno.ECONNREFUSED, "refused")
        except ConnectionRefusedError as inner:
            raise RuntimeError("connect failed") from inner
    except RuntimeError as exc:
        assert classify(exc).code == "host_unreachable"


def test_parse_errors_are_message_malformed():
    assert classify(email.errors.HeaderParseError("bad")).code == "message_malformed"


@pytest.mark.parametrize("exc", [ValueError("x"), KeyError("k"), RuntimeError()])
def test_anything_else_is_unknown(exc):
    err = classify(exc)
    assert err.code == "unknown"
    assert err.detail.startswith(type(exc).__name__)


def test_detail_is_truncated_after_redaction():
    exc = RuntimeError("x" * 495 + PASSWORD)
    detail = classify(exc, secrets=[PASSWORD]).detail
    assert len(detail) <= errors.MAX_DETAIL
    assert PASSWORD[:4] not in detail


def test_detail_never_contains_password_in_any_form():
    exc = imaplib.IMAP4.error(
        f"LOGIN command error: BAD [b'{PASSWORD}'] {PASSWORD.encode()!r} {PASSWORD!r}"
    )
    detail = classify(exc, secrets=[PASSWORD, "", None]).detail
    assert PASSWORD not in detail
    assert repr(PASSWORD.encode())[2:-1] not in detail


def test_classify_never_raises_on_broken_exceptions():
    class Broken(Exception):
        def __str__(self):
            raise RuntimeError("no str for you")

    assert classify(Broken()).code == "unknown"
    odd = smtplib.SMTPRecipientsRefused({"x@y.com": "not a (code, text) pair"})
    assert classify(odd).code == "unknown"


# ---------------------------------------------------------------------------
# redact and is_quota_reply


def test_redact():
    assert redact("user x pw hunter2 hunter2", ["hunter2"]) == "user x pw *** ***"
    assert redact("nothing", ["", None]) == "nothing"
    assert redact("", ["x"]) == ""
    assert redact("a secret", "secret") == "a ***"  # a lone string is one secret
    assert redact("b'p\\xc3\\xa4ss'", [b"p\xc3\xa4ss"]) == "b'***'"


@pytest.mark.parametrize(
    ("code", "text", "quota"),
    [
        (550, "5.4.5 Daily user sending quota exceeded.", True),
        (550, b"5.4.5 Daily user sending limit exceeded.", True),
        (432, "4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded", True),
        (
            554,
            "5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException",
            True,
        ),
        (421, "4.7.0 [TSS04] Messages temporarily deferred", True),
        (550, "5.1.1 The email account that you tried to reach does not exist", False),
        (552, "5.2.2 The recipient's mailbox is over quota", False),
        (421, "4.7.0 Try again later, closing connection", False),
        (250, "ok", False),
        (550, "", False),
    ],
)
def test_is_quota_reply(code, text, quota):
    assert is_quota_reply(code, text) is quota
