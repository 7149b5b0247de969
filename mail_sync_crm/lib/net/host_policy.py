"""Which mail servers a mailbox may connect to: public addresses, and what an
administrator allows besides.

A mailbox's IMAP and SMTP hosts are typed by its owner, and Odoo connects to
them from inside the company's network: left alone, that lets any salesperson
probe the Odoo server's own loopback services, the private network behind it
or the cloud's metadata service. So before every connection the host name is
resolved and **every** address it resolves to must be public, or allowed by
the administrator's list (system parameter ``mail_sync_crm.allowed_hosts``:
comma-separated CIDRs or host names; empty = public addresses only). The
session then connects to an address that was checked, never resolving the
name again (a DNS answer that changes in between, "DNS rebinding", cannot
redirect it), and keeps the host name for TLS (SNI and certificate check):
see :func:`named_context`.

Refused, whatever the name: loopback, private (RFC 1918, RFC 4193 ``fc00::/7``,
the carrier-grade NAT range ``100.64.0.0/10``), link-local, cloud metadata
(``169.254.169.254``, ``fd00:ec2::254``..., and names such as
``metadata.google.internal``, refused before any DNS query), multicast,
unspecified, reserved and any other address that is not globally routable;
an IPv6 address that embeds an IPv4 one (IPv4-mapped, NAT64, 6to4) is judged
by that IPv4 address too:

>>> policy = HostPolicy.parse("")
>>> [refusal(address, policy) for address in ("8.8.8.8", "127.0.0.1", "10.1.2.3")]
[None, 'loopback', 'private']
>>> [refusal(a, policy) for a in ("169.254.169.254", "::ffff:192.168.0.1", "::")]
['cloud metadata', 'private', 'unspecified']

An allowed CIDR (or single address) allows its addresses; an allowed host
name allows that name, whatever private address it resolves to, except the
cloud metadata ones, which only a CIDR containing them allows:

>>> policy = HostPolicy.parse("127.0.0.1, 10.0.0.0/8, mail.corp.example")
>>> [refusal(a, policy) for a in ("127.0.0.1", "::ffff:127.0.0.1", "127.0.0.2")]
[None, None, 'loopback']
>>> refusal("192.168.1.5", policy, "mail.corp.example")
>>> refusal("169.254.169.254", policy, "mail.corp.example")
'cloud metadata'
"""

import contextlib
import errno
import functools
import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .. import errors

__all__ = [
    "ALLOWED_HOSTS_PARAM",
    "PUBLIC_ONLY",
    "HostPolicy",
    "connect_in_turn",
    "named_context",
    "normalize_name",
    "refusal",
]

ALLOWED_HOSTS_PARAM = "mail_sync_crm.allowed_hosts"

# Cloud metadata services: never a mail server. (GCE, AWS, Azure, Oracle:
# 169.254.169.254; AWS over IPv6: fd00:ec2::254; AWS ECS task metadata:
# 169.254.170.2; Alibaba Cloud: 100.100.100.200.)
METADATA_NETWORKS = tuple(
    ipaddress.ip_network(text)
    for text in (
        "169.254.169.254/32",
        "169.254.170.2/32",
        "100.100.100.200/32",
        "fd00:ec2::254/128",
    )
)
METADATA_NAMES = frozenset(
    {
        "metadata.google.internal",
        "metadata.goog",
        "metadata",
        "instance-data",
        "instance-data.ec2.internal",
    }
)

