"""The life cycle every test server shares.

``with Server(...) as server:`` starts it and stops it; ``start()`` refuses a
second start; ``stop()`` is idempotent, also runs at interpreter exit when a
test forgot it, and removes the server's work directory. A server with a
``workdir_prefix`` gets a fresh work directory (``dir``) holding a self-signed
certificate for localhost (``cert_path``, ``key_path``, ``cert_pem``,
``cert_fingerprint``) before its own ``_start`` runs.
"""

import atexit

from ._common import make_self_signed_cert, make_workdir, remove_workdir


class TestServer:
    workdir_prefix = None  # e.g. "smtp-": a work directory with a certificate
    already_started_error = RuntimeError

    def __init__(self):
        self.dir = None
        self.cert_path = None
        self.key_path = None
        self.cert_pem = None
        self.cert_fingerprint = None
        self._cert = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def started(self):
        """True between a ``start()`` and the next ``stop()``."""
        raise NotImplementedError

    def start(self):
        if self.started:
            raise self.already_started_error(f"{type(self).__name__} already started")
        atexit.register(self.stop)
        try:
            if self.workdir_prefix:
                self.dir = make_workdir(self.workdir_prefix)
                self._cert = make_self_signed_cert(self.dir)
                self.cert_path = self._cert.cert_path
                self.key_path = self._cert.key_path
                self.cert_pem = self._cert.cert_pem
                self.cert_fingerprint = self._cert.fingerprint
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        """Stop the server and remove its work directory. Idempotent."""
        atexit.unregister(self.stop)
        try:
            self._stop()
        finally:
            remove_workdir(self.dir)

    def _start(self):
        raise NotImplementedError

    def _stop(self):
        raise NotImplementedError
