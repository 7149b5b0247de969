"""Messages the server cannot deliver: they cost themselves only.

A message whose file is unreadable or damaged on the server makes the server
abort the FETCH that asks for it and, often, drop the connection (Dovecot
answers ``* BYE Internal error`` or stops in the middle of the literal). The
whole batch would fail, on every run, and nothing behind it would ever arrive.

* :class:`Narrowing` runs a FETCH of many UIDs; when it fails the way such a
  message makes it fail, it reconnects and splits the UIDs in halves until
  the failures are pinned on single UIDs (a UID is tried alone twice before it
  is blamed), and returns what the others gave. When the server cannot be
  reached again, or the folder's UIDs were renumbered meanwhile, the original
  failure is raised: that is a failing server, not a failing message. Past
  :data:`MAX_RECONNECTS`, the UIDs not settled yet count as failed on this run
  (held back, tried again on the next ones).
* :class:`HeldMessages` keeps a folder's count of failed attempts per UID
  (the store persists it): a message that failed is held back and tried again
  on the next runs, then, after :data:`MAX_ATTEMPTS` failures, skipped with a
  log entry naming the folder, the UID, and its date, sender and subject when
  they could be read (``message_undeliverable``). A message that works again
  is released.
"""

import datetime

from .. import errors

__all__ = ["MAX_ATTEMPTS", "NARROWED_CODES", "HeldMessages", "Narrowing"]

MAX_ATTEMPTS = 4  # the first failure, then three more runs
# How a FETCH fails on a message the server cannot deliver: the connection
# dropped (BYE, EOF mid-answer), a NO/BAD answer, or an answer that cannot be
# read. A timeout is not one of them (a hung server is not narrowed).
NARROWED_CODES = frozenset({"connection_lost", "server_error", "unknown"})
# Reconnections per folder and run: pinning k undeliverable messages down among
# n takes about k * (log2(n / k) + 2); past this, the UIDs not settled yet are
# held back and settled on the next runs.
MAX_RECONNECTS = 64


class Narrowing:
    """FETCHes through ``session`` on folder ``name`` (UIDVALIDITY
    ``uidvalidity``) that survive messages the server cannot deliver.
    ``stopped()`` says when no more reconnecting is wanted (the turn's
    deadline passed)."""

    def __init__(self, session, name, uidvalidity, stopped=lambda: False):
        self.session = session
        self.name = name
        self.uidvalidity = uidvalidity
        self.stopped = stopped
        self.reconnects = 0
        self.unsettled = set()  # failed with others, not pinned down on this run

    def fetch(self, fetch, uids, first_error=None):
        """``fetch(uids)`` (a dict by UID) over ``uids``: (answers by UID,
        {uid: MailSyncError} of the UIDs the server could not deliver).
        ``first_error``: how ``fetch(uids)`` already failed once."""
        answers, failed, alone = {}, {}, set()
        pending = [(list(uids), first_error)]
        while pending:
            part, err = pending.pop()
            if not part:
                continue
            if err is None:
                try:
                    answers.update(fetch(part))
                    continue
                except errors.MailSyncError as exc:
                    err = exc
            self._reconnect(err)
            if self.reconnects > MAX_RECONNECTS:
                # Too many to pin down one by one on this run: hold every UID
                # not settled yet; the next runs try them again (and settle
                # them), so the checkpoint still moves on.
                for rest, _err in [(part, err), *pending]:
                    failed.update(dict.fromkeys(rest, err))
                    self.unsettled.update(rest)
                break
            if len(part) > 1:
                half = len(part) // 2
                pending += [(part[half:], None), (part[:half], None)]
            elif part[0] in alone:
                failed[part[0]] = err
            else:
                alone.add(part[0])  # tried alone once more before it is blamed
                pending.append((part, None))
        return answers, failed

    def _reconnect(self, err):
        """Open a new connection in place of the one ``err`` broke, or raise
        ``err`` when it is not a failure a message can cause."""
        if err.code not in NARROWED_CODES or self.stopped():
            raise err
        self.reconnects += 1
        self.session.close()
        try:
            self.session.open()
            status = self.session.select_folder(self.name)
        except errors.MailSyncError as exc:
            raise err from exc
        if status.uidvalidity != self.uidvalidity:
            raise err


def _when(value) -> str:
    if not isinstance(value, datetime.datetime):
        return "-"
    if value.tzinfo is not None:
        value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return value.strftime("%Y-%m-%d %H:%M UTC")


class HeldMessages:
    """The failed attempts of one folder's messages, for the engine: ``retry``
    (the UIDs held back by earlier runs, to try again now), :meth:`failed`,
    :meth:`delivered`."""

    def __init__(self, store, folder, uidvalidity, outcome):
        self.store = store
        self.folder = folder
        self.uidvalidity = uidvalidity
        self.outcome = outcome
        self.attempts = dict(store.held(folder, uidvalidity))  # uid -> failures
        self.retry = sorted(self.attempts)
        self.failed_now = set()  # the UIDs that failed on this run

    def failed(self, uid, err, header=None, internaldate=None, counted=True):
        """``uid`` could not be fetched (``err``); ``header`` (a HeaderInfo)
        when its header fields were read, else its ``internaldate`` if known.
        ``counted``: it was pinned down (not just unsettled among others)."""
        attempts = self.attempts.get(uid, 0) + (1 if counted else 0)
        self.attempts[uid] = attempts
        self.failed_now.add(uid)
        give_up = attempts >= MAX_ATTEMPTS
        date = getattr(header, "date", None) or internaldate
        from_ = getattr(header, "from_", None) or []
        params = {
            "folder": self.folder.name,
            "uid": uid,
            "attempts": attempts,
            "date": _when(date),
            "date_value": date,
            "sender": from_[0] if from_ else "-",
            "subject": (getattr(header, "subject", "") or "-")[:200],
        }
        undeliverable = errors.MailSyncError(
            "message_undeliverable",
            f"UID {uid} in {self.folder.name}, attempt {attempts}: {err}",
            side="imap",
            host=err.host,
            port=err.port,
            params=params,
        )
        self.store.hold(
            self.folder, self.uidvalidity, uid, attempts, undeliverable, give_up
        )
        if give_up:
            self.outcome.given_up += 1
        else:
            self.outcome.held += 1

    def delivered(self, uids):
        """``uids`` were read (recorded, or found not to concern any lead)."""
        done = [uid for uid in uids if uid in self.attempts]
        if done:
            self.store.release(self.folder, self.uidvalidity, done)
            for uid in done:
                del self.attempts[uid]
