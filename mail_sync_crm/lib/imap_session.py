"""IMAP session: TLS policy, certificate pinning, login, folder discovery, and
the batched reads of a sync run.

Read-only by construction: folders are examined with ``readonly=True`` and bodies are
fetched with ``BODY.PEEK`` only, so syncing never changes a flag in the mailbox.

A sync run first examines all its folders in one round trip
(:meth:`ImapSession.examine_folders`: UIDVALIDITY, UIDNEXT); a folder with nothing
above its checkpoint is left at that. Another is read in three steps, each one
``UID`` command per batch: :meth:`ImapSession.uids_after` (the UIDs above the
checkpoint), :meth:`ImapSession.fetch_headers` (the address fields of a batch of
~2,000 UIDs), then :meth:`ImapSession.fetch_bodies` for the matched UIDs only.
"""

import contextlib
import datetime
import functools
import re
import socket
from dataclasses import dataclass

from . import errors, tls
from .deadline import Deadline, Watchdog, connect_within
from .parser import HEADER_FIELDS, HeaderInfo, parse_headers

# Names of the Sent folder on servers without SPECIAL-USE (RFC 6154).
SENT_NAMES = (
    "Sent",
    "Sent Items",
    "Sent Mail",
    "Sent Messages",
    "[Gmail]/Sent Mail",
    "INBOX.Sent",
    "INBOX/Sent",
    "INBOX.Sent Items",
    "Gesendet",
    "Gesendete Elemente",
    "Envoyés",
    "Éléments envoyés",
    "Enviados",
    "Elementos enviados",
    "Posta inviata",
    "Verzonden items",
)
SENT_FLAG = b"\\Sent"
HEADER_ITEM = f"BODY.PEEK[HEADER.FIELDS ({' '.join(HEADER_FIELDS)})]"
BODY_ITEM = "BODY.PEEK[]"
# How the server names the items in its FETCH answer (without .PEEK).
_HEADER_KEY_PREFIX = b"BODY[HEADER.FIELDS"
_BODY_KEY = b"BODY[]"
_SIZE_KEY = b"RFC822.SIZE"
_INTERNALDATE_KEY = b"INTERNALDATE"
# Answers to SELECT/EXAMINE meaning "no such folder" (Dovecot, Gmail, Exchange...).
_MISSING_FOLDER_TEXTS = (
    "[nonexistent]",
    "doesn't exist",
    "does not exist",
    "unknown mailbox",
    "not found",
)


ImapSettings = tls.ServerSettings


@dataclass
class ImapCheck:
    fingerprint: str | None
    inbox: str
    sent: str
    folders: list


@dataclass
class FolderStatus:
    """A folder as examined: UIDs are only comparable within one UIDVALIDITY."""

    name: str
    uidvalidity: int
    uidnext: int
    exists: int


def find_sent_folder(folders) -> str | None:
    """The Sent folder from ``list_folders()`` rows: SPECIAL-USE ``\\Sent`` first,
    then well-known names (case-insensitive)."""
    names = []
    for flags, _delimiter, name in folders:
        if any(flag.lower() == SENT_FLAG.lower() for flag in flags):
            return name
        names.append(name)
    by_lower = {name.lower(): name for name in names}
    for candidate in SENT_NAMES:
        if candidate.lower() in by_lower:
            return by_lower[candidate.lower()]
    return None


@functools.lru_cache(maxsize=2)
def _tls_context(allow_self_signed: bool):
    """``tls.make_context``, made once per process: loading the system's trusted
    certificates takes ~45 ms, more than a whole incremental sync's Odoo work.
    (A context holds no connection state; it is shared by every session.)"""
    return tls.make_context(allow_self_signed)


