"""TLS policy shared by IMAP and SMTP: verified by default, or a pinned certificate.

A "self-signed" server is accepted only through its SHA-256 fingerprint: the first
connection records the fingerprint it saw (shown to the user), and every later
connection must present the same certificate, or it fails with ``cert_changed``.
"""

import hashlib
import ssl
from dataclasses import dataclass, field

from . import errors
from .host_policy import PUBLIC_ONLY, HostPolicy

DEFAULT_TIMEOUT = 30.0


@dataclass
class ServerSettings:
    """How to reach and log in to one IMAP or SMTP server.

    With an ``access_token`` (OAuth 2.0, see ``lib.oauth``) the session signs
    in with SASL XOAUTH2 as ``login`` (the mailbox address) instead of the
    password.

    ``host_policy`` (``lib.host_policy``) is checked before every connection
    the session opens, and the session connects to the address it checked;
    by default only public addresses are allowed.
    """

    host: str
    port: int
    encryption: str = "ssl"  # ssl | starttls | none
    allow_self_signed: bool = False
    pinned_fingerprint: str | None = None
    login: str = ""
    password: str = field(default="", repr=False)
    timeout: float = DEFAULT_TIMEOUT
    access_token: str | None = field(default=None, repr=False)
    host_policy: HostPolicy = PUBLIC_ONLY

    @property
    def secrets(self) -> tuple:
        """What no error text or log may show: the password and the token."""
        return (self.password, self.access_token)

    @property
    def auth(self) -> str | None:
        """ "oauth" when the session signs in with XOAUTH2, else None."""
        return "oauth" if self.access_token else None


def make_context(allow_self_signed: bool) -> ssl.SSLContext:
    """A client context: system trust store and host name check, unless the server
    is self-signed, where trust comes from the pinned fingerprint instead."""
    context = ssl.create_default_context()
    if allow_self_signed:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


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
