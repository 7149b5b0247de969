"""One folder's sync run: header-first, batched, exactly once, resumable.

The engine drives an open :class:`~lib.imap.session.ImapSession` and a *store* (the
Odoo mailbox in production; an in-memory store in the plain tests). Per batch of
UIDs above the folder's checkpoint it fetches the matching header fields only,
matches addresses against the lead index minus the blocklist, leaves out the
noise (mailing-list and automated mail, :mod:`lib.sync.noise`), downloads full
bodies only for the messages left, hands them to the store, then advances the
checkpoint. Every message scanned and not recorded has a skip reason
(:mod:`lib.sync.skip_reasons`); each checkpoint carries the counts of those it
moves past (``Progress.skips``), so a message is counted once whatever the
number of runs that read it.
A FETCH that fails the way a message the server cannot deliver makes it fail
is narrowed down to that message, which is held back for later runs
(:mod:`lib.sync.held`); a message too large to take whole is read part by part
(:mod:`lib.message.large_message`). A failure of the server itself raises
``MailSyncError`` after the last completed batch's checkpoint; the turn's
deadline ends the run there too, without raising (the outcome is ``cut``).
Either way the next run resumes from the checkpoint. Copies of one message (one
Message-ID, several UIDs) are recorded once per lead.

While a batch is parsed and recorded, the header fields of the next batch are
fetched in a background thread (``next_batch``): the IMAP round trips overlap the
store's work. The session is only ever used by one thread at a time: the
next batch's fetch starts once the batch's bodies are in, and is waited for before the
session is used again.

The store implements :class:`lib.sync.store.SyncStore`. The lead index is a
mapping (normalised email -> lead ids); one with a ``look_up(addresses)``
method is told each batch's candidate addresses before they are looked up.
"""

import contextlib
import datetime
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from .. import errors
from ..message import full_message as message_parser
from ..message import large_message
from ..net.deadline import Deadline
from . import matcher, noise, skip_reasons
from .held import HeldMessages, Narrowing
from .next_batch import NextBatchHeaders
from .store import FolderOutcome, FolderState, Progress, Recordable, SyncStore

__all__ = [
    "FolderOutcome",
    "FolderState",
    "Progress",
    "Recordable",
    "SyncStore",
    "sync_folder",
]

HEADER_BATCH = 2000
BODY_BATCH_BYTES = 20 * 1024 * 1024
MAX_MESSAGE_SIZE = 50 * 1024 * 1024


def size_chunks(items, sizes, limit):
    """Split ``items`` (each with ``.uid``) so each chunk's total size stays under
    ``limit`` (a single large message gets a chunk of its own)."""
    chunk, total = [], 0
    for item in items:
        size = sizes.get(item.uid, 0)
        if chunk and total + size > limit:
            yield chunk
            chunk, total = [], 0
        chunk.append(item)
        total += size
    if chunk:
        yield chunk


_LATEST = datetime.datetime.max.replace(tzinfo=datetime.timezone.utc)


def date_key(header):
    """A header's date as an aware UTC datetime (a message without a date sorts
    last: the chatter dates it at the time it is recorded)."""
    date = header.date
    if date is None:
        return _LATEST
    if date.tzinfo is None:
        return date.replace(tzinfo=datetime.timezone.utc)
    return date.astimezone(datetime.timezone.utc)


def malformed(folder, uid, text):
    return errors.MailSyncError(
        "message_malformed",
        f"UID {uid} in {folder}: {text}",
        side="imap",
        params={"uid": uid, "folder": folder},
    )


