"""The one decision "is this address blocked for this user?".

A blocklist entry is either an email (``Ceo@Acme.com``) or a domain, written
``acme.com``, ``@acme.com`` or ``*.acme.com``; a domain entry also blocks all
its subdomains (``sales.acme.com``) but not look-alikes (``notacme.com``). The
company's own domains, when the company blocks them, count as domain entries.

:class:`Blocklist` is built once per sync run and answers each lookup with a
few set look-ups (one per suffix of the address's domain), whatever the
number of entries. :func:`validate_entry` gives the canonical stored form of
an entry, or a clear error for the user; :func:`blocking_entry` tells which
entry blocks an address (what "Why is this email not here?" shows).
"""

import re
from collections.abc import Iterable

from ..message.addresses import normalize

__all__ = ["OWN_DOMAIN", "Blocklist", "blocking_entry", "is_blocked", "validate_entry"]

_LABEL_RE = re.compile(r"(?!-)[a-z0-9_\-\u0080-\U0010ffff]{1,63}(?<!-)")
_MAX_DOMAIN_LENGTH = 253


def _canonical_domain(value: str) -> str | None:
    """Return the canonical domain of ``value`` or None when it is not one.

    Accepts ``acme.com``, ``@acme.com``, ``*.acme.com`` and ``.acme.com``, in any
    case, with an optional trailing dot. The domain needs at least two labels
    and a non-numeric top-level label (so IP addresses are refused).
    """
    domain = value.strip().lower()
    for prefix in ("@", "*.", "."):
        if domain.startswith(prefix):
            domain = domain[len(prefix) :]
            break
    domain = domain.rstrip(".")
    if not domain or len(domain) > _MAX_DOMAIN_LENGTH:
        return None
    labels = domain.split(".")
    if len(labels) < 2 or labels[-1].isdigit():
        return None
    if all(_LABEL_RE.fullmatch(label) for label in labels):
        return domain
    return None


def _idna_variants(domain: str) -> set[str]:
    """The domain in both Unicode and punycode (``xn--``) forms, when possible."""
    try:
        if domain.isascii():
            other = domain.encode("ascii").decode("idna")
        else:
            other = domain.encode("idna").decode("ascii")
    except (UnicodeError, ValueError):
        return {domain}
    return {domain, other.lower()}


def validate_entry(value: str) -> str:
    """Return the canonical stored form of a blocklist entry.

    That is the lower-case email for an email, or the bare lower-case domain
    (without ``@`` or ``*.``) for a domain. Raises ``ValueError`` with an
    English message for anything that is neither.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError("A blocklist entry cannot be empty.")
    text = value.strip()
    if "://" in text or "/" in text:
        raise ValueError(
            f"'{text}' is a web address: enter an email address or just the"
            " domain, e.g. 'example.com'."
        )
    if "@" in text.lstrip("@"):
        email = normalize(text) if text.count("@") == 1 else None
        if email and email == text.lower().strip("<>") and _email_domain_ok(email):
            return email
        raise ValueError(
            f"'{text}' is not a valid email address: write it like 'name@example.com'."
        )
    domain = _canonical_domain(text)
    if domain is None:
        raise ValueError(
            f"'{text}' is neither an email address nor a domain: write an"
            " email like 'name@example.com' or a domain like 'example.com'."
        )
    return domain


def _email_domain_ok(email: str) -> bool:
    return _canonical_domain(email.rpartition("@")[2]) is not None


def _entry(value: str) -> tuple[str, str] | None:
    """Classify a stored value as ('email', x) or ('domain', x); None if invalid."""
    try:
        canonical = validate_entry(value)
    except ValueError:
        return None
    return ("email" if "@" in canonical else "domain", canonical)


class Blocklist:
    """Blocked emails and domains of one user, built once, queried many times.

    Invalid entries in ``values`` or ``own_domains`` are ignored (they are
    validated when stored; a bad legacy row must not stop a sync).
    """

    __slots__ = ("_domains", "_emails", "_erased")

    def __init__(
        self,
        values: Iterable[str] = (),
        own_domains: Iterable[str] = (),
        erased: Iterable[str] = (),
    ):
        self._emails: set[str] = set()
        self._domains: set[str] = set()
        # Erased addresses (a person whose data was erased on request): blocked,
        # and no message naming them in any address field is recorded.
        self._erased: set[str] = {e for e in map(normalize, erased or ()) if e}
        self._emails |= self._erased
        if isinstance(values, str):
            values = [values]
        if isinstance(own_domains, str):
            own_domains = [own_domains]
        for value in values or ():
            entry = _entry(value)
            if entry is None:
                continue
            kind, canonical = entry
            if kind == "email":
                self._emails.add(canonical)
            else:
                self._domains |= _idna_variants(canonical)
        for value in own_domains or ():
            domain = _canonical_domain(value) if isinstance(value, str) else None
            if domain:
                self._domains |= _idna_variants(domain)

    @property
    def emails(self) -> frozenset[str]:
        """The blocked emails (canonical form)."""
        return frozenset(self._emails)

    @property
    def domains(self) -> frozenset[str]:
        """The blocked domains, own domains included (Unicode and punycode)."""
        return frozenset(self._domains)

    @property
    def erased(self) -> frozenset[str]:
        """The erased emails: a message naming one is never recorded."""
        return frozenset(self._erased)

    def names_erased(self, addresses: Iterable[str]) -> bool:
        """True when one of ``addresses`` (normalised) is an erased email."""
        return bool(self._erased) and any(a in self._erased for a in addresses)

    def blocks(self, address: str | bytes | None) -> bool:
        """True when ``address`` (raw or normalised) is blocked.

        Blocked means: equal to a blocked email, or its domain equals or is a
        subdomain of a blocked domain. Invalid or empty addresses are not.
        """
        email = normalize(address)
        if email is None:
            return False
        if email in self._emails:
            return True
        if not self._domains:
            return False
        domain = email.rpartition("@")[2]
        while True:
            if domain in self._domains:
                return True
            dot = domain.find(".")
            if dot < 0:
                return False
            domain = domain[dot + 1 :]

    __contains__ = blocks

    def __repr__(self) -> str:
        return f"<Blocklist {len(self._emails)} emails, {len(self._domains)} domains>"


def is_blocked(
    address: str | bytes | None,
    values: Iterable[str],
    own_domains: Iterable[str] = (),
) -> bool:
    """Convenience: build a :class:`Blocklist` and check one address."""
    return Blocklist(values, own_domains).blocks(address)


# The kind of what blocks an address when it is one of the company's own domains.
OWN_DOMAIN = "own_domain"


def blocking_entry(
    address: str | bytes | None,
    values: Iterable[str],
    own_domains: Iterable[str] = (),
) -> tuple[str, str] | None:
    """Which entry blocks ``address``: ``("email" | "domain", the entry as
    stored)``, or ``(OWN_DOMAIN, domain)`` for one of the company's own domains
    (when the company blocks them), or None. An entry of ``values`` that blocks
    it comes first (the user can remove it), the own domains after."""
    if normalize(address) is None:
        return None
    for value in values:
        entry = _entry(value)
        if entry is not None and Blocklist([value]).blocks(address):
            return entry
    for domain in own_domains:
        if Blocklist(own_domains=[domain]).blocks(address):
            return (OWN_DOMAIN, _canonical_domain(domain) or domain)
    return None
