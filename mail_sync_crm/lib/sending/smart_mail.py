"""Smart Mail: one personal mailbox's SMTP session, kept within its provider's limits.

Plain Python, no Odoo import. Odoo's ``ir.mail_server.send_email`` builds each
email and hands it to its "SMTP session" with ``send_message(msg, from, to)``;
:class:`GovernedSession` stands in for that session and, per email:

* decides with :func:`quota.plan` against the mailbox's recent
  :class:`LiveUsage` (the whole mail on its first email, then each email):
  send, defer or fail;
* splits the recipients into the batches the provider allows per email, each
  batch its own SMTP transaction (same message, fewer envelope recipients);
* opens the connection lazily (a deferred mail costs no connection) and opens
  a new one when the next batch would exceed the recipients per connection;
* skips the recipients a previous attempt already delivered (exactly once);
* records every accepted transaction in :attr:`GovernedSession.sent` and in
  the usage, so that the next mail of the same run is planned against it.

A decision other than "send", a quota refusal from the server (or any 4xx) and
a connection failure stop the mail with :class:`Interrupted`, which derives
from ``BaseException`` on purpose: Odoo's sending code between this session
and the caller turns every ``Exception`` into a failed mail (and logs it as an
error), while a deferred mail must stay queued. Permanent refusals (5xx that
are not quota replies) are re-raised as they are: Odoo fails the mail as usual.
"""

import contextlib
import copy
import io
import smtplib
from bisect import insort
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from email.generator import BytesGenerator

from .. import errors
from ..message.addresses import normalize
from ..timeutil import naive_utc
from . import quota

__all__ = ["GovernedSession", "Interrupted", "LiveUsage", "SentBatch"]


