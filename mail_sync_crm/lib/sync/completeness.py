"""How complete and how fresh a mailbox's sync is: the arithmetic of the
mailbox's Completeness figures, in plain Python (the Odoo side stores what the
server and the turns said and shows what this computes).

Per folder, from the last EXAMINE of it (by a turn or by the reconciliation):

* **on the server** — the folder's EXISTS;
* **not yet scanned** — the messages above the checkpoint (counted by a
  ``UID SEARCH`` by the reconciliation; after a turn, what its run still had
  to scan);
* **scanned** — on the server minus not yet scanned: the messages at or below
  the checkpoint;
* **recorded** — the folder's ledger rows (distinct UIDs), **held** — its held
  messages waiting for another try, **skipped** — the rest of the scanned
  ones (or the skip counts by reason, where the sync keeps them).

The **lag** is how long the message that has waited longest for the sync has
waited: the time since the oldest message above the checkpoint arrived on the
server (its INTERNALDATE), and never since before the folder was last seen
with nothing to scan (an INTERNALDATE in the past — mail imported or appended
with an old date — says nothing of when the sync could first see it):

>>> import datetime as dt
>>> t = dt.datetime(2026, 12, 7, 12, 0)
>>> minutes, days = dt.timedelta(minutes=1), dt.timedelta(days=1)
>>> waiting_since(t - 5 * minutes, caught_up=t - days, seen=t)
datetime.datetime(2026, 12, 7, 11, 55)
>>> waiting_since(t - 300 * days, caught_up=t - 60 * minutes, seen=t)
datetime.datetime(2026, 12, 7, 11, 0)
>>> waiting_since(None, caught_up=None, seen=t)  # no date known: since it was seen
datetime.datetime(2026, 12, 7, 12, 0)
>>> lag_seconds(t - dt.timedelta(minutes=5), now=t), lag_seconds(None, now=t)
(300, 0)

A mailbox is *falling behind* when its lag is above the threshold (system
parameter ``mail_sync_crm.lag_threshold_minutes``, default 30), or when it held
more messages at this reconciliation than at the one before:

>>> falling_behind(lag=3600, threshold=1800, held=0, held_before=0)
True
>>> falling_behind(lag=60, threshold=1800, held=2, held_before=1)
True
>>> falling_behind(lag=60, threshold=1800, held=1, held_before=2)
False
>>> lag_threshold_seconds(None), lag_threshold_seconds("5"), lag_threshold_seconds("x")
(1800, 300, 1800)
"""

import datetime
from dataclasses import dataclass

__all__ = [
    "DEFAULT_LAG_THRESHOLD_MINUTES",
    "FolderFigures",
    "completeness_percent",
    "falling_behind",
    "lag_seconds",
    "lag_threshold_seconds",
    "unscanned_after_turn",
    "unscanned_on_server",
    "waiting_since",
]

DEFAULT_LAG_THRESHOLD_MINUTES = 30


def _naive_utc(moment):
    """``moment`` as a naive UTC datetime (how Odoo stores them), or None
    (for None or Odoo's False)."""
    if not moment:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return moment


@dataclass(frozen=True)
class FolderFigures:
    """One folder's figures. ``skipped``: the skip counts' total where the
    sync keeps them (None: what is scanned and neither recorded nor held).

    >>> f = FolderFigures(on_server=10, unscanned=2, recorded=5, held=1)
    >>> f.scanned, f.skipped_count, f.percent
    (8, 2, 80.0)
    >>> FolderFigures(on_server=0, unscanned=0, recorded=0, held=0).percent
    100.0
    """

    on_server: int
    unscanned: int
    recorded: int
    held: int
    skipped: int | None = None

    @property
    def scanned(self) -> int:
        return max(0, self.on_server - self.unscanned)

    @property
    def skipped_count(self) -> int:
        if self.skipped is not None:
            return self.skipped
        return max(0, self.scanned - self.recorded - self.held)

    @property
    def percent(self) -> float:
        return completeness_percent(self.scanned, self.on_server)


