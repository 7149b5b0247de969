"""Server settings: what is needed to reach and log in to one server.

One class, :class:`ServerSettings`, for both sides; :data:`ImapSettings` and
:data:`SmtpSettings` are its names where the side matters (the IMAP and SMTP
sessions take them). Built once per mailbox per turn and passed as arguments.
"""

from dataclasses import dataclass, field

from .host_policy import PUBLIC_ONLY, HostPolicy

__all__ = ["DEFAULT_TIMEOUT", "ImapSettings", "ServerSettings", "SmtpSettings"]

DEFAULT_TIMEOUT = 30.0


@dataclass
class ServerSettings:
    """How to reach and log in to one IMAP or SMTP server.

    With an ``access_token`` (OAuth 2.0, see ``lib.oauth.client``) the session
    signs in with SASL XOAUTH2 as ``login`` (the mailbox address) instead of the
    password.

    ``host_policy`` (``lib.net.host_policy``) is checked before every connection
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


# The settings of an IMAP server and of an SMTP server: both are ServerSettings.
ImapSettings = ServerSettings
SmtpSettings = ServerSettings
