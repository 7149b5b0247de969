"""What colleagues see of a synced email (no Odoo import).

A mailbox has a *visibility level*, the owner's choice within the company's
rules; an email of a *private* thread shows as little as the most private level.
The owner always sees their own mail in full: the levels say what everyone else
reads.

* ``full``: everything (subject, text, attachments, participants, date);
* ``subject``: the subject, participants and date (no text, no attachments);
* ``metadata``: the participants and date only.

:func:`effective_level` applies the company's rules to the owner's choice,
:func:`shown_level` a thread's privacy to a mailbox's level;
:func:`in_private_thread` says whether a new email answers a private one;
:func:`names_address` and :func:`bcc_only` decide what an erasure of one
address removes.
"""

from collections.abc import Iterable

__all__ = [
    "LEVELS",
    "bcc_only",
    "effective_level",
    "in_private_thread",
    "more_private",
    "names_address",
    "shown_level",
    "split_addresses",
]

# From the most shared to the most private.
LEVELS = ("full", "subject", "metadata")
_RANK = {level: rank for rank, level in enumerate(LEVELS)}


def _checked(level):
    if level not in _RANK:
        raise ValueError(f"unknown visibility level {level!r}")
    return level


def more_private(*levels):
    """The most private of ``levels`` (empty values ignored; ``full`` when none)."""
    chosen = [_checked(level) for level in levels if level]
    return max(chosen, key=_RANK.__getitem__, default="full")


def effective_level(chosen, floor=None, forced=None):
    """The level that applies to a mailbox: the company's ``forced`` level when
    it sets one, else the owner's ``chosen`` level made at least as private as
    the company's ``floor`` (the most the company lets an owner share).

    >>> effective_level("full")
    'full'
    >>> effective_level("full", floor="subject")
    'subject'
    >>> effective_level("metadata", floor="subject")
    'metadata'
    >>> effective_level("metadata", forced="full")
    'full'
    """
    if forced:
        return _checked(forced)
    return more_private(chosen or "full", floor)


def shown_level(level, private=False):
    """What colleagues see of one email: a private thread's emails show the
    participants and date only, whatever the mailbox's level.

    >>> shown_level("full"), shown_level("full", private=True)
    ('full', 'metadata')
    """
    return "metadata" if private else _checked(level or "full")


def split_addresses(value):
    """The addresses of a stored list ("a@x.com, b@y.com"), lower-cased."""
    return [part.strip().lower() for part in (value or "").split(",") if part.strip()]


def in_private_thread(in_reply_to, references, private_ids):
    """Whether an email that answers ``in_reply_to`` and names ``references``
    (Message-IDs) continues a thread whose emails ``private_ids`` are private.

    >>> in_private_thread("<a@x>", [], {"<a@x>"})
    True
    >>> in_private_thread(None, ["<b@x>"], {"<a@x>"})
    False
    """
    named = set(references or ())
    if in_reply_to:
        named.add(in_reply_to)
    return bool(named & set(private_ids))


def names_address(address, sender, to, cc):
    """Whether an email from ``sender`` (a normalised address) to ``to`` and
    ``cc`` (stored lists, see :func:`split_addresses`) names ``address``."""
    address = (address or "").strip().lower()
    if not address:
        return False
    return (sender or "").strip().lower() == address or address in (
        split_addresses(to) + split_addresses(cc)
    )


def bcc_only(lead_addresses: Iterable[str], direction, to, cc):
    """Whether a sent email was recorded on a lead through a blind copy: the
    sync matches any recipient of a Sent email, Bcc included, and stores To and
    Cc only; a sent email whose To and Cc name none of the lead's addresses
    reached the lead by Bcc (an erasure of one of those addresses removes it)."""
    if direction != "out":
        return False
    named = set(split_addresses(to) + split_addresses(cc))
    return not named & {a.strip().lower() for a in lead_addresses if a}
