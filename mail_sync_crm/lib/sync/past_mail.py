"""Past mail for a lead added later: one address searched on the server.

A lead created after its mailbox was connected gets only the mail dated from
its creation on (the store's ``allowed_leads``). Its history is found here, on
request: each folder of a mailbox is asked for the messages of one address
(an IMAP ``UID SEARCH``), and only those go through the turn's own path:
:func:`lib.sync.engine.to_record` (the matcher, the blocklist, the noise
rules, the store's
ledger: exactly once, whoever finds a message first), bodies fetched for the
matched ones, written in date order across the folders. Nothing else of the
mailbox is read, and no folder checkpoint moves (:class:`OneLead`).

The search asks what the matcher takes (``lib.sync.matcher``): in the Inbox
the sender (``FROM``), in Sent the recipients (``OR OR TO CC BCC``). The
server's match is a substring; the matcher keeps exact addresses only. At most
``limit`` messages per folder are read, the newest (highest UIDs); the write
goes in chunks of ``batch_size`` messages, each handed to ``written`` once
recorded (the Odoo side commits there: the first emails show on the lead
while the rest is fetched). A ``deadline`` (:mod:`lib.net.deadline`) ends it
as it ends a turn: what was written stays, the outcome is ``cut``.
"""

from dataclasses import dataclass, field

from .. import errors
from . import matcher, noise
from .engine import (
    BODY_BATCH_BYTES,
    MAX_MESSAGE_SIZE,
    Run,
    date_key,
    fetch_bodies,
    parse_body,
    size_chunks,
    to_record,
    untaken,
)
from .held import Narrowing
from .store import FolderOutcome

__all__ = [
    "SEARCH_LIMIT",
    "WRITE_BATCH",
    "OneLead",
    "PastOutcome",
    "criteria_for",
    "find_past_mail",
]

SEARCH_LIMIT = 500  # messages read per folder and request, the newest
WRITE_BATCH = 50  # messages per written chunk (the first ones show early)
HEADER_BATCH = 500


def criteria_for(address: str, direction: str):
    """``(criteria, charset)`` of the UID SEARCH for the messages of
    ``address`` that the matcher takes in a folder of ``direction``.

    An ASCII address goes as an IMAP quoted string (``\\`` and ``"``
    escaped), written here: imapclient leaves parentheses, brackets or ``%``
    unquoted. Another goes in imapclient's list form with ``CHARSET UTF-8``,
    which sends its 8-bit items as literals. An address holding a control
    character (a line break would end the command) is refused
    (``ValueError``)."""
    if direction not in matcher.DIRECTIONS:
        raise ValueError(f"direction must be 'in' or 'out', not {direction!r}")
    if not address or any(ord(c) < 32 or ord(c) == 127 for c in address):
        raise ValueError("not an address that can be searched")
    keys = ("FROM",) if direction == "in" else ("TO", "CC", "BCC")
    if address.isascii():
        quoted = '"{}"'.format(address.replace("\\", "\\\\").replace('"', '\\"'))
        terms = " ".join(f"{key} {quoted}" for key in keys)
        return "OR " * (len(keys) - 1) + terms, None
    criteria = ["OR"] * (len(keys) - 1)
    for key in keys:
        criteria += [key, address]
    return criteria, "UTF-8"


class OneLead:
    """The turn's store, narrowed to one lead and to reading: every message
    dated before the lead is allowed (that is the point), the ledger and the
    chatter are the store's own (exactly once), and nothing of the folder's
    state is written: no checkpoint, no held-back count, no log entry for a
    message left out (the turn keeps those)."""

    def __init__(self, store, lead_id):
        self.store = store
        self.lead_id = lead_id
        self.skipped = 0

    def allowed_leads(self, lead_ids, date):
        return {lead for lead in lead_ids if lead == self.lead_id}

    def known_pairs(self, folder, candidates):
        return self.store.known_pairs(folder, candidates)

    def cap_left(self):
        return self.store.cap_left()

    def record(self, folder, items):
        self.store.record(folder, items)

    def skip(self, folder, uid, err):
        self.skipped += 1

    def held(self, folder, uidvalidity):
        return {}

    def hold(self, folder, uidvalidity, uid, attempts, err, give_up):
        self.skipped += 1

    def release(self, folder, uidvalidity, uids):
        return None

    def checkpoint(self, folder, progress):
        return None


@dataclass
class PastOutcome:
    """What one mailbox's search for one address did."""

    found: int = 0  # messages the server found (all folders)
    read: int = 0  # of them, the ones read (at most ``limit`` per folder)
    matched: int = 0  # read and taken by the matcher for the lead
    recorded: int = 0  # written on the lead now (the others were there)
    failed: int = 0  # the server could not deliver them, or unreadable
    deferred: bool = False  # the daily cap stopped the write
    truncated: bool = False  # a folder had more than ``limit``
    cut: bool = False  # the deadline ended it
    folders: dict = field(default_factory=dict)  # name -> FolderOutcome


