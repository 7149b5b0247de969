"""A mailbox's turn has a deadline, whatever the server does.

Per-socket timeouts do not bound a turn: a server sending one byte every ten
seconds never lets a 30-second read time out. :class:`Deadline` is the turn's
end; :class:`Watchdog` enforces it on a connection by shutting its socket down
at that instant, so that whatever read is waiting returns at once (the IMAP
session arms one for each connection it opens, and opens a connection in a
helper thread it stops waiting for at the deadline: see
:func:`connect_within`). The sync engine also starts no new batch past the
deadline; what was checkpointed stays.
"""

import contextlib
import socket
import threading
import time

from .. import errors

__all__ = ["DEFAULT_TURN_SECONDS", "Deadline", "Watchdog", "connect_within"]

DEFAULT_TURN_SECONDS = 180


class Deadline:
    """``seconds`` from now (``clock``: ``time.monotonic``); when it passes,
    the error is ``code`` (a sync's turn: ``sync_deadline``; Connect's
    shorter deadline: ``timeout``)."""

    def __init__(self, seconds: float, clock=time.monotonic, code="sync_deadline"):
        self.seconds = seconds
        self.clock = clock
        self.end = clock() + seconds
        self.code = code

    def remaining(self) -> float:
        return max(0.0, self.end - self.clock())

    @property
    def expired(self) -> bool:
        return self.clock() >= self.end

    def error(self, side="imap", host="", port=None) -> errors.MailSyncError:
        return errors.MailSyncError(
            self.code,
            f"the mailbox's turn ended after {self.seconds:g} s"
            if self.code == "sync_deadline"
            else f"no answer within {self.seconds:g} s",
            side=side,
            host=host,
            port=port,
            params={"seconds": self.seconds},
        )


def _shutdown(sock) -> None:
    """End every read and write of ``sock`` (the TCP socket under any TLS
    layer, which is left alone: another thread may be inside it)."""
    with contextlib.suppress(OSError, TypeError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class Watchdog:
    """Shuts ``sock`` down when ``deadline`` passes, unless cancelled first."""

    def __init__(self, deadline: Deadline, sock):
        self.fired = False
        self.timer = threading.Timer(deadline.remaining(), self._fire, args=(sock,))
        self.timer.daemon = True
        self.timer.name = "mail-sync-watchdog"
        self.timer.start()

    def _fire(self, sock):
        self.fired = True
        _shutdown(sock)

    def cancel(self):
        self.timer.cancel()


def connect_within(deadline: Deadline | None, connect, close):
    """``connect()`` (which returns a client), given up when ``deadline`` passes
    first: a server may drip its greeting or its TLS handshake, and the socket
    being read is not known until ``connect()`` returns. It runs in a helper
    thread; when the deadline wins, the client it still makes is ``close``d
    as soon as it exists, and the deadline's error is raised."""
    if deadline is None:
        return connect()
    outcome = {}
    lock = threading.Lock()
    done = threading.Event()

    def run():
        try:
            client = connect()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            outcome["error"] = exc
        else:
            with lock:
                abandoned = outcome.get("abandoned")
                outcome["client"] = client
            if abandoned:
                with contextlib.suppress(Exception):
                    close(client)
        finally:
            done.set()

    threading.Thread(target=run, name="mail-sync-connect", daemon=True).start()
    done.wait(deadline.remaining())
    with lock:
        if "client" not in outcome and "error" not in outcome:
            outcome["abandoned"] = True
            raise deadline.error()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["client"]


def session_error(exc, side, settings, deadline=None, before_login=False):
    """The ``MailSyncError`` an IMAP or SMTP session reports for ``exc``: the
    deadline's own once it has passed (whatever the socket said then), else
    ``exc`` classified for ``settings`` (its secrets redacted); with
    ``before_login``, marked as said before a login succeeded (no server text
    is kept)."""
    if deadline is not None and deadline.expired:
        err = deadline.error(side=side, host=settings.host, port=settings.port)
    else:
        err = errors.classify(
            exc,
            side=side,
            host=settings.host,
            port=settings.port,
            secrets=settings.secrets,
            auth=settings.auth,
        )
    err.before_login = err.before_login or before_login
    return err
