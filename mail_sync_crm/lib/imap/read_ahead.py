"""A mailbox's IMAP reads done ahead, while the run records the mailboxes
before it; the sync then reads from them as from a live session.

The scheduled run syncs mailboxes one at a time in its one cursor. A small
mailbox's sync is mostly waiting: TLS, login, EXAMINE, SEARCH, a FETCH of the
headers and one of the bodies, each a round trip. :func:`read_mailbox` does those
reads for the next mailboxes in a pool's threads (no database: the checkpoints
are given), up to :data:`MAX_MESSAGES` messages and :data:`MAX_BYTES` of bodies
per mailbox, and the sync gets a :class:`ReadAheadSession`: an
:class:`~lib.imap.session.ImapSession` that answers what was read ahead without a
round trip and connects for real, with the same deadline, only when asked for
anything else (a folder not read ahead, a checkpoint that moved meanwhile, a
body too large to have been taken). When the read-ahead failed before the
server described the mailbox (login refused, server gone or hanging until the
read-ahead's own deadline), the sync fails with that error at once: a failing
server costs its own wait, in the pool, not the run's. What it answers is what
the server said seconds before; what arrived since is for the next run, as if
it had arrived just after the sync.
"""

import concurrent.futures

from .. import errors
from ..net.deadline import Deadline
from .session import (
    BODY_ITEM,
    BODY_KEY,
    HEADER_ITEM,
    SIZE_KEY,
    ImapSession,
    header_info,
)

__all__ = [
    "MAX_BYTES",
    "MAX_MESSAGES",
    "Prefetched",
    "ReadAheadPool",
    "ReadAheadSession",
    "read_mailbox",
]

# Beyond these, a folder is read live by the sync (its batches, its deadline).
MAX_MESSAGES = 500
MAX_BYTES = 8 * 1024 * 1024


class Prefetched:
    """What was read of one mailbox (``key``): the EXAMINE answers of
    ``names`` and, per folder read, its UIDs above the checkpoint, their
    header items and, when small enough, their bodies."""

    def __init__(self, key):
        self.key = key
        self.examined = None  # (names, {name: FolderStatus or None})
        self.selected = {}  # name: FolderStatus of its SELECT
        self.uids = {}  # (name, last_uid): [uid, ...]
        self.headers = {}  # name: {uid: FETCH data}
        self.bodies = {}  # name: {uid: bytes}
        self.error = None


def read_mailbox(key, settings, folders, seconds, examine_order=None):
    """Read ahead for mailbox ``key``: ``folders`` are ``(name, last_uid)``
    pairs (``news.KnownFolder`` will do), ``examine_order`` the names in
    the order the sync examines them. Never raises: a failure leaves
    ``error`` set and the sync meets it live."""
    done = Prefetched(key)
    names = list(examine_order or [folder.name for folder in folders])
    try:
        session = ImapSession(settings, deadline=Deadline(seconds)).open()
        try:
            statuses = session.examine_folders(names)
            done.examined = (names, statuses)
            for folder in sorted(folders, key=lambda f: f.name != names[-1]):
                if statuses.get(folder.name) is None:
                    continue
                if session.folder is None or session.folder.name != folder.name:
                    done.selected[folder.name] = session.select_folder(folder.name)
                uids = session.uids_after(folder.last_uid)
                done.uids[(folder.name, folder.last_uid)] = uids
                if not uids or len(uids) > MAX_MESSAGES:
                    continue
                items = [HEADER_ITEM, "RFC822.SIZE", "INTERNALDATE"]
                headers = session._fetch(uids, items)
                done.headers[folder.name] = headers
                size = sum(int(data.get(SIZE_KEY) or 0) for data in headers.values())
                if size <= MAX_BYTES:
                    bodies = session._fetch(uids, [BODY_ITEM])
                    done.bodies[folder.name] = {
                        uid: bytes(data.get(BODY_KEY) or b"")
                        for uid, data in bodies.items()
                    }
        finally:
            session.close()
    except errors.MailSyncError as err:
        done.error = err
    except Exception as exc:  # noqa: BLE001 - the live session will say
        done.error = exc
    return done


