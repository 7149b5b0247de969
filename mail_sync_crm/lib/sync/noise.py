"""Noise: mailing-list and automated mail, kept off the leads.

:func:`classify` reads a message's header fields (a
:class:`~lib.message.headers.HeaderInfo`, whose fetch includes the fields named
in :data:`lib.message.headers.NOISE_FIELDS`) and tells which rule, if any, keeps
it out. Each rule is one skip reason (:mod:`lib.sync.skip_reasons`), and each can
be switched off (the company settings pass the set of rules on):

``mailing_list``
    A List-Id field (RFC 2919: every list manager adds one), or a
    List-Unsubscribe field (RFC 2369) together with ``Precedence: bulk``,
    ``list`` or ``junk`` (newsletters sent without a list manager). A
    ``Precedence: bulk`` alone, or a List-Unsubscribe alone (many personal
    mailers add one), is not enough.

    *Exception*: a message addressed to one of the leads it belongs to is
    recorded all the same: one of its To or Cc addresses is an address of a
    lead the message matched (the lead's own address or its contact's; Bcc
    does not count). That is a person writing to the lead through a list or
    from a list address (a shared team address, a reply that went through a
    list), not the list's broadcast. The caller, which knows the leads, says
    so with ``to_lead``.

``automated``
    An Auto-Submitted field (RFC 3834) other than ``no``: ``auto-generated``,
    ``auto-replied`` (out-of-office and other automatic replies),
    ``auto-notified``, or any other value.

``role_sender``
    A sender (From) whose local part is a role rather than a person:
    :data:`ROLE_WORDS` (``no-reply``, ``noreply``, ``do-not-reply``,
    ``donotreply``, ``mailer-daemon``, ``postmaster``, ``notification(s)``,
    ``bounce(s)``), written with or without ``-``, ``_`` or ``.`` between
    its words, as the whole local part or as its first or last part
    (``noreply-billing@``, ``github-noreply@``, ``bounces+1234@``, ``mailer-daemon``);
    case does not matter. ``info@``, ``sales@``, ``support@`` are not roles:
    people answer them.

When several rules apply, the first in :data:`RULES` order gives the reason.
"""

import re
from collections.abc import Iterable

from ..message.headers import HeaderInfo
from . import skip_reasons

__all__ = ["PRECEDENCE_LIST", "ROLE_WORDS", "RULES", "classify", "is_role_address"]

# The rules, in the order they are tried.
RULES = (
    skip_reasons.MAILING_LIST,
    skip_reasons.AUTOMATED,
    skip_reasons.ROLE_SENDER,
)
# Precedence values that make a List-Unsubscribe message a list's.
PRECEDENCE_LIST = frozenset(("bulk", "list", "junk"))
# Local parts of role senders, as words (separators between them optional).
ROLE_WORDS = (
    ("no", "reply"),
    ("do", "not", "reply"),
    ("mailer", "daemon"),
    ("postmaster",),
    ("notification",),
    ("notifications",),
    ("bounce",),
    ("bounces",),
)
_SEPARATOR = r"[-_.]?"
_ROLE = "|".join(_SEPARATOR.join(words) for words in ROLE_WORDS)
# The role as the whole local part, its first part (before - _ . +) or its
# last part (after - _ .); a subaddress (+tag) is ignored.
_ROLE_RE = re.compile(rf"(?:{_ROLE})(?:[-_.+].*)?|[^+]*[-_.](?:{_ROLE})(?:\+.*)?")


def is_role_address(address: str) -> bool:
    """Whether ``address`` (normalised: lower-case) is a role sender's."""
    local = address.rpartition("@")[0]
    return bool(local) and _ROLE_RE.fullmatch(local) is not None


def _mailing_list(header: HeaderInfo) -> bool:
    if header.list_id:
        return True
    return header.list_unsubscribe and header.precedence in PRECEDENCE_LIST


def _automated(header: HeaderInfo) -> bool:
    return bool(header.auto_submitted) and header.auto_submitted != "no"


def _role_sender(header: HeaderInfo) -> bool:
    return any(is_role_address(address) for address in header.from_)


def classify(
    header: HeaderInfo,
    rules: Iterable[str] = RULES,
    to_lead: bool = False,
) -> str | None:
    """The skip reason of the first rule of ``rules`` (enabled rules, see
    :data:`RULES`) that keeps ``header``'s message out, or None to record it.
    ``to_lead``: one of its To/Cc addresses is an address of a lead it belongs
    to (the mailing-list rule then lets it through)."""
    enabled = set(rules)
    if skip_reasons.MAILING_LIST in enabled and not to_lead and _mailing_list(header):
        return skip_reasons.MAILING_LIST
    if skip_reasons.AUTOMATED in enabled and _automated(header):
        return skip_reasons.AUTOMATED
    if skip_reasons.ROLE_SENDER in enabled and _role_sender(header):
        return skip_reasons.ROLE_SENDER
    return None


def may_be_list(header: HeaderInfo, rules: Iterable[str] = RULES) -> bool:
    """Whether the mailing-list rule is on and would keep ``header`` out (so
    the caller has to find out whether it is addressed to one of its leads)."""
    return skip_reasons.MAILING_LIST in set(rules) and _mailing_list(header)
