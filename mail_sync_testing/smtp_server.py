"""A recording SMTP server (aiosmtpd) with fault injection (no Odoo import).

Three loopback listeners share one message store:

* ``port``: STARTTLS required, AUTH required (only after STARTTLS);
* ``ssl_port``: implicit TLS, AUTH required;
* ``plain_port``: no TLS, AUTH offered (also without TLS) but not required.

``SmtpServer(oauth=auth_server)`` also offers AUTH XOAUTH2 (as Gmail and
Microsoft do): the bearer token is introspected (RFC 7662) at the
authorization server (``mail_sync_testing.OAuthServer``) and must be active and
belong to the ``user=`` it names; a refused token gets Gmail's answer (a 334
error challenge, then ``535 5.7.8``).

Usage::

    with SmtpServer() as smtp:
        smtp.add_user("alice", "secret")
        smtp.fail_next(550, "5.4.5 Daily user sending quota exceeded")
        ...  # code under test sends mail
        [msg] = smtp.wait_for(1)
"""

import asyncio
import base64
import binascii
import contextlib
import email
import email.policy
import json
import logging
import os
import socket
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from functools import cached_property

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, AuthResult, LoginPassword

from ._common import LOOPBACK
from ._server import TestServer

__all__ = ["STAGES", "ReceivedMessage", "SmtpServer"]

STAGES = ("MAIL", "RCPT", "DATA")
XOAUTH2_REFUSED = "535 5.7.8 Username and Password not accepted"
XOAUTH2_ERROR = {"status": "401", "schemes": "bearer"}


def _drop_login_data_warning(record):
    # aiosmtpd 1.4 itself sets the deprecated Session.login_data on every
    # successful AUTH and logs a warning each time: noise in test logs.
    return "login_data is deprecated" not in str(record.msg)


if _drop_login_data_warning not in logging.getLogger("mail.log").filters:
    logging.getLogger("mail.log").addFilter(_drop_login_data_warning)


@dataclass
class ReceivedMessage:
    """One accepted message. Attributes are also readable as ``msg["tls"]``."""

    mail_from: str
    rcpt_tos: list
    auth_user: str
    tls: bool
    data: bytes
    port: int
    peer: tuple
    received_at: float
    mail_options: list = field(default_factory=list)
    rcpt_options: list = field(default_factory=list)
    eml_path: str = None
    json_path: str = None

    @cached_property
    def message(self):
        """The message parsed with ``email.policy.default`` (an EmailMessage)."""
        return email.message_from_bytes(self.data, policy=email.policy.default)

    def __getitem__(self, key):
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def as_dict(self):
        return {
            "mail_from": self.mail_from,
            "rcpt_tos": list(self.rcpt_tos),
            "auth_user": self.auth_user,
            "tls": self.tls,
            "port": self.port,
            "peer": list(self.peer) if self.peer else None,
            "received_at": self.received_at,
            "mail_options": list(self.mail_options),
            "rcpt_options": list(self.rcpt_options),
            "size": len(self.data),
        }


@dataclass
class _Fault:
    stage: str
    reply: str
    remaining: int = None  # None: forever


class _Handler:
    """aiosmtpd handler bound to one listener; the state lives in SmtpServer."""

    def __init__(self, owner, implicit_tls):
        self.owner = owner
        self.implicit_tls = implicit_tls

    async def auth_XOAUTH2(self, server, args):
        """SASL XOAUTH2 (``user=...^Aauth=Bearer ...^A^A``), the token checked
        by the authorization server; offered only with ``SmtpServer(oauth=)``."""
        if len(args) == 1:
            blob = await server.challenge_auth("")
            if blob is MISSING:
                return AuthResult(success=False, handled=True)
        else:
            try:
                blob = base64.b64decode(args[1].encode(), validate=True)
            except binascii.Error:
                await server.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        user, token = _parse_xoauth2(blob)
        loop = asyncio.get_running_loop()
        ok = await loop.run_in_executor(None, self.owner._check_token, user, token)
        if ok:
            login = LoginPassword(user.encode(), b"")
            return AuthResult(success=True, handled=False, auth_data=login)
        # As Gmail: an error challenge, the client's empty answer, then 535.
        answer = await server.challenge_auth(json.dumps(XOAUTH2_ERROR))
        if answer is MISSING:
            return AuthResult(success=False, handled=True)
        return AuthResult(success=False, handled=False, message=XOAUTH2_REFUSED)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.owner._drop_connections:
            # Close without any reply, like a server dying mid-session.
            server.transport.abort()
            return "421 4.4.2 connection dropped"  # never reaches the client
        reply = self.owner._take_fault("MAIL")
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.owner._take_fault("RCPT")
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        reply = self.owner._take_fault("DATA")
        if reply:
            return reply
        login = getattr(session.auth_data, "login", None)
        if isinstance(login, bytes):
            login = login.decode("utf-8", errors="replace")
        tls = self.implicit_tls or session.ssl is not None
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8", errors="surrogateescape")
        received = ReceivedMessage(
            mail_from=envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            auth_user=login if session.authenticated else None,
            tls=tls,
            data=data,
            port=server.transport.get_extra_info("sockname", (None, None))[1],
            peer=session.peer,
            received_at=time.time(),
            mail_options=list(envelope.mail_options),
            rcpt_options=list(envelope.rcpt_options),
        )
        number = self.owner._store(received)
        self.owner._deliver(received)
        return f"250 2.0.0 OK queued as {number:06d}"