# Checked in this order; the first that contains an address names its refusal.
# Explicit ranges, so that the answer is the same on every Python version
# (ipaddress's is_private/is_global changed in 3.11-3.13); whatever else is
# not globally routable is refused as "reserved" after them.
_REFUSED_NETWORKS = tuple(
    (reason, tuple(ipaddress.ip_network(text) for text in networks))
    for reason, networks in (
        ("unspecified", ("0.0.0.0/32", "::/128")),
        ("loopback", ("127.0.0.0/8", "::1/128")),
        ("link-local", ("169.254.0.0/16", "fe80::/10")),
        (
            "private",
            (
                "10.0.0.0/8",
                "172.16.0.0/12",
                "192.168.0.0/16",
                "100.64.0.0/10",  # carrier-grade NAT (RFC 6598)
                "fc00::/7",  # unique local (RFC 4193)
                "fec0::/10",  # site-local (deprecated)
            ),
        ),
        ("multicast", ("224.0.0.0/4", "ff00::/8")),
        (
            "reserved",
            (
                "0.0.0.0/8",  # "this network"
                "192.0.0.0/24",  # IETF protocol assignments
                "192.0.2.0/24",  # documentation
                "198.18.0.0/15",  # benchmarking
                "198.51.100.0/24",
                "203.0.113.0/24",
                "240.0.0.0/4",  # reserved, and the broadcast address
                "::/8",  # IPv4-compatible and other reserved IPv6
                "100::/64",  # discard-only
                "2001::/23",  # IETF protocol assignments (Teredo included)
                "2001:db8::/32",  # documentation
            ),
        ),
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def normalize_name(name: str) -> str:
    """A host name as compared: lower case, without a final dot or the
    brackets of an IPv6 literal."""
    name = (name or "").strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    return name.rstrip(".")


def _embedded_ipv4(address):
    """The IPv4 address an IPv6 address carries (IPv4-mapped, NAT64, 6to4),
    else None."""
    if address.version != 6:
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def _address(text: str):
    """``text`` as an ip_address (an IPv6 zone such as ``%eth0`` dropped)."""
    return ipaddress.ip_address(text.split("%", 1)[0])


def _kind(address) -> str | None:
    """Why ``address`` is not a public address, or None when it is. An IPv6
    address that carries an IPv4 one is what that IPv4 address is."""
    if any(address in network for network in METADATA_NETWORKS):
        return "cloud metadata"
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return _kind(embedded)
    for reason, networks in _REFUSED_NETWORKS:
        if any(address in network for network in networks):
            return reason
    if not address.is_global or address.is_multicast or address.is_reserved:
        return "reserved"
    return None


@dataclass(frozen=True)
class HostPolicy:
    """The hosts allowed besides public addresses: ``networks`` (ip_network
    objects) and ``names`` (normalised host names). ``invalid`` lists the
    entries of the setting that are neither (ignored, for the log).

    ``resolve(host, port)`` returns the addresses (text) of a host name; it
    is :func:`socket.getaddrinfo` unless a test gives another one."""

    networks: tuple = ()
    names: frozenset = frozenset()
    invalid: tuple = ()
    resolve: Callable[[str, int], Iterable[str]] | None = field(
        default=None, compare=False, repr=False
    )

    @classmethod
    def parse(cls, setting: str | None, resolve=None) -> "HostPolicy":
        """The policy of the system parameter's text (comma- or
        space-separated CIDRs, addresses or host names)."""
        if resolve is None:
            return _parsed(setting or "")
        parsed = _parsed(setting or "")
        return cls(parsed.networks, parsed.names, parsed.invalid, resolve)

    def allows_name(self, host: str) -> bool:
        return normalize_name(host) in self.names

    def addresses(self, host: str, port: int) -> list[str]:
        """Every address ``host`` resolves to (an address literal is itself)."""
        name = normalize_name(host)
        with contextlib.suppress(ValueError):
            return [str(_address(name))]
        resolve = self.resolve or _getaddrinfo
        found = []
        for address in resolve(name, port):
            if address not in found:
                found.append(address)
        return found

    def check(self, host: str, port: int, side: str | None = None) -> list[str]:
        """The addresses to connect to for ``host``: all of them allowed, in
        the resolver's order. Raises ``host_not_allowed`` when the name or any
        address is refused, ``host_unreachable`` when the name does not
        resolve (a classified MailSyncError, raised before any connection)."""
        name = normalize_name(host)
        if name in METADATA_NAMES and not self.allows_name(name):
            raise _not_allowed(host, port, side, name, "cloud metadata")
        try:
            addresses = self.addresses(host, port)
        except UnicodeError as exc:  # not a name IDNA can encode
            raise errors.MailSyncError(
                "host_unreachable", "invalid host name", side=side, host=host, port=port
            ) from exc
        except OSError as exc:
            raise errors.classify(exc, side=side, host=host, port=port) from exc
        if not addresses:
            raise errors.MailSyncError(
                "host_unreachable",
                "the name resolves to no address",
                side=side,
                host=host,
                port=port,
            )
        for address in addresses:
            reason = refusal(address, self, name)
            if reason:
                raise _not_allowed(host, port, side, address, reason)
        return addresses


def refusal(address: str, policy: HostPolicy, host: str = "") -> str | None:
    """Why ``policy`` refuses to connect to ``address`` (reached through the
    name ``host``), or None when it may."""
    ip = _address(address)
    kind = _kind(ip)
    if kind is None:
        return None
    candidates = [ip]
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        candidates.append(embedded)
    for candidate in candidates:
        for network in policy.networks:
            if candidate.version == network.version and candidate in network:
                return None
    if kind != "cloud metadata" and host and policy.allows_name(host):
        return None
    return kind


def _not_allowed(host, port, side, address, reason):
    """The refusal; its detail (the address, why) is for the server log
    only: nothing the user did not type is shown to them."""
    return errors.MailSyncError(
        "host_not_allowed",
        f"{address} is {reason}: not a public address, and not allowed by"
        f" {ALLOWED_HOSTS_PARAM}",
        side=side,
        host=host,
        port=port,
    )


@functools.lru_cache(maxsize=32)
def _parsed(setting: str) -> HostPolicy:
    networks, names, invalid = [], set(), []
    for entry in setting.replace(",", " ").split():
        network = _network(normalize_name(entry))
        if network is not None:
            networks.append(network)
        elif _is_host_name(normalize_name(entry)):
            names.add(normalize_name(entry))
        else:
            invalid.append(entry)
    return HostPolicy(tuple(networks), frozenset(names), tuple(invalid))


def _network(text: str):
    """``text`` as an address range (a lone address is a range of one), or
    None when it is not one."""
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _is_host_name(name: str) -> bool:
    labels = name.split(".")
    return (
        0 < len(name) <= 253
        and all(
            0 < len(label) <= 63
            and label[0] != "-"
            and label[-1] != "-"
            and all(c.isalnum() or c in "-_" for c in label)
            for label in labels
        )
        and not labels[-1].isdigit()
    )


def _getaddrinfo(host: str, port: int) -> list[str]:
    return [
        info[4][0]
        for info in socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    ]


PUBLIC_ONLY = HostPolicy()
"""No address allowed besides public ones (the empty system parameter)."""


# Connecting --------------------------------------------------------------------

# Errors of a TCP connect that say "not this address": the next one is tried.
_NEXT_ADDRESS_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ENETUNREACH,
        errno.EHOSTUNREACH,
        errno.EADDRNOTAVAIL,
        errno.EAFNOSUPPORT,
    }
)


