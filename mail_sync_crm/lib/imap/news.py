"""Which mailboxes have news: many mailboxes' folders checked at once.

An idle poll of a mailbox is almost all waiting on the network: TCP, TLS,
LOGIN, one pipelined EXAMINE of its folders, LOGOUT (about five round trips).
:func:`poll_mailboxes` runs those checks in a bounded pool of threads (each
check one IMAP connection, each bounded by its own deadline), and tells for
each mailbox whether anything is above its checkpoints. Nothing here touches
the database: the caller (the scheduled run, in its one cursor) builds the
:class:`PollTarget` list from what it stored, writes the bookkeeping of the
idle mailboxes in bulk, and syncs only those with news.

A folder has news when its UIDVALIDITY changed (the server renumbered it) or
its UIDNEXT is above the checkpoint, i.e. a message arrived since:

>>> known = KnownFolder("INBOX", uidvalidity=7, last_uid=20)
>>> has_news([known], {"INBOX": FolderStatus("INBOX", 7, 21, 20)})
False
>>> has_news([known], {"INBOX": FolderStatus("INBOX", 7, 22, 21)})
True
>>> has_news([known], {"INBOX": FolderStatus("INBOX", 8, 21, 20)})
True

A folder the server did not describe (refused, or gone) is news too: the sync
says what is wrong with it. The pool's size is the system parameter
``mail_sync_crm.poll_pool_size``:

>>> pool_size(None), pool_size("4"), pool_size("0"), pool_size("x"), pool_size("500")
(16, 4, 16, 16, 64)
"""

import concurrent.futures
import time
from dataclasses import dataclass, field

from .. import errors
from ..net.deadline import Deadline
from .session import FolderStatus, ImapSession, ImapSettings

__all__ = [
    "DEFAULT_POLL_SECONDS",
    "DEFAULT_POOL_SIZE",
    "MAX_POOL_SIZE",
    "FolderCount",
    "KnownFolder",
    "PollResult",
    "PollTarget",
    "count_mailbox",
    "has_news",
    "poll_mailboxes",
    "poll_stream",
    "pool_size",
]

# Connections at once per process (system parameter mail_sync_crm.poll_pool_size).
DEFAULT_POOL_SIZE = 16
# More threads than this gain nothing on one process (the GIL, the TLS
# handshakes' CPU) and look like an attack to the mail server.
MAX_POOL_SIZE = 64
# The longest one mailbox's check may last, whatever its server does.
DEFAULT_POLL_SECONDS = 30.0


@dataclass(frozen=True)
class KnownFolder:
    """A folder as the last sync left it: UIDs up to ``last_uid`` are done."""

    name: str
    uidvalidity: int
    last_uid: int


@dataclass
class PollTarget:
    """One mailbox to check: ``key`` identifies it to the caller."""

    key: object
    settings: ImapSettings
    folders: tuple


@dataclass
class PollResult:
    """``news``: something to sync (or a folder the server did not describe);
    ``error``: the classified failure of the check (then ``news`` is False:
    there is nothing to sync until the server answers); ``seconds``: the
    check's wall time."""

    key: object
    news: bool = False
    error: errors.MailSyncError | None = None
    statuses: dict = field(default_factory=dict)
    seconds: float = 0.0
    counts: dict = field(default_factory=dict)  # {name: FolderCount}: count_mailbox


@dataclass(frozen=True)
class FolderCount:
    """What the reconciliation (:func:`count_mailbox`) found in one folder:
    its EXAMINE (``status``), how many UIDs are above the checkpoint
    (all of them when UIDVALIDITY changed) and the INTERNALDATE of the first
    of them (None when there is none)."""

    name: str
    status: FolderStatus
    above: int = 0
    first_above_date: object = None


def pool_size(configured=None) -> int:
    """The pool size from the system parameter's text: a positive whole
    number, at most :data:`MAX_POOL_SIZE`; anything else means the default."""
    try:
        size = int(str(configured).strip()) if configured not in (None, "") else 0
    except (TypeError, ValueError):
        size = 0
    if size <= 0:
        return DEFAULT_POOL_SIZE
    return min(size, MAX_POOL_SIZE)


