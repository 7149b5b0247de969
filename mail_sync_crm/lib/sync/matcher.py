"""Which fetched messages belong to which leads.

The sync builds a lead index once per run (normalised email -> lead ids) and
hands each batch of :class:`~lib.message.headers.HeaderInfo` to :func:`match`:

* direction ``"in"`` (Inbox): the sender (From) is matched;
* direction ``"out"`` (Sent): any recipient (To, Cc, Bcc) is matched.

A blocked address (:meth:`Blocklist.blocks`) never matches; a message naming
an erased address anywhere (:meth:`Blocklist.names_erased`) is not recorded at
all; a message matching several leads gives one :class:`Match` carrying all of
them. Given a ``skips`` dict, :func:`match` notes why each other message is
left out: ``blocklisted`` when one of its candidate addresses is a lead's but
blocked (or it names an erased address), ``no_lead`` otherwise.
"""

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice

from ..message.headers import HeaderInfo
from . import skip_reasons

__all__ = ["DIRECTIONS", "Match", "candidate_addresses", "chunks", "match"]

DIRECTIONS = ("in", "out")


@dataclass(frozen=True, slots=True)
class Match:
    """One message to record: its UID and Message-ID, the leads it belongs to
    and the (normalised) addresses that matched, in header order."""

    uid: int
    message_id: str
    lead_ids: frozenset
    addresses: tuple


def chunks(seq: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of at most ``size`` items of ``seq`` (any iterable)."""
    if size < 1:
        raise ValueError("chunk size must be at least 1")
    iterator = iter(seq)
    while True:
        chunk = list(islice(iterator, size))
        if not chunk:
            return
        yield chunk


def _candidates(header: HeaderInfo, direction: str) -> Sequence[str]:
    if direction == "in":
        return header.from_
    return header.recipients


def candidate_addresses(headers: Iterable[HeaderInfo], direction: str) -> set[str]:
    """Every address :func:`match` looks up in the lead index for ``headers``."""
    return {address for header in headers for address in _candidates(header, direction)}


class _BlockCache:
    """``blocklist.blocks`` memoised per run (correspondents recur a lot)."""

    __slots__ = ("_blocklist", "_seen")

    def __init__(self, blocklist):
        self._blocklist = blocklist
        self._seen: dict[str, bool] = {}

    def names_erased(self, header: HeaderInfo) -> bool:
        names_erased = getattr(self._blocklist, "names_erased", None)
        if names_erased is None:
            return False
        return names_erased(header.from_ + header.recipients)

    def blocks(self, address: str) -> bool:
        if self._blocklist is None:
            return False
        blocked = self._seen.get(address)
        if blocked is None:
            blocked = self._seen[address] = bool(self._blocklist.blocks(address))
        return blocked


def match(
    headers: Iterable[HeaderInfo],
    direction: str,
    lead_index: Mapping[str, Iterable[int]],
    blocklist=None,
    skips: dict | None = None,
) -> list[Match]:
    """The messages of ``headers`` that belong to at least one lead.

    ``lead_index`` maps normalised emails to lead ids; ``blocklist`` is
    anything with ``blocks(address) -> bool`` (or None). Messages come out in
    input order. ``skips``: gets ``{UID: skip reason}`` of the others (a UID
    already in it keeps its reason).
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'in' or 'out', not {direction!r}")
    blocked = _BlockCache(blocklist)
    matches = []
    for header in headers:
        lead_ids: set[int] = set()
        matched: list[str] = []
        reason = skip_reasons.NO_LEAD
        for address in _candidates(header, direction):
            leads = lead_index.get(address)
            if not leads:
                continue
            if blocked.blocks(address):
                reason = skip_reasons.BLOCKLISTED
            else:
                lead_ids.update(leads)
                matched.append(address)
        if lead_ids and blocked.names_erased(header):
            lead_ids, reason = set(), skip_reasons.BLOCKLISTED
        if lead_ids:
            leads = frozenset(lead_ids)
            matches.append(Match(header.uid, header.message_id, leads, tuple(matched)))
        elif skips is not None:
            skips.setdefault(header.uid, reason)
    return matches