class ImapSession:
    """``with ImapSession(settings) as session:`` a logged-in imapclient client in
    ``session.client``; every failure surfaces as a classified ``MailSyncError``.

    With a ``deadline`` (:class:`.deadline.Deadline`), every connection the
    session opens is shut down when it passes, whatever the server is doing,
    and any failure from then on is ``sync_deadline``."""

    def __init__(self, settings: ImapSettings, deadline: Deadline | None = None):
        self.settings = settings
        self.client = None
        self.fingerprint = None
        self.folder: FolderStatus | None = None
        self.deadline = deadline
        self._watchdog = None

    def _fail(self, exc):
        s = self.settings
        if self.deadline is not None and self.deadline.expired:
            return self.deadline.error(host=s.host, port=s.port)
        return errors.classify(
            exc, side="imap", host=s.host, port=s.port, secrets=s.secrets, auth=s.auth
        )

    def _watch(self, client):
        """(Re-)arm the deadline on ``client``'s current socket."""
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self.deadline is not None:
            self._watchdog = Watchdog(self.deadline, client.socket())

    def open(self):
        s = self.settings
        context = _tls_context(s.allow_self_signed)
        try:
            client = connect_within(
                self.deadline,
                lambda: _client_class()(
                    s.host,
                    port=s.port,
                    ssl=s.encryption == "ssl",
                    ssl_context=context,
                    timeout=s.timeout,
                ),
                lambda late: late.shutdown(),
            )
        except Exception as exc:
            raise self._fail(exc) from exc
        self.client = client
        self._watch(client)
        with contextlib.suppress(OSError, AttributeError):
            # imapclient writes a command line and its CRLF separately: without
            # this, Nagle holds the CRLF back until the server's delayed ACK
            # (up to 40 ms per command).
            client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            if s.encryption == "starttls":
                if b"STARTTLS" not in client.capabilities():
                    raise errors.MailSyncError(
                        "starttls_unsupported", side="imap", detail="no STARTTLS"
                    )
                client.starttls(context)
                self._watch(client)  # the TLS socket took the plain one's place
            if s.encryption != "none":
                self.fingerprint = tls.check_pin(
                    client.socket(), s.allow_self_signed, s.pinned_fingerprint, "imap"
                )
            if s.access_token:
                # SASL XOAUTH2 (Gmail, Microsoft 365): the token, not a password.
                client.oauth2_login(s.login, s.access_token)
            elif (s.login + s.password).isascii():
                client.login(s.login, s.password)
            else:
                # LOGIN is ASCII-only in imaplib; AUTHENTICATE PLAIN carries UTF-8.
                client.plain_login(s.login, s.password)
        except Exception as exc:
            self.close()
            raise self._fail(exc) from exc
        return self

    def close(self):
        """Send LOGOUT and close the connection without waiting for the server's
        goodbye (a round trip that tells the client nothing)."""
        client, self.client = self.client, None
        self.folder = None
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if client is None:
            return
        with contextlib.suppress(Exception):  # the connection may already be gone
            imap = client._imap
            imap.send(imap._new_tag() + b" LOGOUT\r\n")
        with contextlib.suppress(Exception):
            client.shutdown()

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc_info):
        self.close()

    def discover_folders(self) -> tuple[str, str, list]:
        """(inbox, sent, all folder rows), raising ``folder_missing`` when either
        cannot be found."""
        try:
            folders = self.client.list_folders()
        except Exception as exc:
            raise self._fail(exc) from exc
        inbox = next(
            (name for _f, _d, name in folders if name.upper() == "INBOX"), None
        )
        sent = find_sent_folder(folders)
        if not inbox or not sent:
            raise errors.MailSyncError(
                "folder_missing",
                side="imap",
                detail="folders: " + ", ".join(name for _f, _d, name in folders),
            )
        return inbox, sent, folders

    # -- reading a folder ------------------------------------------------------

    def _call(self, method, *args, **kwargs):
        """``self.client.method(*args)``, any failure raised as MailSyncError."""
        try:
            return getattr(self.client, method)(*args, **kwargs)
        except Exception as exc:
            raise self._fail(exc) from exc

    def select_folder(self, name: str) -> FolderStatus:
        """EXAMINE ``name`` (read-only: nothing in the mailbox can change).

        Raises ``folder_missing`` when the folder does not exist.
        """
        try:
            info = self.client.select_folder(name, readonly=True)
        except Exception as exc:
            text = str(exc).lower()
            if any(fragment in text for fragment in _MISSING_FOLDER_TEXTS):
                raise errors.MailSyncError(
                    "folder_missing",
                    detail=f"folder {name!r}: {exc}",
                    side="imap",
                    host=self.settings.host,
                    port=self.settings.port,
                ) from exc
            raise self._fail(exc) from exc
        self.folder = _folder_status(name, info)
        return self.folder

    def examine_folders(self, names: list[str]) -> dict[str, FolderStatus | None]:
        """EXAMINE each folder in turn, the commands written together (IMAP
        pipelining): one round trip tells every folder's UIDVALIDITY, UIDNEXT
        and size. The last folder stays selected (``self.folder``). A folder the
        server refuses maps to None (:meth:`select_folder` says why); as after
        any refused EXAMINE, the server then has no folder selected."""
        found = self._call("examine_folders", list(names))
        statuses = {
            name: None if info is None else _folder_status(name, info)
            for name, info in found.items()
        }
        self.folder = statuses.get(names[-1]) if names else self.folder
        return statuses

    def uids_after(self, last_uid: int) -> list[int]:
        """Sorted UIDs of the selected folder strictly above ``last_uid``
        (all of them for 0)."""
        last_uid = max(0, int(last_uid or 0))
        criteria = ["UID", f"{last_uid + 1}:*"] if last_uid else "ALL"
        found = self._call("search", criteria)
        # "UID n:*" always includes the highest UID, even when it is below n.
        return sorted(uid for uid in found if uid > last_uid)

    def fetch_headers(self, uids: list[int], quick: bool = False) -> list[HeaderInfo]:
        """Header fields, size and INTERNALDATE of ``uids`` in one UID FETCH.

        One :class:`HeaderInfo` per UID still in the folder (expunged ones are
        left out), in UID order. A message whose header cannot be read comes
        back with ``error`` set; only a failure of the connection raises.
        ``quick``: see :func:`~.parser.parse_headers`.
        """
        if not uids:
            return []
        response = self._fetch(uids, [HEADER_ITEM, "RFC822.SIZE", "INTERNALDATE"])
        return [_header_info(uid, response[uid], quick) for uid in sorted(response)]

    def fetch_bodies(
        self,
        uids: list[int],
        max_size: int | None,
        sizes: dict[int, int] | None = None,
    ) -> dict[int, bytes | None]:
        """Whole messages (``BODY.PEEK[]``, never sets \\Seen) of ``uids`` in one
        UID FETCH.

        A message larger than ``max_size`` bytes (RFC822.SIZE, from ``sizes``
        when given, else fetched first) is not downloaded: its value is None.
        UIDs no longer in the folder are missing from the result.
        """
        if not uids:
            return {}
        if sizes is None or any(uid not in sizes for uid in uids):
            sizes = {**(sizes or {}), **self.fetch_sizes(uids)}
        result: dict[int, bytes | None] = {}
        wanted = []
        for uid in uids:
            if uid not in sizes:
                continue  # expunged meanwhile
            if max_size is not None and sizes[uid] > max_size:
                result[uid] = None
            else:
                wanted.append(uid)
        if wanted:
            response = self._fetch(wanted, [BODY_ITEM])
            for uid in wanted:
                if uid in response:
                    result[uid] = bytes(response[uid].get(_BODY_KEY) or b"")
        return result

    def fetch_items(self, uids: list[int], items: list[str]) -> dict:
        """One UID FETCH of ``items`` as imapclient answers it ({uid: {item:
        value}}), e.g. BODYSTRUCTURE and ``BODY.PEEK[<section>]``."""
        return self._fetch(uids, items) if uids else {}

    def fetch_sizes(self, uids: list[int]) -> dict[int, int]:
        """RFC822.SIZE of ``uids`` (expunged ones left out), in one UID FETCH."""
        if not uids:
            return {}
        response = self._fetch(uids, ["RFC822.SIZE"])
        return {uid: int(data.get(_SIZE_KEY) or 0) for uid, data in response.items()}

    def _fetch(self, uids: list[int], items: list[str]) -> dict:
        """One UID FETCH with aware INTERNALDATEs (imapclient's normalise_times
        would turn them into naive local times)."""
        client = self.client
        normalise = getattr(client, "normalise_times", True)
        try:
            if client is not None:
                client.normalise_times = False
            return self._call("fetch", [int(uid) for uid in uids], items)
        finally:
            if client is not None:
                client.normalise_times = normalise