def find_past_mail(
    session,
    folders,
    store,
    lead_id: int,
    address: str,
    blocklist=None,
    *,
    attachment_cap: int,
    limit: int = SEARCH_LIMIT,
    batch_size: int = WRITE_BATCH,
    max_message_size: int = MAX_MESSAGE_SIZE,
    body_batch_bytes: int = BODY_BATCH_BYTES,
    deadline=None,
    noise_rules=noise.RULES,
    written=lambda outcome: None,
) -> PastOutcome:
    """Record on lead ``lead_id`` the mail of ``address`` that ``folders``
    (``FolderState``, of one mailbox, through the open ``session``) hold and
    the lead does not have yet, in date order. ``store``: the mailbox's
    :class:`~lib.sync.store.SyncStore` (narrowed here with :class:`OneLead`);
    ``written(outcome)``: after each chunk is recorded; ``noise_rules``: the
    rules of :mod:`lib.sync.noise` that are on, as for the turn. A failure of
    the server raises ``MailSyncError`` (what was written stays); the deadline
    ends the search without raising (``cut``)."""
    outcome = PastOutcome()
    one = OneLead(store, lead_id)
    index = {address: {lead_id}}
    runs, todo = {}, []
    try:
        for folder in folders:
            run = _run(session, folder, one, index, blocklist, deadline, outcome)
            run.noise_rules = frozenset(noise_rules)
            run.attachment_cap = attachment_cap
            run.max_message_size = max_message_size
            run.body_batch_bytes = body_batch_bytes
            runs[folder.name] = run
            todo += _scan(run, address, limit, outcome)
        _write(runs, todo, one, batch_size, outcome, written)
    except errors.MailSyncError as err:
        if err.code != "sync_deadline" and not (deadline and deadline.expired):
            raise
        outcome.cut = True
    outcome.failed += one.skipped
    return outcome


def _run(session, folder, store, index, blocklist, deadline, outcome):
    folder_outcome = outcome.folders.setdefault(folder.name, FolderOutcome())
    return Run(
        session,
        folder,
        store,
        index,
        blocklist,
        folder_outcome,
        attachment_cap=0,
        max_message_size=MAX_MESSAGE_SIZE,
        body_batch_bytes=BODY_BATCH_BYTES,
        deadline=deadline,
    )


def _past(run):
    if run.past():
        raise errors.MailSyncError("sync_deadline", side="imap")


def _scan(run, address, limit, outcome):
    """One folder's messages of ``address`` to write: searched, the newest
    ``limit`` read, matched, not on the lead yet (bodies not read)."""
    _past(run)
    session, folder = run.session, run.folder
    status = session.select_folder(folder.name)
    run.narrowing = Narrowing(session, folder.name, status.uidvalidity, run.past)
    criteria, charset = criteria_for(address, folder.direction)
    uids = sorted(session.search(criteria, charset))
    outcome.found += len(uids)
    if len(uids) > limit:
        outcome.truncated = True
        uids = uids[-limit:]
    outcome.read += len(uids)
    todo = []
    for batch in matcher.chunks(uids, HEADER_BATCH):
        _past(run)
        headers = _headers(run, batch, outcome)
        found = to_record(run, headers, {header.uid: header for header in headers})
        for item in found:
            item.folder = folder
        todo += found
    outcome.matched += run.outcome.matched
    return todo


def _headers(run, uids, outcome):
    """The header fields of ``uids``; those the server cannot deliver are
    counted as failed (not held back: the turn holds its own)."""
    found, failed = run.narrowing.fetch(
        lambda part: {h.uid: h for h in run.session.fetch_headers(part, quick=True)},
        uids,
    )
    outcome.failed += len(failed)
    return [found[uid] for uid in sorted(found)]


def _write(runs, todo, store, batch_size, outcome, written):
    """Every folder's messages, in date order (then folder, then UID), in
    chunks of ``batch_size``."""
    order = {name: position for position, name in enumerate(runs)}
    items = sorted(
        todo,
        key=lambda item: (date_key(item.header), order[item.folder.name], item.uid),
    )
    cap = store.cap_left()
    if cap is not None and len(items) > cap:
        outcome.deferred = True
        items = items[:cap]
    taken = set()
    for chunk in matcher.chunks(items, batch_size):
        ready = []
        for name, run in runs.items():
            part = [item for item in chunk if item.folder.name == name]
            if part:
                _past(run)
                ready += _bodies(run, part, outcome)
        ready.sort(
            key=lambda item: (date_key(item.header), order[item.folder.name], item.uid)
        )
        ready = [item for item in ready if untaken(item, taken)]
        if ready:
            store.record(ready[0].folder, ready)
            outcome.recorded += len(ready)
            for item in ready:
                runs[item.folder.name].outcome.recorded += 1
                runs[item.folder.name].outcome.uids.append(item.uid)
            written(outcome)


def _bodies(run, items, outcome):
    """The parsed messages of ``items`` (one folder's)."""
    session = run.session
    if getattr(session.folder, "name", None) != run.folder.name:
        status = session.select_folder(run.folder.name)
        run.narrowing = Narrowing(
            session, run.folder.name, status.uidvalidity, run.past
        )
    sizes = {item.uid: item.header.size for item in items}
    ready = []
    for chunk in size_chunks(items, sizes, run.body_batch_bytes):
        bodies, failed = fetch_bodies(run, [item.uid for item in chunk], sizes)
        outcome.failed += len(failed)
        ready += [
            item
            for item in chunk
            if item.uid not in failed and parse_body(run, item, bodies.get(item.uid))
        ]
    return ready
