"""Ports on loopback that are not mail servers, for the host policy's tests.

* :class:`BannerPort` talks another protocol: it greets each connection with
  its banner (by default an SSH server's) and then waits, saying nothing more.
* :class:`SilentPort` never says anything: connections complete (the
  kernel's backlog) and nobody ever accepts them.
* :class:`TlsNamePort` completes TLS handshakes with a self-signed
  certificate and records the server name (SNI) each client asked for.

Each counts the connections it saw (``connection_count``; for SilentPort, the
ones waiting in its backlog are not counted).
"""

import contextlib
import socket
import threading

from ._common import LOOPBACK
from ._server import TestServer

__all__ = ["SSH_BANNER", "BannerPort", "SilentPort", "TlsNamePort"]

SSH_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"


class _AcceptingPort(TestServer):
    """A listening socket on loopback and a thread accepting on it, each
    connection handed to :meth:`_serve` and closed at :meth:`stop`."""

    def __init__(self, host=LOOPBACK):
        super().__init__()
        self.host = host
        self.port = None
        self.connection_count = 0
        self._listener = None
        self._thread = None
        self._stopping = threading.Event()
        self._connections = []
        self._lock = threading.Lock()

    @property
    def started(self):
        return self._listener is not None

    def _start(self):
        self._stopping.clear()
        self._listener = socket.create_server((self.host, 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(
            target=self._accept_loop, name=type(self).__name__, daemon=True
        )
        self._thread.start()

    def _accept_loop(self):
        while not self._stopping.is_set():
            try:
                conn, _peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connection_count += 1
                self._connections.append(conn)
            threading.Thread(
                target=self._serve_quietly, args=(conn,), daemon=True
            ).start()

    def _serve_quietly(self, conn):
        with contextlib.suppress(OSError, ValueError):
            self._serve(conn)

    def _serve(self, conn):
        raise NotImplementedError

    def _stop(self):
        self._stopping.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()


class BannerPort(_AcceptingPort):
    """Sends ``banner`` to each connection, then waits until stopped."""

    def __init__(self, banner=SSH_BANNER, host=LOOPBACK):
        super().__init__(host)
        self.banner = banner

    def _serve(self, conn):
        conn.sendall(self.banner)
        self._stopping.wait()


class TlsNamePort(_AcceptingPort):
    """Completes a TLS handshake (self-signed certificate for localhost and
    127.0.0.1) with each connection, records the SNI name it asked for in
    ``server_names`` (None when it sent none), then closes it."""

    workdir_prefix = "tls-name-"

    def __init__(self, host=LOOPBACK):
        super().__init__(host)
        self.server_names = []

    def _serve(self, conn):
        context = self._cert.server_context()
        asked = []
        context.sni_callback = lambda _sock, name, _context: asked.append(name)
        conn.settimeout(5)
        with context.wrap_socket(conn, server_side=True) as tls_conn:
            self.server_names.append(asked[0] if asked else None)
            tls_conn.settimeout(1)
            with contextlib.suppress(OSError):
                tls_conn.recv(1)


class SilentPort(TestServer):
    """A port that listens and never answers (nobody accepts)."""

    def __init__(self, host=LOOPBACK):
        super().__init__()
        self.host = host
        self.port = None
        self._listener = None

    @property
    def started(self):
        return self._listener is not None

    def _start(self):
        self._listener = socket.create_server((self.host, 0), backlog=16)
        self.port = self._listener.getsockname()[1]

    def _stop(self):
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