def _folder_status(name: str, info: dict) -> FolderStatus:
    """A :class:`FolderStatus` from imapclient's SELECT/EXAMINE answer."""
    return FolderStatus(
        name=name,
        uidvalidity=int(info.get(b"UIDVALIDITY") or 0),
        uidnext=int(info.get(b"UIDNEXT") or 0),
        exists=int(info.get(b"EXISTS") or 0),
    )


def _header_info(uid: int, data: dict, quick: bool = False) -> HeaderInfo:
    """A :class:`HeaderInfo` from one message's FETCH data. Never raises."""
    raw = next(
        (value for key, value in data.items() if key.startswith(_HEADER_KEY_PREFIX)),
        None,
    )
    size = data.get(_SIZE_KEY)
    internaldate = data.get(_INTERNALDATE_KEY)
    if not isinstance(internaldate, datetime.datetime):
        internaldate = None
    info = parse_headers(
        raw if isinstance(raw, bytes) else b"",
        size=size if isinstance(size, int) else 0,
        internaldate=internaldate,
        uid=uid,
        quick=quick,
    )
    if raw is None:
        info.error = "no header data in the FETCH answer"
    return info


# -- FETCH responses -------------------------------------------------------------
#
# imapclient's FETCH response parser tokenises every response byte by byte in
# Python: on a historical sync it costs more than reading the responses. The sync
# only asks for a few simple items (UID, RFC822.SIZE, INTERNALDATE, BODY[...]),
# so the common shapes of their answers are parsed here with two regular
# expressions into exactly what imapclient returns; any other shape (nested
# lists, quoted strings with escapes, ENVELOPE, BODYSTRUCTURE...) goes to
# imapclient's parser.