class _Controller(Controller):
    """A Controller serving on a socket we bound ourselves (no port race)."""

    def __init__(self, handler, owner, implicit_tls=False, **kwargs):
        self._implicit_tls = implicit_tls
        if implicit_tls:
            # aiosmtpd only counts STARTTLS as TLS and warns (per connection)
            # about AUTH without TLS; build with auth_require_tls=True and
            # relax it in factory() instead.
            kwargs["auth_require_tls"] = True
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((LOOPBACK, 0))
        self._sock.listen(100)
        self._owner = owner
        super().__init__(
            handler,
            hostname=LOOPBACK,
            port=self._sock.getsockname()[1],
            server_hostname="localhost",
            **kwargs,
        )

    def _create_server(self):
        return self.loop.create_server(
            self._factory_invoker, sock=self._sock, ssl=self.ssl_context
        )

    def factory(self):
        self._owner._count_connection()
        server = super().factory()
        if self._implicit_tls:
            server._auth_require_tls = False  # the whole connection is TLS
        return server

    def close_socket(self):
        with contextlib.suppress(OSError):
            self._sock.close()


class SmtpServer(TestServer):
    workdir_prefix = "smtp-"
    host = LOOPBACK

    def __init__(self, data_size_limit=64 * 1024 * 1024, timeout=30, oauth=None):
        super().__init__()
        self.oauth = oauth
        self.data_size_limit = data_size_limit
        self.timeout = timeout
        self.port = None
        self.ssl_port = None
        self.plain_port = None
        self.users = {}
        self.messages = []
        self.auth_attempts = []  # (login, success) in order
        self.connection_count = 0
        self._stored = 0
        self._controllers = []
        self._faults = []
        self._drop_connections = False
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._delivery = None  # (DovecotServer, {address: login}), see deliver_to

    # -- life cycle -----------------------------------------------------------

    @property
    def started(self):
        return bool(self._controllers)

    def _start(self):
        os.mkdir(os.path.join(self.dir, "messages"))
        common = {
            "authenticator": self._authenticate,
            "data_size_limit": self.data_size_limit,
            "timeout": self.timeout,
            "auth_exclude_mechanism": [] if self.oauth else ["XOAUTH2"],
        }
        starttls = self._start_controller(
            False,
            tls_context=self._cert.server_context(),
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            **common,
        )
        implicit = self._start_controller(
            True,
            ssl_context=self._cert.server_context(),
            auth_required=True,
            **common,
        )
        plain = self._start_controller(
            False, auth_required=False, auth_require_tls=False, **common
        )
        self.port, self.ssl_port, self.plain_port = (
            starttls.port,
            implicit.port,
            plain.port,
        )
        with self._lock:
            self.connection_count = 0  # forget the controllers' own probes

    def _start_controller(self, implicit_tls, **kwargs):
        controller = _Controller(
            _Handler(self, implicit_tls), self, implicit_tls=implicit_tls, **kwargs
        )
        self._controllers.append(controller)
        controller.start()
        return controller

    def _stop(self):
        controllers, self._controllers = self._controllers, []
        for controller in controllers:
            try:
                if controller._thread is not None:
                    controller.stop()
            finally:
                controller.close_socket()

    # -- users and auth ---------------------------------------------------------

    def add_user(self, login, password):
        self.users[login] = password

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", errors="replace")
        password = auth_data.password.decode("utf-8", errors="replace")
        ok = login in self.users and self.users[login] == password
        with self._lock:
            self.auth_attempts.append((login, ok))
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    def _check_token(self, user, token):
        """True when the authorization server says ``token`` is active and
        belongs to ``user`` (RFC 7662 introspection, over real HTTP)."""
        ok = False
        if user and token:
            request = urllib.request.Request(
                self.oauth.introspection_url,
                data=urllib.parse.urlencode({"token": token}).encode(),
                headers={"Authorization": _basic(*self.oauth.resource_client)},
            )
            with urllib.request.urlopen(request, timeout=10) as answer:
                found = json.loads(answer.read() or b"{}")
            ok = found.get("active") is True and found.get("username") == user
        with self._lock:
            self.auth_attempts.append((user, ok))
        return ok

    # -- faults -------------------------------------------------------------------

    def fail_next(self, code, text, stage="MAIL", count=1):
        """Answer the next `count` commands of `stage` with ``code text``.

        Example: ``fail_next(550, "5.4.5 Daily user sending quota exceeded")``.
        stage is "MAIL", "RCPT" or "DATA" (DATA answers after the content).
        """
        self._add_fault(code, text, stage, count)

    def fail_always(self, code, text, stage="MAIL"):
        self._add_fault(code, text, stage, None)

    def clear_faults(self):
        with self._lock:
            self._faults.clear()
            self._drop_connections = False

    def drop_connections(self, enabled=True):
        """While enabled, close the connection (no reply) on every MAIL FROM."""
        self._drop_connections = bool(enabled)

    def _add_fault(self, code, text, stage, count):
        stage = stage.upper()
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, not {stage!r}")
        code = int(code)
        if not 400 <= code <= 599:
            raise ValueError(f"fault code must be 4xx or 5xx, not {code}")
        if count is not None and count < 1:
            raise ValueError("count must be >= 1")
        reply = f"{code} {text}".strip()
        with self._lock:
            self._faults.append(_Fault(stage, reply, count))

    def _take_fault(self, stage):
        with self._lock:
            for fault in self._faults:
                if fault.stage != stage:
                    continue
                if fault.remaining is None:
                    return fault.reply
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault.reply
        return None

    # -- messages -----------------------------------------------------------------

    def _count_connection(self):
        with self._lock:
            self.connection_count += 1

    def _store(self, received):
        with self._lock:
            self._stored += 1
            number = self._stored
            base = os.path.join(self.dir, "messages", f"{number:06d}")
            received.eml_path = base + ".eml"
            received.json_path = base + ".json"
            with open(received.eml_path, "wb") as fh:
                fh.write(received.data)
            with open(received.json_path, "w") as fh:
                json.dump(received.as_dict(), fh, indent=1)
            self.messages.append(received)
            self._arrived.notify_all()
        return number

    def deliver_to(self, dovecot, mailboxes):
        """Deliver what arrives for the addresses of ``mailboxes`` (address ->
        Dovecot login) into that login's Inbox on ``dovecot``, as the provider's
        own delivery does; None stops delivering."""
        self._delivery = (
            (dovecot, {k.lower(): v for k, v in mailboxes.items()}) if dovecot else None
        )

    def _deliver(self, received):
        if not self._delivery:
            return
        dovecot, mailboxes = self._delivery
        for rcpt in received.rcpt_tos:
            login = mailboxes.get((rcpt or "").strip("<>").lower())
            if login:
                dovecot.fill_maildir(login, "INBOX", [received.data], flags="")

    def wait_for(self, n, timeout=5):
        """Wait until at least `n` messages arrived; returns the message list.

        Raises TimeoutError (with what did arrive) otherwise.
        """
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.messages) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"expected {n} message(s) within {timeout} s, "
                        f"got {len(self.messages)}"
                    )
                self._arrived.wait(remaining)
            return list(self.messages)

    def clear_messages(self):
        with self._lock:
            self.messages.clear()

    def ssl_context(self):
        """An SSL client context trusting this server's certificate."""
        return self._cert.client_context()


def _parse_xoauth2(blob):
    """(user, token) from a XOAUTH2 initial response; empty strings when absent."""
    user = token = ""
    for part in blob.decode("utf-8", errors="replace").split("\x01"):
        key, _sep, value = part.partition("=")
        if key == "user":
            user = value
        elif key == "auth" and value[:7].lower() == "bearer ":
            token = value[7:]
    return user, token


def _basic(client_id, secret):
    pair = f"{client_id}:{secret}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")