class ReadAheadSession(ImapSession):
    """An ImapSession that answers from ``ahead`` first (see the module's
    docstring). It connects, and selects the folder the sync is on, the first
    time it needs the server."""

    def __init__(self, ahead, settings, deadline=None):
        super().__init__(settings, deadline=deadline)
        self.ahead = ahead
        self.current = None  # the folder the sync has selected
        self.live_folder = None  # the folder selected on the live connection

    # -- the live connection, when needed --------------------------------------
    def open(self):
        return self  # connects on first need

    def close(self):
        self.live_folder = None
        return super().close()

    def _live(self):
        if self.client is None:
            failed = self.ahead.error
            if isinstance(failed, errors.MailSyncError) and not self.ahead.examined:
                # The server failed the read-ahead seconds ago (refused, gone,
                # or hung until its deadline in the pool): that is the sync's
                # failure too, without costing the run the same wait again.
                raise failed
            ImapSession.open(self)
        if self.current and self.live_folder != self.current:
            ImapSession.select_folder(self, self.current)
            self.live_folder = self.current

    def _call(self, method, *args, **kwargs):
        self._live()
        return super()._call(method, *args, **kwargs)

    def _fetch(self, uids, items):
        self._live()
        return super()._fetch(uids, items)

    # -- answered from what was read ahead ----------------------------------------
    def examine_folders(self, names):
        examined = self.ahead.examined
        if examined and list(names) == examined[0]:
            statuses = examined[1]
            self.folder = statuses.get(names[-1]) if names else self.folder
            self.current = self.folder.name if self.folder else None
            return dict(statuses)
        self._live()
        statuses = super().examine_folders(names)
        self.current = self.live_folder = self.folder.name if self.folder else None
        return statuses

    def select_folder(self, name):
        status = self.ahead.selected.get(name)
        if status is None and self.ahead.examined:
            status = self.ahead.examined[1].get(name)
        if status is not None and self.client is None:
            self.folder, self.current = status, name
            return status
        if self.client is None:
            super().open()
        status = super().select_folder(name)
        self.current = self.live_folder = name
        return status

    def uids_after(self, last_uid):
        found = self.ahead.uids.get((self.current, max(0, int(last_uid or 0))))
        if found is not None:
            return list(found)
        return super().uids_after(last_uid)

    def fetch_headers(self, uids, quick=False):
        cached = self.ahead.headers.get(self.current, {})
        if uids and all(uid in cached for uid in uids):
            return [header_info(uid, cached[uid], quick) for uid in sorted(uids)]
        return super().fetch_headers(uids, quick)

    def fetch_bodies(self, uids, max_size, sizes=None):
        cached = self.ahead.bodies.get(self.current, {})
        headers = self.ahead.headers.get(self.current, {})
        if uids and all(uid in cached for uid in uids):
            result = {}
            for uid in uids:
                size = int((headers.get(uid) or {}).get(SIZE_KEY) or 0)
                size = (sizes or {}).get(uid, size)
                result[uid] = (
                    None if max_size is not None and size > max_size else (cached[uid])
                )
            return result
        return super().fetch_bodies(uids, max_size, sizes)


class ReadAheadPool:
    """``with ReadAheadPool(workers, seconds) as ahead:`` :meth:`submit` the
    mailboxes to come (their settings read by the caller, in its thread),
    :meth:`take` each one's :class:`Prefetched` when its turn comes (waiting
    for it if need be; None when it was not submitted). Leaving cancels what
    has not started and waits for what has (each bounded by ``seconds``)."""

    def __init__(self, workers, seconds):
        self.workers = max(1, workers)
        self.seconds = seconds
        self.executor = None
        self.futures = {}

    def __enter__(self):
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.workers, thread_name_prefix="mail-sync-read-ahead"
        )
        return self

    def __exit__(self, *exc_info):
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.futures.clear()

    def submit(self, key, settings, folders, examine_order=None):
        self.futures[key] = self.executor.submit(
            read_mailbox, key, settings, folders, self.seconds, examine_order
        )

    def submitted(self, key):
        return key in self.futures

    def skip(self, key):
        """Nothing to read ahead for ``key`` (its sync reads live)."""
        self.futures[key] = None

    def take(self, key):
        future = self.futures.pop(key, None)
        return future.result() if future is not None else None
