"""Reference measurements for the sync benchmark (no Odoo import).

* :func:`transfer_floor`: the least a header-first sync must transfer, done
  with plain imapclient and nothing else: header fields + RFC822.SIZE of every
  UID in 2,000-UID chunks, then ``BODY.PEEK[]`` of the UIDs a predicate picks.
  The product's sync is compared with this floor (its overhead = matching,
  parsing, posting).
* :func:`naive_fetch`: Odoo fetchmail's way, one ``FETCH RFC822`` per message.

Both log in through lib's ``imap.session.ImapSession`` (same TLS and login as
the product) and then use ``session.client`` directly.
"""

import email
import email.policy
import time
from collections.abc import Callable, Iterable

from ._lib import lib_module

_session = lib_module("imap.session")
HEADER_ITEM, ImapSession = _session.HEADER_ITEM, _session.ImapSession

__all__ = ["BODY_CHUNK", "HEADER_CHUNK", "naive_fetch", "transfer_floor"]

HEADER_CHUNK = 2000
BODY_CHUNK = 200
_HEADER_KEY_PREFIX = b"BODY[HEADER.FIELDS"


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _header_bytes(data: dict) -> bytes:
    for key, value in data.items():
        if key.startswith(_HEADER_KEY_PREFIX):
            return value or b""
    return b""


def _floor_folder(client, folder: str, predicate: Callable) -> tuple[int, int, int]:
    """(headers, bodies, body bytes) fetched from one folder."""
    client.select_folder(folder, readonly=True)
    uids = sorted(client.search("ALL"))
    matched = []
    for chunk in _chunks(uids, HEADER_CHUNK):
        response = client.fetch(chunk, [HEADER_ITEM, "RFC822.SIZE"])
        matched.extend(
            uid
            for uid, data in response.items()
            if predicate(folder, uid, _header_bytes(data))
        )
    body_bytes = 0
    for chunk in _chunks(sorted(matched), BODY_CHUNK):
        response = client.fetch(chunk, ["BODY.PEEK[]"])
        body_bytes += sum(len(data.get(b"BODY[]") or b"") for data in response.values())
    return len(uids), len(matched), body_bytes


def transfer_floor(
    settings,  # lib.net.settings.ImapSettings
    folders: Iterable[str],
    matched_fraction_predicate: Callable[[str, int, bytes], bool],
) -> dict:
    """Time a plain header-then-bodies transfer of ``folders``.

    ``matched_fraction_predicate(folder, uid, header_bytes)`` says which
    messages count as matched (e.g. ``lambda f, uid, h: uid % 20 == 0`` for
    5 %); their bodies are fetched. Returns ``{"seconds", "headers", "bodies",
    "body_bytes"}``; the time includes login and logout.
    """
    started = time.perf_counter()
    headers = bodies = body_bytes = 0
    with ImapSession(settings) as session:
        for folder in folders:
            h, b, size = _floor_folder(
                session.client, folder, matched_fraction_predicate
            )
            headers, bodies, body_bytes = headers + h, bodies + b, body_bytes + size
    return {
        "seconds": time.perf_counter() - started,
        "headers": headers,
        "bodies": bodies,
        "body_bytes": body_bytes,
    }


def naive_fetch(
    settings,  # lib.net.settings.ImapSettings
    folder: str,
    n: int,
    parse: bool = False,
    readonly: bool = True,
) -> dict:
    """Time ``FETCH RFC822`` of the first ``n`` messages, one command each.

    ``parse=True`` also parses each message with the ``email`` package, as
    Odoo does. ``readonly=False`` selects read-write, so (like fetchmail) the
    messages become \\Seen. Returns ``{"seconds", "messages", "bytes"}``.
    """
    started = time.perf_counter()
    total = count = 0
    with ImapSession(settings) as session:
        client = session.client
        client.select_folder(folder, readonly=readonly)
        for uid in sorted(client.search("ALL"))[:n]:
            raw = client.fetch([uid], ["RFC822"]).get(uid, {}).get(b"RFC822") or b""
            if parse:
                email.message_from_bytes(raw, policy=email.policy.default)
            total += len(raw)
            count += 1
    return {"seconds": time.perf_counter() - started, "messages": count, "bytes": total}
