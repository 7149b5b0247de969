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
import heapq
import itertools
import os
import queue
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


class _Watch:
    """The one thread of the process that fires every armed
    :class:`Watchdog` at its deadline (a heap ordered by when each is due),
    started on the first arm and again in a forked child. One thread for
    all: a check for news opens thousands of connections a run, and a timer
    thread each cost more CPU than the rest of the connection's Python."""

    def __init__(self):
        self.reset()

    def reset(self):
        """Empty, with no thread (a forked child has none of its parent's)."""
        self._cond = threading.Condition(threading.Lock())
        self._heap = []  # (monotonic time due, order, Watchdog)
        self._order = itertools.count()
        self._thread = None

    def arm(self, dog, when):
        with self._cond:
            heapq.heappush(self._heap, (when, next(self._order), dog))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="mail-sync-watchdog", daemon=True
                )
                self._thread.start()
            elif self._heap[0][2] is dog:
                self._cond.notify()  # due before the one the thread waits for

    def _run(self):
        with self._cond:
            while True:
                while self._heap and self._heap[0][2].sock is None:
                    heapq.heappop(self._heap)  # cancelled
                if not self._heap:
                    self._cond.wait()
                    continue
                when, _order, dog = self._heap[0]
                wait = when - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
                dog._fire()


_WATCH = _Watch()
os.register_at_fork(after_in_child=_WATCH.reset)


class Watchdog:
    """Shuts ``sock`` down when ``deadline`` passes, unless cancelled first."""

    def __init__(self, deadline: Deadline, sock):
        self.fired = False
        self.sock = sock
        _WATCH.arm(self, time.monotonic() + deadline.remaining())

    def _fire(self):
        sock, self.sock = self.sock, None
        if sock is not None:
            self.fired = True
            _shutdown(sock)

    def cancel(self):
        self.sock = None  # the watch thread drops it when it comes up


class _Helpers:
    """Threads that run :func:`connect_within`'s connects, each reused once its
    connect ends (a new one only when none is free; an unused one ends after
    a minute). A connect the deadline gave up on keeps its thread until the
    socket's own timeout, as it would keep a thread of its own."""

    IDLE_SECONDS = 60.0

    def __init__(self):
        self.reset()

    def reset(self):
        """No thread (a forked child has none of its parent's)."""
        self._lock = threading.Lock()
        self._free = []  # queue.SimpleQueue of each idle thread

    def run(self, function):
        with self._lock:
            inbox = self._free.pop() if self._free else None
        if inbox is None:
            inbox = queue.SimpleQueue()
            threading.Thread(
                target=self._serve, args=(inbox,), name="mail-sync-connect", daemon=True
            ).start()
        inbox.put(function)

    def _serve(self, inbox):
        while True:
            try:
                function = inbox.get(timeout=self.IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if inbox not in self._free:
                        continue  # just handed a connect: take it
                    self._free.remove(inbox)
                return
            function()
            with self._lock:
                self._free.append(inbox)


_HELPERS = _Helpers()
os.register_at_fork(after_in_child=_HELPERS.reset)


def connect_within(deadline: Deadline | None, connect, close):
    """``connect()`` (which returns a client), given up when ``deadline`` passes
    first: a server may drip its greeting or its TLS handshake, and the socket
    being read is not known until ``connect()`` returns. It runs in a helper
    thread (reused, see :class:`_Helpers`); when the deadline wins, the client
    it still makes is ``close``d as soon as it exists, and the deadline's
    error is raised."""
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

    _HELPERS.run(run)
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
