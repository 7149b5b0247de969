"""The synthetic population (leads' and other correspondents' addresses,
deterministic, the same in every process) and a mailbox filled with its messages:
75 % Inbox / 25 % Sent, ~14 KiB average, ``MATCH_RATIO`` of them exchanged with
lead addresses, written straight into a Dovecot's Maildir."""

import datetime
import time
from collections import Counter

from .addon_lib import import_lib, import_testing

MATCH_RATIO = 0.05
LEAD_CORRESPONDENTS = 2000  # leads that appear in the mailbox
OTHER_CORRESPONDENTS = 3000  # addresses that are no lead
CORPUS_CHUNK = 10_000
CORPUS_START = datetime.datetime(2022, 1, 1, tzinfo=datetime.timezone.utc)

_FIRST = ("anna", "ben", "chloe", "daniel", "eva", "franz", "greta", "hugo", "ines")
_LAST = ("dupont", "muller", "smith", "garcia", "rossi", "nowak", "jansen", "silva")


def lead_contact(i):
    first, last = _FIRST[i % len(_FIRST)], _LAST[(i // len(_FIRST)) % len(_LAST)]
    name = f"{first.capitalize()} {last.capitalize()}"
    return name, f"{first}.{last}.{i}@prospect{i % 487}.example"


def other_contact(i):
    first, last = _FIRST[i % len(_FIRST)], _LAST[(i // len(_FIRST)) % len(_LAST)]
    name = f"{first.capitalize()} {last.capitalize()}"
    return name, f"{first}{i}@vendor{i % 211}.example"


def lead_correspondents(n_leads):
    step = max(1, n_leads // LEAD_CORRESPONDENTS)
    return [lead_contact(i) for i in range(0, n_leads, step)][:LEAD_CORRESPONDENTS]


def make_messages(lib, owner, n, n_match, n_leads, seed, start, span_days, html_ratio):
    """``n`` messages of ``owner`` (name, address), ``n_match`` of them with leads,
    oldest first; the number of (message, lead) pairs a sync must record for them;
    the Message-IDs of those with leads."""
    leads = lead_correspondents(n_leads)
    lead_addresses = {address for _name, address in leads}
    others = [other_contact(i) for i in range(OTHER_CORRESPONDENTS)]
    common = {
        "owner": owner,
        "start": start,
        "span_days": span_days,
        "html_ratio": html_ratio,
    }
    testing = import_testing()
    matching = testing.make_corpus(n_match, seed=seed, contacts=leads, **common)
    rest = testing.make_corpus(n - n_match, seed=seed + 1, contacts=others, **common)
    pairs = 0
    matched_ids = []
    for message in matching:
        header = lib.message.headers.parse_headers(message.raw)
        candidates = header.from_ if message.folder == "INBOX" else header.recipients
        found = lead_addresses.intersection(candidates)
        pairs += len(found)
        if found:
            matched_ids.append(message.message_id)
    corpus = sorted(matching + rest, key=lambda message: message.date)
    return corpus, pairs, matched_ids


def fill_mailbox(
    dovecot_dir,
    login,
    password,
    owner,
    n_messages,
    n_leads,
    html_ratio=0.0,
    seed=1,
    start=CORPUS_START,
):
    """Child process: generate the corpus in chunks and write it into ``login``'s
    Maildir of the Dovecot living in ``dovecot_dir`` (started by the parent).
    Returns counts."""
    lib = import_lib()
    server = import_testing().DovecotServer()
    # Only the Maildir writer is used here: it needs the directory and the user.
    server.dir = dovecot_dir
    server.users = {login: password}
    started = time.perf_counter()
    folders, pairs, size, matched_ids = Counter(), 0, 0, []
    chunks = max(1, -(-n_messages // CORPUS_CHUNK))
    span = 3 * 365 / chunks
    for k in range(chunks):
        n = min(CORPUS_CHUNK, n_messages - k * CORPUS_CHUNK)
        n_match = round((k * CORPUS_CHUNK + n) * MATCH_RATIO) - round(
            k * CORPUS_CHUNK * MATCH_RATIO
        )
        corpus, chunk_pairs, chunk_ids = make_messages(
            lib,
            owner,
            n,
            n_match,
            n_leads,
            seed * 1000 + 2 * k,
            start + datetime.timedelta(days=k * span),
            span,
            html_ratio,
        )
        pairs += chunk_pairs
        matched_ids.extend(chunk_ids)
        for folder in ("INBOX", "Sent"):
            items = [(m.raw, m.date) for m in corpus if m.folder == folder]
            server.fill_maildir(login, folder, items)
            folders[folder] += len(items)
            size += sum(len(raw) for raw, _date in items)
    return {
        "seconds": time.perf_counter() - started,
        "folders": dict(folders),
        "bytes": size,
        "pairs": pairs,
        "matched_message_ids": matched_ids,
    }
