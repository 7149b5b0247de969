"""A mailbox's historical sync in date order, across its folders.

Odoo's chatter lists a record's messages by id (``mail.message`` ids grow with
every write), not by their date. So the history of a lead reads in the order
the mail was sent only if its messages are written in that order. A folder's
UIDs follow the order mail arrived in that folder, not the order of the
conversation, and a mailbox has two folders (Inbox and Sent): written folder by
folder, a lead's history reads Inbox first, then Sent.

:func:`sync_history` therefore works in two passes over the folders:

1. **scan**: the header fields of every new UID of every folder, in batches, as
   :func:`lib.sync.engine.sync_folder` reads them; what matches a lead is kept as a
   ``Recordable`` without its body (headers only: a few hundred bytes each);
2. **write**: the kept messages sorted by date (then folder, then UID) are
   fetched and recorded in chunks (at most ``batch_size`` messages and about
   ``body_batch_bytes`` of mail each, never all the bodies at once), each chunk
   in one ``store.record`` call, in date order across the folders.

After each written chunk every folder's checkpoint is the UID before its
oldest-UID message still to write (or the last UID scanned when none is left):
everything below it is recorded, held back or not for a lead. A run cut by the
deadline or by a failure resumes there: the next scan reads the rest again
(headers are cheap; the store's ledger drops what was recorded meanwhile) and
the messages still to write are all later than those written, so the history
stays in date order. A run cut during the scan writes nothing and keeps the
previous checkpoints.
"""

import contextlib
from dataclasses import dataclass, field

from .. import errors
from . import matcher, noise
from .engine import (
    BODY_BATCH_BYTES,
    HEADER_BATCH,
    MAX_MESSAGE_SIZE,
    Run,
    date_key,
    fetch_bodies,
    fetch_headers,
    hold_back,
    parse_body,
    retry_held,
    size_chunks,
    to_record,
    untaken,
)
from .held import HeldMessages, Narrowing
from .store import FolderOutcome, Progress


@dataclass
class _Scan:
    """One folder's first pass: the UIDs read and the messages to write."""

    run: Run
    uidvalidity: int
    start_uid: int  # the checkpoint the scan started from
    uids: list
    todo: list = field(default_factory=list)  # Recordables, bodies not read
    pending: set = field(default_factory=set)  # UIDs still to write

    def progress(self, deferred):
        done = not self.pending
        last_uid = (
            min(self.pending) - 1
            if self.pending
            else (self.uids[-1] if self.uids else self.start_uid)
        )
        scanned = len(self.uids) - len(self.pending)  # read, written or not
        self.run.outcome.scanned = scanned
        return Progress(
            uidvalidity=self.uidvalidity,
            last_uid=last_uid,
            scanned=scanned,
            total=len(self.uids),
            done=done and not deferred,
            rescanned=self.run.outcome.rescanned,
            skips=self.run.settle(last_uid),
        )


def sync_history(
    session,
    folders,
    store,
    lead_index,
    blocklist=None,
    *,
    attachment_cap: int,
    batch_size: int = HEADER_BATCH,
    max_message_size: int = MAX_MESSAGE_SIZE,
    body_batch_bytes: int = BODY_BATCH_BYTES,
    long_run=contextlib.nullcontext,
    deadline=None,
    statuses=None,
    noise_rules=noise.RULES,
):
    """Sync ``folders`` (``FolderState``, the Inbox first) from their
    checkpoints, writing their messages in date order across them.
    ``statuses``: ``{name: FolderStatus}`` already read by
    ``session.examine_folders``; the folder still selected is scanned first and
    not examined again (each SELECT of a large, freshly changed Maildir costs
    Dovecot a rescan). Returns
    ``{folder name: FolderOutcome}``; a run stopped by ``deadline`` is ``cut``
    (not raised), any other failure raises ``MailSyncError`` after the last
    checkpoint, as :func:`lib.sync.engine.sync_folder` does. ``noise_rules``:
    as there."""
    outcomes = {folder.name: FolderOutcome() for folder in folders}
    statuses = statuses or {}
    selected = getattr(session, "folder", None)
    scans = []
    try:
        with long_run():
            for folder in sorted(
                folders, key=lambda f: statuses.get(f.name) is not selected
            ):
                if deadline is not None and deadline.expired:
                    raise errors.MailSyncError("sync_deadline", side="imap")
                run = Run(
                    session,
                    folder,
                    store,
                    lead_index,
                    blocklist,
                    outcomes[folder.name],
                    attachment_cap=attachment_cap,
                    max_message_size=max_message_size,
                    body_batch_bytes=body_batch_bytes,
                    deadline=deadline,
                    noise_rules=frozenset(noise_rules),
                )
                scans.append(_scan(run, batch_size, statuses.get(folder.name)))
            position = {folder.name: index for index, folder in enumerate(folders)}
            scans.sort(key=lambda scan: position[scan.run.folder.name])
            _write(scans, batch_size)
    except errors.MailSyncError as err:
        past = deadline is not None and deadline.expired
        if err.code != "sync_deadline" and not past:
            raise
        for outcome in outcomes.values():
            outcome.cut = True
    return outcomes


