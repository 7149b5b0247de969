"""What the sync engine reads and writes: its records and the store it writes
through.

:func:`lib.sync.engine.sync_folder` drives an IMAP session and a *store*. The store
is the Odoo mailbox in production (``store.chatter_store.MailSyncStore``) and an
in-memory store in the plain tests; both implement :class:`SyncStore`.
"""

import inspect
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from .. import errors
from ..message import full_message as message_parser
from ..message import headers as parser


@dataclass
class FolderState:
    """A folder as the store last checkpointed it."""

    name: str
    direction: str  # "in" (Inbox) | "out" (Sent)
    uidvalidity: int = 0
    last_uid: int = 0


@dataclass(frozen=True)
class Progress:
    """Where a folder's sync stands after a batch (what ``checkpoint`` keeps)."""

    uidvalidity: int
    last_uid: int
    scanned: int
    total: int
    done: bool = False  # every message up to the newest was looked at
    rescanned: bool = False  # UIDVALIDITY changed: the folder was read again
    # {skip reason: number} of the messages skipped (lib.sync.skip_reasons)
    # that this checkpoint moves past and no earlier checkpoint did: each
    # skipped message is counted once, with the checkpoint that covers it.
    skips: Mapping[str, int] = field(default_factory=dict)


@dataclass
class Recordable:
    """A matched message ready for the store, with the leads it goes on."""

    uid: int
    header: parser.HeaderInfo
    message: message_parser.ParsedMessage | None
    lead_ids: set
    folder: FolderState | None = None  # when a run writes several folders at once


@dataclass
class FolderOutcome:
    """What one ``sync_folder`` call did."""

    scanned: int = 0
    matched: int = 0
    recorded: int = 0
    # {skip reason: number} of the messages skipped, as checkpointed
    skips: Counter = field(default_factory=Counter)
    held: int = 0  # the server could not deliver them: tried again next run
    # held back too many times: skipped for good (kept as held messages with
    # their log entry, not in the skip counts)
    given_up: int = 0
    deferred: bool = False  # the daily cap stopped the run
    cut: bool = False  # the turn's deadline stopped it (resumed next run)
    rescanned: bool = False
    uids: list = field(default_factory=list)  # the UIDs recorded

    @property
    def skipped(self) -> int:
        """How many messages were skipped, whatever the reason."""
        return sum(self.skips.values()) + self.given_up


@runtime_checkable
class SyncStore(Protocol):
    """The engine's view of where synced mail goes."""

    @classmethod
    def missing_from(cls, implementation: type) -> list[str]:
        """The protocol's methods that ``implementation`` lacks or declares with
        other parameters (sorted names; empty when it implements them all)."""
        missing = []
        for name, method in inspect.getmembers(cls, inspect.isfunction):
            if name.startswith("_"):
                continue
            theirs = getattr(implementation, name, None)
            if (
                theirs is None
                or theirs is getattr(SyncStore, name)
                or list(inspect.signature(theirs).parameters)
                != list(inspect.signature(method).parameters)
            ):
                missing.append(name)
        return sorted(missing)

    def allowed_leads(self, lead_ids: Iterable[int], date: datetime | None) -> set:
        """The leads among ``lead_ids`` that get a message dated ``date`` (a lead
        created after the mailbox connected gets no older mail)."""

    def known_pairs(
        self,
        folder: FolderState,
        candidates: list[tuple[parser.HeaderInfo, set]],
    ) -> set:
        """The (Message-ID, lead id) pairs among ``candidates`` already recorded
        by this mailbox or already on the lead's chatter (the store notes the
        latter as this mailbox's too)."""

    def cap_left(self) -> int | None:
        """How many more emails the daily cap allows today (None: no cap)."""

    def record(self, folder: FolderState, items: list[Recordable]) -> None:
        """Write each item on its leads' chatters, with the ledger rows."""

    def skip(self, folder: FolderState, uid: int, err: errors.MailSyncError) -> None:
        """Note a message left out (malformed, too large...)."""

    def held(self, folder: FolderState, uidvalidity: int) -> dict[int, int]:
        """The UIDs of ``folder`` (under ``uidvalidity``: held UIDs of another
        are forgotten) the server could not deliver on earlier runs and that
        are to be tried again, with the number of failed attempts of each."""

    def hold(
        self,
        folder: FolderState,
        uidvalidity: int,
        uid: int,
        attempts: int,
        err: errors.MailSyncError,
        give_up: bool,
    ) -> None:
        """Keep the count of failed attempts of ``uid`` (``err``, code
        ``message_undeliverable``, names it); with ``give_up``, it is skipped
        (not tried again) and ``err`` goes to the log."""

    def release(self, folder: FolderState, uidvalidity: int, uids: list[int]) -> None:
        """``uids`` held back earlier were read after all: forget them."""

    def checkpoint(self, folder: FolderState, progress: Progress) -> None:
        """Persist ``progress`` and update ``folder`` to it; a failure later
        resumes from here. ``progress.skips`` is added to the folder's skip
        counts in the same transaction (a new UIDVALIDITY starts them anew:
        the folder is scanned again from its first message)."""