_FETCH_HEAD = re.compile(rb"(\d+) \(")
_FETCH_ITEM = re.compile(
    rb" ?([A-Za-z0-9.\-]+(?:\[[^\]]*\](?:<\d+>)?)?) "
    rb'(?:(\d+)|"([^"\\\r\n]*)"|(NIL)|\(([^()"{}\r\n]*)\)|\{(\d+)\}$)'
)
_INTERNALDATE_RE = re.compile(
    rb" ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([-+])(\d\d)(\d\d)"
)
_MONTHS = {
    month: number
    for number, month in enumerate(
        (b"jan", b"feb", b"mar", b"apr", b"may", b"jun")
        + (b"jul", b"aug", b"sep", b"oct", b"nov", b"dec"),
        start=1,
    )
}
_COMPLEX_ITEMS = frozenset((b"ENVELOPE", b"BODY", b"BODYSTRUCTURE"))


def _atom(token: bytes):
    """An atom as imapclient types it: NIL -> None, a number -> int."""
    if token == b"NIL":
        return None
    if token.isdigit() and (token[:1] != b"0" or len(token) == 1):
        return int(token)
    return token


def _internaldate(value, normalise_times: bool):
    """An INTERNALDATE value as imapclient converts it (aware datetime when not
    normalised; an unreadable date gives None)."""
    if value is not None and not normalise_times:
        match = _INTERNALDATE_RE.fullmatch(value)
        month = match and _MONTHS.get(match.group(2).lower())
        if month:
            day, _m, year, hour, minute, second, sign, tz_h, tz_m = match.groups()
            offset = datetime.timedelta(hours=int(tz_h), minutes=int(tz_m))
            with contextlib.suppress(ValueError):
                return datetime.datetime(
                    int(year),
                    month,
                    int(day),
                    int(hour),
                    int(minute),
                    int(second),
                    tzinfo=datetime.timezone(-offset if sign == b"-" else offset),
                )
    from imapclient.response_parser import _convert_INTERNALDATE

    return _convert_INTERNALDATE(value, normalise_times)


def _fetch_segments(data):
    """Each message's answer in imaplib's FETCH data: ([text, ...], [literal, ...])
    where every text but the last ends with the ``{n}`` of its literal. None when
    the data has another shape."""
    messages, texts, literals = [], [], []
    for element in data:
        if isinstance(element, tuple):
            if len(element) != 2 or not all(isinstance(e, bytes) for e in element):
                return None
            texts.append(element[0])
            literals.append(element[1])
        elif isinstance(element, bytes):
            texts.append(element)
            messages.append((texts, literals))
            texts, literals = [], []
        else:
            return None
    return None if texts else messages