def _text(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


class LiveUsage(quota.Usage):
    """A :class:`quota.Usage` that grows as the session sends."""

    def add(self, sent_at: datetime, recipients: int) -> None:
        """Record one email (SMTP transaction) to ``recipients`` recipients."""
        moment = naive_utc(sent_at)
        if not self._times or moment >= self._times[-1]:
            self._times.append(moment)
            self._recipients.append(recipients)
            return
        insort(self._times, moment)
        index = self._times.index(moment)
        self._recipients.insert(index, recipients)


@dataclass
class SentBatch:
    """One accepted SMTP transaction: who got the message, and when."""

    mail_key: object
    sent_at: datetime
    recipients: list[str]
    message_id: str | None = None


class Interrupted(BaseException):
    """Stops the sending of the current mail (see the module docstring).

    * ``action``: "defer" (stays queued until ``retry_at``), "fail" (can never
      be sent as it is) or "offline" (the server could not be reached or the
      connection broke: retried later, the mailbox is in error).
    * ``scope``: "mail" when only this mail is concerned (the governor's own
      decision), "mailbox" when the next mails of the run would meet the same
      fate (server refusal, connection failure).
    * ``decision``: the :class:`quota.Decision` behind a governor decision.
    * ``error``: the classified :class:`errors.MailSyncError` of a server
      refusal or a connection failure.
    """

    def __init__(
        self,
        action: str,
        *,
        scope: str = "mail",
        retry_at: datetime | None = None,
        decision: quota.Decision | None = None,
        error: errors.MailSyncError | None = None,
    ) -> None:
        super().__init__(action)
        self.action = action
        self.scope = scope
        self.retry_at = retry_at
        self.decision = decision
        self.error = error

    @property
    def reason(self) -> str:
        """English explanation: the governor's reason or the server's answer."""
        if self.decision is not None:
            return self.decision.reason
        if self.error is not None:
            return self.error.detail or self.error.code
        return self.action


@dataclass
class _MailState:
    key: object = None
    recipients: list[str] = field(default_factory=list)
    delivered: set[str] = field(default_factory=set)
    planned: bool = False


def _key(address: str) -> str:
    return normalize(address) or str(address).strip().lower()


def _flatten(msg, from_addr: str, to_addrs: Iterable[str]) -> tuple[bytes, tuple]:
    """The bytes ``smtplib.SMTP.send_message`` would send, and its MAIL options.

    Flattened once per email, then reused by every batch and measured for the
    size limit (the provider counts the whole encoded message)."""
    msg_copy = copy.copy(msg)
    del msg_copy["Bcc"]
    del msg_copy["Resent-Bcc"]
    try:
        "".join([from_addr, *to_addrs]).encode("ascii")
        international = False
    except UnicodeEncodeError:
        international = True
    with io.BytesIO() as buffer:
        if international:
            generator = BytesGenerator(buffer, policy=msg.policy.clone(utf8=True))
            options = ("SMTPUTF8", "BODY=8BITMIME")
        else:
            generator = BytesGenerator(buffer)
            options = ()
        generator.flatten(msg_copy, linesep="\r\n")
        return buffer.getvalue(), options


def _refusal(exc: BaseException) -> tuple[int, str] | None:
    """The (code, text) of an SMTP refusal; for refused recipients the most
    deferrable one (a quota reply, else a 4xx, else the first)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = [
            (code, _text(text)) for code, text in (exc.recipients or {}).values()
        ]
        if not replies:
            return None
        for code, text in replies:
            if errors.is_quota_reply(code, text):
                return code, text
        return min(replies, key=lambda reply: reply[0] >= 500)
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code, _text(exc.smtp_error)
    return None


class GovernedSession:
    """The SMTP session of one personal mailbox for one sending run.

    ``opener()`` returns a connected, authenticated ``smtplib.SMTP`` (and may
    raise anything: it is classified as a connection failure). It is called for
    every new connection, so an opener reading the mailbox's current OAuth
    access token (``ServerSettings.access_token``, refreshed when
    ``client.needs_refresh`` says so) signs each one in with XOAUTH2; a refused
    token stops the mail as "offline" with ``smtp_auth_failed``. ``clock()``
    returns the current time (naive UTC, as Odoo's ``fields.Datetime.now``).
    ``tz`` is the owner's zone, for the times written in the reasons.
    ``from_filter`` and ``smtp_from`` are read by Odoo's
    ``ir.mail_server._prepare_email_message``, as on its own sessions.
    """

    def __init__(
        self,
        opener: Callable[[], smtplib.SMTP],
        profile: quota.QuotaProfile,
        usage: LiveUsage | None = None,
        *,
        clock: Callable[[], datetime],
        tz: tzinfo | None = None,
        from_filter: str | None = None,
        smtp_from: str | None = None,
        host: str = "",
        port: int | None = None,
    ) -> None:
        self.from_filter = from_filter
        self.smtp_from = smtp_from
        self.profile = profile
        self.usage = usage if usage is not None else LiveUsage()
        self.connections_opened = 0
        self.sent: list[SentBatch] = []
        self._opener = opener
        self._clock = clock
        self._tz = tz
        self._host = host
        self._port = port
        self._conn: smtplib.SMTP | None = None
        self._conn_recipients = 0
        self._mail = _MailState()

    # -- per mail ---------------------------------------------------------------

    def begin(
        self,
        mail_key: object,
        recipients: Iterable[str] = (),
        delivered: Iterable[str] = (),
    ) -> None:
        """Start a mail: ``recipients`` are all its envelope recipients (for the
        plan; the first email's own recipients when empty), ``delivered`` those
        a previous attempt already reached (skipped)."""
        self._mail = _MailState(
            key=mail_key,
            recipients=list(recipients),
            delivered={_key(address) for address in delivered},
        )

    def take_sent(self) -> list[SentBatch]:
        """The transactions recorded since the last call (to persist them)."""
        sent, self.sent = self.sent, []
        return sent

    # -- what Odoo calls ------------------------------------------------------------

    def send_message(
        self, msg, from_addr=None, to_addrs=None, mail_options=(), rcpt_options=()
    ) -> dict:
        """Send ``msg`` to ``to_addrs`` within the limits; returns the refused
        recipients as ``smtplib`` does. Raises :class:`Interrupted` to defer or
        fail the mail, the original exception for a permanent refusal."""
        from_addr = from_addr or msg["From"]
        delivered = self._mail.delivered
        todo = list(to_addrs or ())
        if delivered:
            todo = [address for address in todo if _key(address) not in delivered]
        if not todo:
            return {}
        data, options = _flatten(msg, from_addr, todo)
        now = self._clock()
        batches = self._plan(len(data), todo, now)
        refused_all: dict = {}
        for batch in batches:
            conn = self._connection(len(batch))
            if options and not conn.has_extn("smtputf8"):
                raise smtplib.SMTPNotSupportedError(
                    "One or more source or delivery addresses require"
                    " internationalized email support, but the server does not"
                    " advertise the required SMTPUTF8 capability"
                )
            try:
                refused = conn.sendmail(
                    from_addr, batch, data, (*mail_options, *options), rcpt_options
                )
            except Exception as exc:
                self._stop(exc)
                raise
            self._conn_recipients += len(batch)
            accepted = [address for address in batch if address not in refused]
            sent_at = self._clock()
            self.usage.add(sent_at, len(accepted))
            self.sent.append(
                SentBatch(self._mail.key, sent_at, accepted, msg["Message-Id"])
            )
            refused_all.update(refused)
        return refused_all

    def quit(self) -> None:
        """End the connection, if one is open (QUIT, else close)."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except Exception:  # noqa: BLE001 - the server may be gone already
            with contextlib.suppress(Exception):
                conn.close()

    close = quit

    # -- internals ----------------------------------------------------------------

    def _plan(self, size: int, todo: list[str], now: datetime) -> list[list[str]]:
        """The batches of this email, once the governor allows it.

        Odoo sends a mail as one email, or as several (one per notified
        partner). The mail's first email is planned with all the mail's
        recipients first, so that a mail that does not fit waits as a whole;
        then every email is planned on its own against the live usage, so that
        no email ever exceeds a limit (a later email of a mail may then wait:
        its retry skips the recipients already reached)."""
        state = self._mail
        if not state.planned:
            state.planned = True
            everyone = state.recipients
            if state.delivered:
                everyone = [
                    address
                    for address in everyone
                    if _key(address) not in state.delivered
                ]
            if everyone and {_key(address) for address in everyone} != {
                _key(address) for address in todo
            }:
                self._check(
                    quota.plan(
                        self.profile,
                        size_bytes=size,
                        recipients=everyone,
                        usage=self.usage,
                        now=now,
                        tz=self._tz,
                    )
                )
        decision = quota.plan(
            self.profile,
            size_bytes=size,
            recipients=todo,
            usage=self.usage,
            now=now,
            tz=self._tz,
        )
        self._check(decision)
        return decision.batches

    @staticmethod
    def _check(decision: quota.Decision) -> None:
        if decision.action != "send":
            raise Interrupted(
                decision.action, retry_at=decision.defer_until, decision=decision
            )

    def _connection(self, batch_size: int) -> smtplib.SMTP:
        limit = self.profile.recipients_per_connection
        if (
            self._conn is not None
            and limit
            and self._conn_recipients + batch_size > limit
        ):
            self.quit()
        if self._conn is None:
            try:
                self._conn = self._opener()
            except Exception as exc:
                raise Interrupted(
                    "offline",
                    scope="mailbox",
                    error=errors.classify(
                        exc, side="smtp", host=self._host, port=self._port
                    ),
                ) from exc
            self.connections_opened += 1
            self._conn_recipients = 0
        return self._conn

    def _stop(self, exc: Exception) -> None:
        """Turn a failed transaction into :class:`Interrupted` when the mail must
        wait; return (the caller re-raises) when it is a permanent refusal."""
        refusal = _refusal(exc)
        err = errors.classify(exc, side="smtp", host=self._host, port=self._port)
        if refusal is None:
            if isinstance(exc, OSError):  # smtplib errors, sockets, TLS
                self._drop()
                raise Interrupted("offline", scope="mailbox", error=err) from exc
            return
        code, text = refusal
        if code == 421 or getattr(self._conn, "sock", None) is None:
            self._drop()  # smtplib closed it (421) or it is gone
        if quota.classify_smtp_refusal(code, text) == "fail":
            return
        retry_at = quota.quota_retry_at(code, text, self._clock(), self.usage)
        raise Interrupted(
            "defer", scope="mailbox", retry_at=retry_at, error=err
        ) from exc

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