def sync_folder(
    session,
    folder: FolderState,
    store: SyncStore,
    lead_index,
    blocklist=None,
    *,
    attachment_cap: int,
    batch_size: int = HEADER_BATCH,
    max_message_size: int = MAX_MESSAGE_SIZE,
    body_batch_bytes: int = BODY_BATCH_BYTES,
    next_batch: bool = True,
    status=None,
    long_run: Callable[[], AbstractContextManager] = contextlib.nullcontext,
    deadline: Deadline | None = None,
    noise_rules: Iterable[str] = noise.RULES,
) -> FolderOutcome:
    """Sync ``folder`` from its checkpoint to the newest message (or until the
    daily cap defers the rest). ``next_batch``: fetch the next batch's headers
    while this batch is recorded. ``status``: the folder's ``FolderStatus``
    already read by ``session.examine_folders``; when it shows nothing new
    since the checkpoint (and no message is held back for another try),
    nothing more is asked of the server, and when the folder is still the one
    selected, it is not examined again. ``long_run``: entered around a run of
    more than one batch (the cron passes ``process_tuning.long_run``).

    Messages the server cannot deliver are held back and retried on later
    runs, then skipped (:mod:`lib.sync.held`): the checkpoint moves on.

    ``deadline``: no batch starts after it, and the session shuts its
    connection at that instant; the outcome is then ``cut`` (what was
    checkpointed stays, the next run resumes from there) instead of failing.

    ``noise_rules``: the rules of :mod:`lib.sync.noise` that are on (all by
    default)."""
    outcome = FolderOutcome()
    run = Run(
        session,
        folder,
        store,
        lead_index,
        blocklist,
        outcome,
        attachment_cap=attachment_cap,
        max_message_size=max_message_size,
        body_batch_bytes=body_batch_bytes,
        deadline=deadline,
        noise_rules=frozenset(noise_rules),
    )
    try:
        _sync_folder(
            run,
            batch_size=batch_size,
            next_batch=next_batch,
            status=status,
            long_run=long_run,
        )
    except errors.MailSyncError as err:
        past = deadline is not None and deadline.expired
        if err.code != "sync_deadline" and not past:
            raise
        outcome.cut = True
    return outcome


def _sync_folder(run, *, batch_size, next_batch, status, long_run):
    """:func:`sync_folder`'s work, into ``run.outcome``."""
    session, folder, store, outcome = run.session, run.folder, run.store, run.outcome
    if (
        status is not None
        and folder.uidvalidity
        and status.uidvalidity == folder.uidvalidity
        and status.uidnext
        and status.uidnext <= folder.last_uid + 1
        and not store.held(folder, status.uidvalidity)
    ):
        store.checkpoint(
            folder,
            Progress(
                uidvalidity=status.uidvalidity,
                last_uid=folder.last_uid,
                scanned=0,
                total=0,
                done=True,
            ),
        )
        return
    if status is None or status is not getattr(session, "folder", None):
        status = session.select_folder(folder.name)
    last_uid = folder.last_uid
    if folder.uidvalidity and status.uidvalidity != folder.uidvalidity:
        # UIDs were renumbered: rescan everything; the store's ledger keeps
        # anything from being recorded twice.
        last_uid = 0
        outcome.rescanned = True
    held = run.held = HeldMessages(store, folder, status.uidvalidity, outcome)
    run.narrowing = Narrowing(session, folder.name, status.uidvalidity, run.past)
    retry = [uid for uid in held.retry if uid <= last_uid]
    if retry and not run.past():
        retry_held(run, retry)
    if status.uidnext and status.uidnext <= last_uid + 1:
        uids = []  # UIDNEXT says nothing arrived since the checkpoint: no SEARCH
    else:
        uids = session.uids_after(last_uid)
    total = len(uids)
    if not uids:
        store.checkpoint(
            folder,
            Progress(
                uidvalidity=status.uidvalidity,
                last_uid=last_uid,
                scanned=0,
                total=0,
                done=True,
                rescanned=outcome.rescanned,
                skips=run.settle(last_uid),
            ),
        )
        return
    batches = list(matcher.chunks(uids, batch_size))
    with (
        long_run() if len(batches) > 1 else contextlib.nullcontext(),
        NextBatchHeaders(session, batches, next_batch) as headers_of,
    ):
        for number, batch in enumerate(batches):
            if run.past():
                outcome.cut = True  # the next run resumes from the checkpoint
                return
            try:
                headers = headers_of(number)
            except errors.MailSyncError as exc:
                headers = fetch_headers(run, batch, exc)
            stop_uid = _sync_batch(run, headers, bodies_fetched=headers_of.start_next)
            if stop_uid is not None:
                position = uids.index(stop_uid)
                checkpoint = uids[position - 1] if position else last_uid
                outcome.scanned += batch.index(stop_uid)
                outcome.deferred = True
                store.checkpoint(
                    folder,
                    Progress(
                        uidvalidity=status.uidvalidity,
                        last_uid=checkpoint,
                        scanned=outcome.scanned,
                        total=total,
                        done=False,
                        rescanned=outcome.rescanned,
                        skips=run.settle(checkpoint),
                    ),
                )
                return
            outcome.scanned += len(batch)
            store.checkpoint(
                folder,
                Progress(
                    uidvalidity=status.uidvalidity,
                    last_uid=batch[-1],
                    scanned=outcome.scanned,
                    total=total,
                    done=outcome.scanned >= total,
                    rescanned=outcome.rescanned,
                    skips=run.settle(batch[-1]),
                ),
            )