def connect_in_turn(addresses: list[str], connect: Callable[[str], object]):
    """``connect(address)`` for each checked address in turn until one
    connects (as :func:`socket.create_connection` tries each address of a
    name); only a refused or unroutable connection moves on to the next."""
    for position, address in enumerate(addresses):
        try:
            return connect(address)
        except OSError as exc:
            if position == len(addresses) - 1 or exc.errno not in _NEXT_ADDRESS_ERRNOS:
                raise
    raise errors.MailSyncError("host_unreachable", "no address to connect to")


async def connect_in_turn_async(addresses: list[str], connect):
    """:func:`connect_in_turn` for asyncio: ``await connect(address)`` for
    each checked address in turn until one connects (the listener's watch,
    ``lib.imap.idle``)."""
    for position, address in enumerate(addresses):
        try:
            return await connect(address)
        except OSError as exc:
            if position == len(addresses) - 1 or exc.errno not in _NEXT_ADDRESS_ERRNOS:
                raise
    raise errors.MailSyncError("host_unreachable", "no address to connect to")


def named_context(context, host: str):
    """``context`` (an ``ssl.SSLContext``) giving ``host`` as the server name
    of every socket it wraps: the session connects to a checked address, and
    TLS still sends the host name (SNI) and checks the certificate against it.
    imaplib, imapclient and smtplib only call its ``wrap_socket``."""
    return _NamedContext(context, host)


class _NamedContext:
    """See :func:`named_context`; anything but ``wrap_socket`` is the
    context's own."""

    def __init__(self, context, host: str):
        self._context = context
        self._host = normalize_name(host) or None

    def wrap_socket(self, sock, *args, server_hostname=None, **kwargs):
        return self._context.wrap_socket(
            sock, *args, server_hostname=self._host or server_hostname, **kwargs
        )

    def __getattr__(self, name):
        return getattr(self._context, name)