def _scan(run, batch_size, status=None):
    """The first pass over one folder: its new UIDs' headers, matched.
    ``status``: the folder's examined status, used as is when the folder is
    still the one selected."""
    session, folder, store, outcome = run.session, run.folder, run.store, run.outcome
    if status is None or status is not getattr(session, "folder", None):
        status = session.select_folder(folder.name)
    start_uid = folder.last_uid
    if folder.uidvalidity and status.uidvalidity != folder.uidvalidity:
        start_uid = 0  # UIDs renumbered: read everything, the ledger dedupes
        outcome.rescanned = True
    run.held = HeldMessages(store, folder, status.uidvalidity, outcome)
    run.narrowing = Narrowing(session, folder.name, status.uidvalidity, run.past)
    retry = [uid for uid in run.held.retry if uid <= start_uid]
    if retry and not run.past():
        retry_held(run, retry)
    if status.uidnext and status.uidnext <= start_uid + 1:
        uids = []
    else:
        uids = session.uids_after(start_uid)
    scan = _Scan(run, status.uidvalidity, start_uid, uids)
    for batch in matcher.chunks(uids, batch_size):
        if run.past():
            raise errors.MailSyncError("sync_deadline", side="imap")
        headers = fetch_headers(run, batch)
        todo = to_record(run, headers, {header.uid: header for header in headers})
        for item in todo:
            item.folder = folder
        scan.todo.extend(todo)
    scan.pending = {item.uid for item in scan.todo}
    return scan


def _write(scans, batch_size):
    """The second pass: every folder's kept messages, in date order."""
    if not scans:
        return
    order = {scan.run.folder.name: position for position, scan in enumerate(scans)}
    by_folder = {scan.run.folder.name: scan for scan in scans}
    items = sorted(
        (item for scan in scans for item in scan.todo),
        key=lambda item: (date_key(item.header), order[item.folder.name], item.uid),
    )
    for scan in scans:
        scan.todo = []  # the sorted list holds them now
    store = scans[0].run.store
    cap = store.cap_left()
    deferred = cap is not None and len(items) > cap
    if deferred:
        for item in items[cap:]:
            by_folder[item.folder.name].run.outcome.deferred = True
        items = items[:cap]
    sizes = {id(item): item.header.size for item in items}
    taken = set()  # the (Message-ID, fingerprint, lead) written by this run
    chunks = [
        chunk[start : start + batch_size]
        for chunk in _id_chunks(items, sizes, scans[0].run.body_batch_bytes)
        for start in range(0, len(chunk), batch_size)
    ]
    for chunk in chunks:
        if scans[0].run.past():
            raise errors.MailSyncError("sync_deadline", side="imap")
        ready = []
        # The folder still selected first: one SELECT fewer per chunk.
        current = getattr(getattr(scans[0].run.session, "folder", None), "name", None)
        for scan in sorted(scans, key=lambda scan: scan.run.folder.name != current):
            part = [item for item in chunk if item.folder is scan.run.folder]
            if part:
                ready.extend(_bodies(scan.run, part))
        ready.sort(
            key=lambda item: (date_key(item.header), order[item.folder.name], item.uid)
        )
        written = [item for item in ready if untaken(item, taken)]
        if written:
            store.record(scans[0].run.folder, written)
        for item in written:
            outcome = by_folder[item.folder.name].run.outcome
            outcome.recorded += 1
            outcome.uids.append(item.uid)
        for item in chunk:
            by_folder[item.folder.name].pending.discard(item.uid)
        _checkpoint(scans, deferred)
    _checkpoint(scans, deferred)


def _id_chunks(items, sizes, limit):
    """``size_chunks`` keyed by item (UIDs repeat across folders)."""

    class _Keyed:
        __slots__ = ("item", "uid")

        def __init__(self, item):
            self.item, self.uid = item, id(item)

    for chunk in size_chunks([_Keyed(item) for item in items], sizes, limit):
        yield [keyed.item for keyed in chunk]


def _checkpoint(scans, deferred):
    for scan in scans:
        scan.run.store.checkpoint(scan.run.folder, scan.progress(deferred))


def _bodies(run, items):
    """The parsed messages of ``items`` (one folder's), fetched in size chunks;
    those the server cannot deliver are held back, malformed ones skipped."""
    session, folder = run.session, run.folder
    selected = getattr(session, "folder", None)
    if selected is None or getattr(selected, "name", None) != folder.name:
        session.select_folder(folder.name)
    sizes = {item.uid: item.header.size for item in items}
    ready = []
    for chunk in size_chunks(items, sizes, run.body_batch_bytes):
        bodies, failed = fetch_bodies(run, [item.uid for item in chunk], sizes)
        for item in chunk:
            if item.uid in failed:
                hold_back(run, item, failed[item.uid])
            elif parse_body(run, item, bodies.get(item.uid)):
                ready.append(item)
    return ready