@dataclass
class Run:
    """One ``sync_folder`` call: what every batch of it works with."""

    session: object
    folder: FolderState
    store: SyncStore
    lead_index: object
    blocklist: object
    outcome: FolderOutcome
    attachment_cap: int
    max_message_size: int
    body_batch_bytes: int
    deadline: Deadline | None = None
    noise_rules: frozenset = frozenset(noise.RULES)
    held: HeldMessages | None = None  # once the folder is selected
    narrowing: Narrowing | None = None
    # {UID: skip reason} of the messages skipped and not checkpointed yet
    skips: dict = field(default_factory=dict)

    def past(self) -> bool:
        """The turn's deadline passed: start nothing more."""
        return self.deadline is not None and self.deadline.expired

    def settle(self, last_uid: int) -> dict[str, int]:
        """The counts by reason of the skipped messages a checkpoint at
        ``last_uid`` moves past (added to the outcome, forgotten here: the
        next checkpoint does not count them again). Those above it are
        scanned again by the next run and counted then."""
        settled = Counter()
        for uid in [uid for uid in self.skips if uid <= last_uid]:
            settled[self.skips.pop(uid)] += 1
        self.outcome.skips.update(settled)
        return dict(settled)


def fetch_headers(run, uids, first_error=None):
    """The header fields of ``uids`` (after ``first_error``, how fetching them
    all at once failed), the messages the server cannot deliver held back."""
    session = run.session
    found, failed = run.narrowing.fetch(
        lambda part: {h.uid: h for h in session.fetch_headers(part, quick=True)},
        uids,
        first_error,
    )
    if failed:  # their dates, if the server can tell them
        dates, _failed = run.narrowing.fetch(
            lambda part: session.fetch_items(part, ["INTERNALDATE"]), sorted(failed)
        )
        for uid, err in sorted(failed.items()):
            date = dates.get(uid, {}).get(b"INTERNALDATE")
            counted = uid not in run.narrowing.unsettled
            run.held.failed(uid, err, internaldate=date, counted=counted)
    return [found[uid] for uid in sorted(found)]


def retry_held(run, uids):
    """Try again the messages earlier runs could not fetch (before the new
    ones); those read now are released, whatever they turn out to be."""
    stop_uid = _sync_batch(run, fetch_headers(run, uids))
    run.held.delivered(
        [
            uid
            for uid in uids
            if uid not in run.held.failed_now and (stop_uid is None or uid < stop_uid)
        ]
    )


def to_record(run, headers, by_uid):
    """The batch's messages to record: matched, not noise, for leads that get
    them, and not recorded yet. Those left out for a reason get it in
    ``run.skips``; a message whose header fields name nobody is malformed
    (logged through ``store.skip``)."""
    store, folder, lead_index = run.store, run.folder, run.lead_index
    for header in headers:
        if header.error and not (header.from_ or header.recipients):
            store.skip(
                folder, header.uid, malformed(folder.name, header.uid, header.error)
            )
            run.skips[header.uid] = skip_reasons.MALFORMED
    look_up = getattr(lead_index, "look_up", None)
    if look_up is not None:  # an index that the store reads as needed
        look_up(matcher.candidate_addresses(headers, folder.direction))
    matches = matcher.match(
        headers, folder.direction, lead_index, run.blocklist, skips=run.skips
    )
    run.outcome.matched += len(matches)
    candidates = []
    for match in without_noise(run, matches, by_uid):
        leads = store.allowed_leads(match.lead_ids, by_uid[match.uid].date)
        if leads:
            candidates.append((match, leads))
        else:
            run.skips[match.uid] = skip_reasons.BEFORE_LEAD
    done = store.known_pairs(
        folder, [(by_uid[match.uid], leads) for match, leads in candidates]
    )
    todo = []
    for match, leads in candidates:
        leads = {lead for lead in leads if (match.message_id, lead) not in done}
        if leads:
            todo.append(Recordable(match.uid, by_uid[match.uid], None, leads))
    return todo


def without_noise(run, matches, by_uid):
    """``matches`` but the mailing-list and automated mail (the rules of
    ``run.noise_rules``, :mod:`lib.sync.noise`), noted in ``run.skips``.

    A list message is kept when one of its To/Cc addresses belongs to one of
    the leads it matched: the addresses it names are looked up in the lead
    index (told first, when it reads the database as needed)."""
    rules = run.noise_rules
    if not rules:
        return matches
    listed = [m for m in matches if noise.may_be_list(by_uid[m.uid], rules)]
    to_lead = set()
    if listed:
        named = {m.uid: by_uid[m.uid].to + by_uid[m.uid].cc for m in listed}
        look_up = getattr(run.lead_index, "look_up", None)
        if look_up is not None:
            look_up({address for addresses in named.values() for address in addresses})
        for match in listed:
            if any(
                match.lead_ids.intersection(run.lead_index.get(address) or ())
                for address in named[match.uid]
            ):
                to_lead.add(match.uid)
    kept = []
    for match in matches:
        reason = noise.classify(by_uid[match.uid], rules, match.uid in to_lead)
        if reason is None:
            kept.append(match)
        else:
            run.skips[match.uid] = reason
    return kept


