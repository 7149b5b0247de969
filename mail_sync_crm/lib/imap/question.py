"""The IMAP search behind "Why is this email not here?": the messages of one
address (From, To or Cc) or with one subject, in a mailbox's Inbox and Sent.

A user asks, so the search is bounded: at most ``limit`` messages per folder
(the newest, highest UIDs), their header fields only, within the session's
deadline (:mod:`lib.net.deadline`). Nothing is written and no checkpoint moves.
The server's match is a substring (RFC 3501): the caller decides with the
exact addresses (``lib.sync.explain``).
"""

from dataclasses import dataclass, field

from ..message.headers import HeaderInfo

__all__ = [
    "SEARCH_LIMIT",
    "FolderAnswer",
    "criteria_for",
    "search_folders",
    "without_uids",
]

SEARCH_LIMIT = 50  # messages read per folder and question, the newest


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def criteria_for(address: str | None = None, subject: str | None = None):
    """``(criteria, charset)`` of the UID SEARCH for the messages naming
    ``address`` in From, To or Cc, or whose subject contains ``subject``.
    An ASCII value goes as an IMAP quoted string written here; another in
    imapclient's list form, with ``CHARSET UTF-8``."""
    text = (address or subject or "").strip()
    if not text:
        raise ValueError("nothing to search for")
    if address:
        keys = ("FROM", "TO", "CC")
    else:
        keys = ("SUBJECT",)
    if text.isascii() and "\r" not in text and "\n" not in text:
        value = _quoted(text)
        if len(keys) == 1:
            return f"SUBJECT {value}", None
        return f"OR OR FROM {value} TO {value} CC {value}", None
    if len(keys) == 1:
        return ["SUBJECT", text], "UTF-8"
    return ["OR", "OR", "FROM", text, "TO", text, "CC", text], "UTF-8"


@dataclass
class FolderAnswer:
    """What one folder's search found."""

    folder: str
    uidvalidity: int = 0
    headers: list[HeaderInfo] = field(default_factory=list)
    more: bool = False  # over ``limit``: only the newest were read


def without_uids(criteria, uids, uidnext):
    """``criteria`` narrowed to the UIDs below ``uidnext`` other than ``uids``
    (the server then never opens those messages: one it cannot read would fail
    the search), or None when no UID is left. The ranges end at ``uidnext - 1``:
    "n:*" always takes in the highest UID, even below n (RFC 3501)."""
    if not uids:
        return criteria
    ranges, start = [], 1
    for uid in sorted(uids) + [max(uidnext, 1)]:
        if uid > start:
            ranges.append(f"{start}:{uid - 1}")
        start = max(start, uid + 1)
    if not ranges:
        return None
    uid_set = ",".join(ranges)
    if isinstance(criteria, str):
        return f"UID {uid_set} {criteria}"
    return ["UID", uid_set, *criteria]


def search_folders(
    session, folders, address=None, subject=None, limit=SEARCH_LIMIT, held=None
) -> list[FolderAnswer]:
    """Search each of ``folders`` (names) of an open session; folders the
    server does not have are left out. ``held``: {folder: {uidvalidity: UIDs}}
    of the held messages (the server failed to deliver them): left out of the
    search (reading one would fail it)."""
    criteria, charset = criteria_for(address, subject)
    answers = []
    statuses = session.examine_folders(list(folders))
    for name in folders:
        status = statuses.get(name)
        if status is None:
            continue
        session.select_folder(name)
        skipped = (held or {}).get(name, {}).get(status.uidvalidity, set())
        narrowed = without_uids(criteria, skipped, status.uidnext)
        found = session.search(narrowed, charset) if narrowed is not None else []
        uids = sorted(uid for uid in found if uid not in skipped)
        answer = FolderAnswer(name, status.uidvalidity, more=len(uids) > limit)
        answer.headers = session.fetch_headers(uids[-limit:]) if uids else []
        answers.append(answer)
    return answers