def _parse_message_items(texts, literals, normalise_times, uid_is_key):
    """(message key, items) of one message's answer, or None (unusual shape)."""
    head = _FETCH_HEAD.match(texts[0])
    if head is None:
        return None
    seq = key = int(head.group(1))
    items = {b"SEQ": seq}
    last = len(texts) - 1
    for number, text in enumerate(texts):
        pos = head.end() if number == 0 else 0
        while not (number == last and text[pos:] == b")"):
            match = _FETCH_ITEM.match(text, pos)
            if match is None:
                return None
            pos = match.end()
            name, digits, quoted, nil, listed, literal = match.groups()
            if literal is not None:
                if number == last or int(literal) != len(literals[number]):
                    return None
                value = literals[number]
            elif digits is not None:
                value = _atom(digits)
            elif listed is not None:
                value = tuple(_atom(token) for token in listed.split())
            else:
                value = None if nil else quoted
            word = name.upper()
            if word in _COMPLEX_ITEMS:
                return None
            if word == b"UID":
                if not isinstance(value, int):
                    return None
                if uid_is_key:
                    key = value
                else:
                    items[word] = value
            elif word == b"INTERNALDATE":
                items[word] = _internaldate(value, normalise_times)
            else:
                items[word] = value
            if literal is not None:
                break  # the literal ends this text
    return key, items


def parse_fetch(data, normalise_times=True, uid_is_key=True) -> dict:
    """imapclient's ``parse_fetch_response(data, ...)``, faster on the simple
    answers a sync asks for (and imapclient's own parser for any other)."""
    if data == [None]:
        return {}
    messages = _fetch_segments(data)
    parsed = {}
    for texts, literals in messages or ():
        item = _parse_message_items(texts, literals, normalise_times, uid_is_key)
        if item is None:
            messages = None
            break
        key, items = item
        parsed.setdefault(key, {}).update(items)
    if messages is None:
        from imapclient.response_parser import parse_fetch_response

        return parse_fetch_response(data, normalise_times, uid_is_key)
    return parsed


_FETCH_RESPONSE = re.compile(rb"\* (\d+) FETCH ")
_LITERAL_AT_END = re.compile(rb"\{(\d+)\}$")


def _read_fetch_answer(imap, tag):
    """What imaplib's ``_command_complete("FETCH", tag)`` then
    ``_untagged_response(typ, data, "FETCH")`` give: (typ, data, FETCH data).

    imaplib reads each response line through several regular expressions and
    dictionary updates; FETCH responses, the bulk of a sync's traffic, are read
    here instead, into exactly the same data. Anything else (the tagged
    completion, EXISTS, BYE, a response whose start is not buffered yet...) is
    left to imaplib's own ``_get_response``."""
    peek = imap.file.peek
    untagged = imap.untagged_responses
    fetched = untagged.pop("FETCH", [])  # as _untagged_response would return them
    try:
        imap._check_bye()
        while imap.tagged_commands.get(tag) is None:
            match = _FETCH_RESPONSE.match(peek(64))
            if match is None:
                imap._check_bye()
                imap._get_response()
                fetched.extend(untagged.pop("FETCH", ()))
                continue
            line = imap._get_line()
            rest = line[match.end() :]
            dat = match.group(1) + b" " + rest if rest else match.group(1)
            literal = _LITERAL_AT_END.search(dat) if dat[-1:] == b"}" else None
            while literal is not None:
                fetched.append((dat, imap.read(int(literal.group(1)))))
                dat = imap._get_line()
                literal = _LITERAL_AT_END.search(dat) if dat[-1:] == b"}" else None
            fetched.append(dat)
        typ, data = imap.tagged_commands.pop(tag)
    except imap.abort as exc:
        raise imap.abort(f"command: FETCH => {exc}") from exc
    except imap.error as exc:
        raise imap.error(f"command: FETCH => {exc}") from exc
    imap._check_bye()
    if typ == "BAD":
        raise imap.error(f"FETCH command error: {typ} {data}")
    return typ, data, fetched or [None]