def _sync_batch(run, headers, bodies_fetched=lambda: None):
    """Record one batch; returns the UID where the daily cap stopped it, or None.
    ``bodies_fetched()`` is called once the batch no longer uses the session."""
    folder, store, outcome = run.folder, run.store, run.outcome
    by_uid = {header.uid: header for header in headers}
    todo = to_record(run, headers, by_uid)
    stop_uid = None
    cap = store.cap_left()
    if cap is not None and len(todo) > cap:
        stop_uid = todo[cap].uid
        todo = todo[:cap]
    sizes = {item.uid: by_uid[item.uid].size for item in todo}
    chunks = list(size_chunks(todo, sizes, run.body_batch_bytes))
    if not chunks:
        bodies_fetched()
    ready, taken = [], set()  # taken: see ``untaken``
    for number, chunk in enumerate(chunks, start=1):
        bodies, failed = fetch_bodies(run, [item.uid for item in chunk], sizes)
        if number == len(chunks):
            bodies_fetched()  # the last chunk is parsed while the session works on
        for item in chunk:
            if item.uid in failed:
                hold_back(run, item, failed[item.uid])
                continue
            if not parse_body(run, item, bodies.get(item.uid)) or not untaken(
                item, taken
            ):
                continue
            ready.append(item)
    if ready:
        # The chatter lists by id: write the batch in the order it was sent.
        ready.sort(key=lambda item: (date_key(item.header), item.uid))
        store.record(folder, ready)
        outcome.recorded += len(ready)
        outcome.uids.extend(item.uid for item in ready)
    return stop_uid


def untaken(item, taken) -> bool:
    """Drop from ``item`` (parsed) the leads on which this run already writes
    the same email: a copy of it under another UID (same Message-ID, same
    content; a copy of one that failed still counts). Another email that
    reuses the Message-ID (other content) is kept for the store to record.
    ``taken`` holds the (Message-ID, fingerprint, lead) triples written so
    far, and gets ``item``'s. Whether any lead is left."""
    key = (item.header.message_id, item.message.fingerprint)
    item.lead_ids = {lead for lead in item.lead_ids if (*key, lead) not in taken}
    taken |= {(*key, lead) for lead in item.lead_ids}
    return bool(item.lead_ids)


def hold_back(run, item, err):
    """``item``'s body could not be fetched: held back for a later run (counted
    against it once narrowing pinned it down)."""
    counted = item.uid not in run.narrowing.unsettled
    run.held.failed(item.uid, err, header=item.header, counted=counted)


def parse_body(run, item, raw):
    """Give ``item`` its message parsed from ``raw`` (or as the large-message
    reader already parsed it); False when there is nothing to record: expunged
    since the header fetch, or malformed (skipped with a log entry)."""
    if not raw:
        return False
    item.message = (
        raw
        if isinstance(raw, message_parser.ParsedMessage)
        else message_parser.parse_message(raw, run.attachment_cap)
    )
    if item.message.error and not item.message.body_html:
        run.store.skip(
            run.folder,
            item.uid,
            malformed(run.folder.name, item.uid, item.message.error),
        )
        run.skips[item.uid] = skip_reasons.MALFORMED
        return False
    return True


def fetch_bodies(run, uids, sizes):
    """(whole messages or, for one too large to take whole, its text and the
    attachments that fit, as a ParsedMessage; by UID, {uid: error} of those
    the server could not deliver)."""
    session = run.session
    bodies, failed = run.narrowing.fetch(
        lambda part: session.fetch_bodies(part, run.max_message_size, sizes), uids
    )
    too_large = [uid for uid, raw in bodies.items() if raw is None]
    if too_large:
        partial, failed_partial = run.narrowing.fetch(
            lambda part: {
                uid: large_message.fetch_partial(
                    session.fetch_items, uid, run.attachment_cap
                )
                for uid in part
            },
            too_large,
        )
        bodies.update(partial)
        failed.update(failed_partial)
    return bodies, failed
