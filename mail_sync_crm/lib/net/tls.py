"""TLS policy shared by IMAP and SMTP: verified by default, or a pinned certificate.

A "self-signed" server is accepted only through its SHA-256 fingerprint: the first
connection records the fingerprint it saw (shown to the user), and every later
connection must present the same certificate, or it fails with ``cert_changed``.
"""

import functools
import hashlib
import ssl

from .. import errors


def make_context(allow_self_signed: bool) -> ssl.SSLContext:
    """A client context: system trust store and host name check, unless the server
    is self-signed, where trust comes from the pinned fingerprint instead."""
    context = ssl.create_default_context()
    if allow_self_signed:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


@functools.lru_cache(maxsize=2)
def shared_context(allow_self_signed: bool) -> ssl.SSLContext:
    """:func:`make_context`, made once per process for every IMAP, SMTP and
    IDLE session: loading the system's trusted certificates costs ~45 ms of
    CPU and ~1 MB each time, more than a whole incremental sync's Odoo work.
    (A context holds no connection state.)"""
    return make_context(allow_self_signed)


def fingerprint(der: bytes | None) -> str | None:
    """SHA-256 of a DER certificate as colon-separated upper-case hex."""
    if not der:
        return None
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def normalize_fingerprint(value: str | None) -> str | None:
    if not value:
        return None
    hexdigits = "".join(c for c in value if c.isalnum()).upper()
    return ":".join(hexdigits[i : i + 2] for i in range(0, len(hexdigits), 2))


def check_pin(
    sock, allow_self_signed: bool, pinned: str | None, side: str
) -> str | None:
    """Fingerprint of the certificate ``sock`` presents; with ``allow_self_signed``
    and a ``pinned`` fingerprint, raise ``CertificateChanged`` when they differ."""
    seen = fingerprint(sock.getpeercert(binary_form=True))
    if allow_self_signed and pinned and normalize_fingerprint(pinned) != seen:
        raise errors.CertificateChanged(
            expected=normalize_fingerprint(pinned), seen=seen, side=side
        )
    return seen