def _greeted(base):
    """``base`` (an imaplib.IMAP4 class) taking the capabilities announced in the
    server's greeting (``* OK [CAPABILITY ...]``, as Dovecot, Gmail and Exchange
    send it) instead of asking with a CAPABILITY command: one round trip less per
    connection. After STARTTLS they are asked for again, as imaplib does."""

    class Greeted(base):
        _at_greeting = True

        def _get_capabilities(self):
            announced = None
            if self._at_greeting:
                self._at_greeting = False
                announced = self.untagged_responses.pop("CAPABILITY", None)
            if not announced or not announced[-1]:
                super()._get_capabilities()
                return
            self.capabilities = tuple(
                str(announced[-1], self._encoding).upper().split()
            )

    return Greeted


@functools.cache
def _client_class():
    """IMAPClient with :func:`parse_fetch` for its FETCH answers, the greeting's
    capabilities and pipelined EXAMINE (imapclient is an external dependency,
    loaded on first use)."""
    import imaplib

    from imapclient import IMAPClient, imap4
    from imapclient import tls as imapclient_tls
    from imapclient.imapclient import join_message_ids, seq_to_parenstr_upper
    from imapclient.util import to_ints

    plain_class = _greeted(imap4.IMAP4WithTimeout)
    tls_class = _greeted(imapclient_tls.IMAP4_TLS)

    class Client(IMAPClient):
        def _create_IMAP4(self):
            # IMAPClient._create_IMAP4 (imapclient 4.1), with the greeted classes.
            if self.stream:
                return super()._create_IMAP4()
            connect_timeout = getattr(self._timeout, "connect", None)
            if self.ssl:
                return tls_class(
                    self.host, self.port, self.ssl_context, connect_timeout
                )
            return plain_class(self.host, self.port, connect_timeout)

        def examine_folders(self, folders):
            """{folder: EXAMINE answer (as ``select_folder`` returns it), or None
            when refused}: every command is written before the first answer is
            read (IMAP pipelining); the server processes them in order."""
            imap = self._imap
            imap.untagged_responses = {}
            imap.is_readonly = True
            tags = [
                (folder, imap._command("EXAMINE", self._normalise_folder(folder)))
                for folder in folders
            ]
            result = {}
            for folder, tag in tags:
                try:
                    typ, _data = imap._command_complete("EXAMINE", tag)
                except imaplib.IMAP4.abort:
                    raise
                except imaplib.IMAP4.error:  # BAD
                    typ = "BAD"
                responses, imap.untagged_responses = imap.untagged_responses, {}
                ok = typ == "OK"
                result[folder] = (
                    self._process_select_response(responses) if ok else None
                )
                imap.state = "SELECTED" if ok else "AUTH"
            return result

        def fetch(self, messages, data, modifiers=None):
            # IMAPClient.fetch (imapclient 4.1), with _read_fetch_answer and
            # parse_fetch.
            if not messages:
                return {}
            args = [
                "FETCH",
                join_message_ids(messages),
                seq_to_parenstr_upper(data),
                seq_to_parenstr_upper(modifiers) if modifiers else None,
            ]
            if self.use_uid:
                args.insert(0, "UID")
            tag = self._imap._command(*args)
            if hasattr(getattr(self._imap, "file", None), "peek"):
                typ, data, fetched = _read_fetch_answer(self._imap, tag)
                self._checkok("fetch", typ, data)
            else:
                typ, data = self._imap._command_complete("FETCH", tag)
                self._checkok("fetch", typ, data)
                typ, fetched = self._imap._untagged_response(typ, data, "FETCH")
            response = parse_fetch(fetched, self.normalise_times, self.use_uid)
            # Drop unsolicited responses for other messages
            return {
                message_id: response[message_id]
                for message_id in to_ints(messages)
                if message_id in response
            }

    return Client


def check_imap(settings: ImapSettings) -> ImapCheck:
    """Connect for real: TLS (pinned when self-signed), login, and find the Inbox and
    Sent folders that will be synced."""
    with ImapSession(settings) as session:
        inbox, sent, folders = session.discover_folders()
        return ImapCheck(session.fingerprint, inbox, sent, [f[2] for f in folders])