def completeness_percent(scanned: int, on_server: int) -> float:
    """Scanned out of on the server, in percent, one decimal (an empty folder
    is complete; 99.95 shows as 99.9, never as a complete 100.0).

    >>> [completeness_percent(*n) for n in ((1999, 2000), (3, 3), (0, 0))]
    [99.9, 100.0, 100.0]
    """
    if on_server <= 0 or scanned >= on_server:
        return 100.0
    return int(max(0, scanned) * 1000 / on_server) / 10


def unscanned_on_server(exists, uidvalidity, known_uidvalidity, uids_above) -> int:
    """The messages of a folder not yet scanned, from its EXAMINE (``exists``,
    ``uidvalidity``) and the UIDs found above the checkpoint (``uids_above``):
    all of them when the server renumbered the folder (the next turn scans it
    again).

    >>> unscanned_on_server(10, 7, 7, [9, 10]), unscanned_on_server(10, 8, 7, [])
    (2, 10)
    """
    if not known_uidvalidity or uidvalidity != known_uidvalidity:
        return exists
    return min(exists, len(uids_above))


def unscanned_after_turn(status, uidvalidity, last_uid, run_total, run_scanned):
    """What a turn leaves unscanned in a folder, from its EXAMINE at the
    turn's start (``status``: ``FolderStatus``) and the folder's checkpoint
    and run after it: 0 when the checkpoint reached UIDNEXT - 1; what its run
    counted and did not reach when it was cut; else (the turn ended before
    this folder) at most every UID between the checkpoint and UIDNEXT.

    >>> from types import SimpleNamespace as S
    >>> unscanned_after_turn(S(uidvalidity=7, uidnext=11, exists=10), 7, 10, 4, 4)
    0
    >>> unscanned_after_turn(S(uidvalidity=7, uidnext=11, exists=10), 7, 6, 8, 4)
    4
    >>> unscanned_after_turn(S(uidvalidity=7, uidnext=13, exists=10), 7, 9, 0, 0)
    3
    """
    if uidvalidity and status.uidvalidity == uidvalidity:
        if not status.uidnext or last_uid >= status.uidnext - 1:
            return 0
        if run_total > run_scanned:
            return min(status.exists, run_total - run_scanned)
        return min(status.exists, status.uidnext - 1 - last_uid)
    return status.exists


def waiting_since(first_unscanned, caught_up, seen):
    """Since when the oldest message not yet scanned has waited: its
    INTERNALDATE (``first_unscanned``), not before the folder was last seen
    with nothing to scan (``caught_up``); ``seen`` (when the gap was found)
    where neither is known. Naive UTC datetimes (aware ones are converted)."""
    first_unscanned = _naive_utc(first_unscanned)
    caught_up = _naive_utc(caught_up)
    candidates = [moment for moment in (first_unscanned, caught_up) if moment]
    if not candidates:
        return _naive_utc(seen)
    return min(max(candidates), _naive_utc(seen) or max(candidates))


def lag_seconds(since, now) -> int:
    """Whole seconds since ``since`` (0 when nothing waits)."""
    since, now = _naive_utc(since), _naive_utc(now)
    if since is None:
        return 0
    return max(0, int((now - since).total_seconds()))


def lag_threshold_seconds(configured=None) -> int:
    """The lag above which a mailbox is falling behind, from the system
    parameter's text in minutes (a positive whole number; anything else means
    the default)."""
    try:
        minutes = int(str(configured).strip()) if configured not in (None, "") else 0
    except (TypeError, ValueError):
        minutes = 0
    if minutes <= 0:
        minutes = DEFAULT_LAG_THRESHOLD_MINUTES
    return minutes * 60


def falling_behind(lag, threshold, held, held_before) -> bool:
    """Whether a mailbox is falling behind: its ``lag`` (seconds) above
    ``threshold``, or more held messages than at the reconciliation before
    (``held_before``; None: no reconciliation before)."""
    if lag > threshold:
        return True
    return held_before is not None and held > held_before