def has_news(known, statuses) -> bool:
    """Whether any of the ``known`` folders has something above its
    checkpoint in ``statuses`` (``{name: FolderStatus or None}``)."""
    for folder in known:
        status = statuses.get(folder.name)
        if (
            status is None
            or not folder.uidvalidity
            or status.uidvalidity != folder.uidvalidity
            or not status.uidnext
            or status.uidnext > folder.last_uid + 1
        ):
            return True
    return False


def check_mailbox(target: PollTarget, seconds: float = DEFAULT_POLL_SECONDS):
    """One mailbox's check (see the module's docstring); never raises."""
    return _examine(target, seconds, count=False)


def count_mailbox(target: PollTarget, seconds: float = DEFAULT_POLL_SECONDS):
    """The reconciliation of one mailbox: the check (one pipelined EXAMINE of
    its folders), then, in each folder with something above its checkpoint
    only, a ``UID SEARCH`` of the UIDs above it and the INTERNALDATE of the
    first (``PollResult.counts``). Never raises; nothing is read but the
    folders' sizes, UIDs and one date each."""
    return _examine(target, seconds, count=True)


def _examine(target, seconds, count):
    """The check of ``target``, and with ``count`` its folders' counts."""
    started = time.monotonic()
    result = PollResult(target.key)
    try:
        with ImapSession(target.settings, deadline=Deadline(seconds)) as session:
            names = [folder.name for folder in target.folders]
            result.statuses = session.examine_folders(names) if names else {}
            result.news = has_news(target.folders, result.statuses)
            for folder in target.folders if count else ():
                result.counts[folder.name] = _count_folder(
                    session, folder, result.statuses.get(folder.name)
                )
    except errors.MailSyncError as err:
        result.error = err
    except Exception as exc:  # noqa: BLE001 - a check never takes the pool down
        result.error = errors.classify(
            exc,
            side="imap",
            host=target.settings.host,
            port=target.settings.port,
            secrets=target.settings.secrets,
        )
    result.seconds = time.monotonic() - started
    return result


def _count_folder(session, folder, status):
    if status is None:
        return None  # refused or gone: the next turn says why
    last_uid = folder.last_uid if status.uidvalidity == folder.uidvalidity else 0
    if status.uidnext and status.uidnext <= last_uid + 1:
        return FolderCount(folder.name, status)
    if getattr(session, "folder", None) != status:
        session.select_folder(folder.name)
    uids = session.uids_after(last_uid)
    first_date = None
    if uids:
        data = session.fetch_items(uids[:1], ["INTERNALDATE"]).get(uids[0]) or {}
        first_date = data.get(b"INTERNALDATE")
    return FolderCount(folder.name, status, len(uids), first_date)


def poll_mailboxes(targets, workers=DEFAULT_POOL_SIZE, seconds=DEFAULT_POLL_SECONDS):
    """Check ``targets`` with up to ``workers`` connections at once; yields a
    :class:`PollResult` per target as each check ends (not in order). A server
    that hangs holds one worker for ``seconds`` at most; the others go on."""
    targets = list(targets)
    return poll_stream([targets] if targets else [], workers, seconds)


def poll_stream(
    batches,
    workers=DEFAULT_POOL_SIZE,
    seconds=DEFAULT_POLL_SECONDS,
    check=None,
):
    """:func:`poll_mailboxes` over targets that come in batches: the next
    batch is taken from ``batches`` (in the caller's thread, so it may use the
    caller's database cursor) whenever fewer than ``workers`` checks are
    waiting, and the results are yielded as they come. Stopping early (the
    caller's time is up) waits for the checks already started. ``check``: what
    is done with each target (:func:`check_mailbox`, or the reconciliation's
    :func:`count_mailbox`; looked up when called, so that the fleet benchmark's
    timer around :func:`check_mailbox` sees each check)."""
    check = check or check_mailbox
    source = iter(batches)
    pending, exhausted = set(), False
    with concurrent.futures.ThreadPoolExecutor(
        max_workers=max(1, workers), thread_name_prefix="mail-sync-poll"
    ) as pool:
        while True:
            while not exhausted and len(pending) < max(1, workers):
                batch = next(source, None)
                if batch is None:
                    exhausted = True
                    break
                pending |= {pool.submit(check, t, seconds) for t in batch}
            if not pending:
                return
            done, pending = concurrent.futures.wait(
                pending, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in done:
                yield future.result()
