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

The client is :mod:`lib.imap.fetch_reader`'s reader on the Python and imapclient
versions it was verified on, else stock imapclient through its public API
(:func:`client_class`).
"""

import contextlib
import datetime
import functools
import imaplib
import logging
import os
import socket
from dataclasses import dataclass

from .. import errors
from ..message.headers import HEADER_FIELDS, HeaderInfo, parse_headers
from ..net import host_policy, tls
from ..net.deadline import Deadline, Watchdog, connect_within, session_error
from ..net.settings import ImapSettings

_logger = logging.getLogger(__name__)

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
BODY_KEY = b"BODY[]"
SIZE_KEY = b"RFC822.SIZE"
_INTERNALDATE_KEY = b"INTERNALDATE"
# Answers to SELECT/EXAMINE meaning "no such folder" (Dovecot, Gmail, Exchange...).
_MISSING_FOLDER_TEXTS = (
    "[nonexistent]",
    "doesn't exist",
    "does not exist",
    "unknown mailbox",
    "not found",
)


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


class ImapSession:
    """``with ImapSession(settings) as session:`` a logged-in imapclient client in
    ``session.client``; every failure surfaces as a classified ``MailSyncError``.

    With a ``deadline`` (:class:`lib.net.deadline.Deadline`), every connection the
    session opens is shut down when it passes, whatever the server is doing,
    and any failure from then on is the deadline's (``sync_deadline``).

    Each connection goes to an address the settings' ``host_policy`` checked
    just before (``lib.net.host_policy``); a failure before the login succeeded
    is marked ``before_login`` (its detail may be any program's banner)."""

    def __init__(self, settings: ImapSettings, deadline: Deadline | None = None):
        self.settings = settings
        self.client = None
        self.fingerprint = None
        self.folder: FolderStatus | None = None
        self.deadline = deadline
        self._watchdog = None

    def _fail(self, exc, before_login=False):
        return session_error(exc, "imap", self.settings, self.deadline, before_login)

    def _watch(self, client):
        """(Re-)arm the deadline on ``client``'s current socket."""
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self.deadline is not None:
            self._watchdog = Watchdog(self.deadline, client.socket())

    def _connect(self, context):
        """A client connected to an address of the host that the settings'
        host policy checked just now (TLS still verifies the host name)."""
        s = self.settings
        cls = client_class()
        return host_policy.connect_in_turn(
            s.host_policy.check(s.host, s.port, side="imap"),
            lambda address: cls(
                address,
                port=s.port,
                ssl=s.encryption == "ssl",
                ssl_context=context,
                timeout=s.timeout,
            ),
        )

    def open(self):
        s = self.settings
        context = host_policy.named_context(
            tls.shared_context(s.allow_self_signed), s.host
        )
        try:
            client = connect_within(
                self.deadline,
                lambda: self._connect(context),
                lambda late: late.shutdown(),
            )
        except Exception as exc:
            raise self._fail(exc, before_login=True) from exc
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
            raise self._fail(exc, before_login=True) from exc
        return self

    def close(self):
        """Send LOGOUT and close the connection (the fast reader does not wait
        for the server's goodbye: a round trip that tells the client nothing)."""
        client, self.client = self.client, None
        self.folder = None
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if client is None:
            return
        with contextlib.suppress(Exception):  # the connection may already be gone
            client.logout_quickly()
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
        any refused EXAMINE, the server then has no folder selected. (Stock
        imapclient, where the fast reader is off: one round trip per folder.)"""
        found = self._call("examine_folders", list(names))
        statuses = {
            name: None if info is None else _folder_status(name, info)
            for name, info in found.items()
        }
        self.folder = statuses.get(names[-1]) if names else self.folder
        return statuses

    def search(self, criteria, charset=None) -> list[int]:
        """UID SEARCH ``criteria`` in the selected folder (NOOP first, so that
        mail that arrived since the last command is seen); ``charset``: the
        criteria's (imapclient sends its 8-bit items as literals)."""
        self._call("noop")
        return list(self._call("search", criteria, charset))

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
        ``quick``: see :func:`~lib.message.headers.parse_headers`.
        """
        if not uids:
            return []
        response = self._fetch(uids, [HEADER_ITEM, "RFC822.SIZE", "INTERNALDATE"])
        return [header_info(uid, response[uid], quick) for uid in sorted(response)]

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
                    result[uid] = bytes(response[uid].get(BODY_KEY) or b"")
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
        return {uid: int(data.get(SIZE_KEY) or 0) for uid, data in response.items()}

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


def header_info(uid: int, data: dict, quick: bool = False) -> HeaderInfo:
    """A :class:`HeaderInfo` from one message's FETCH data. Never raises."""
    raw = next(
        (value for key, value in data.items() if key.startswith(_HEADER_KEY_PREFIX)),
        None,
    )
    size = data.get(SIZE_KEY)
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


# -- the client class -------------------------------------------------------------
#
# Sessions connect with fetch_reader's reader where it is enabled (the versions it
# was verified on), else with StockClient: imapclient's public API only, slower
# (imapclient's FETCH parser, one EXAMINE per folder, LOGOUT waited for) but the
# same data.

FAST_READER_SWITCH = "MAIL_SYNC_CRM_FAST_IMAP"
"""Environment variable: ``0`` makes new sessions use stock imapclient only."""


@functools.cache
def _stock_client_class():
    """IMAPClient with the two methods sessions need beyond its own, written
    with its public API only."""
    from imapclient import IMAPClient

    class StockClient(IMAPClient):
        def examine_folders(self, folders):
            """{folder: EXAMINE answer, or None when refused}, as the fast
            reader's, with one ``select_folder(readonly=True)`` per folder."""
            result = {}
            for folder in folders:
                try:
                    result[folder] = self.select_folder(folder, readonly=True)
                except imaplib.IMAP4.abort:
                    raise
                except imaplib.IMAP4.error:  # NO or BAD: nothing selected now
                    result[folder] = None
            return result

        def logout_quickly(self):
            """LOGOUT, waiting for its answer (the public API's only way)."""
            self.logout()

    return StockClient


@functools.cache
def _fast_client_class():
    """fetch_reader's client class, or None where it is not enabled or its set-up
    fails (said once in the log; the sessions then use StockClient)."""
    try:
        from . import fetch_reader

        if not fetch_reader.ENABLED:
            _logger.info(
                "IMAP: stock imapclient reader, the fast one is %s",
                fetch_reader.DISABLED_BECAUSE,
            )
            return None
        return fetch_reader.client_class()
    except (ImportError, AttributeError) as exc:
        _logger.warning(
            "IMAP: the fast reader could not be set up (%s: %s); using stock"
            " imapclient",
            type(exc).__name__,
            exc,
        )
        return None


def client_class():
    """The IMAPClient class new sessions connect with (see above)."""
    if os.environ.get(FAST_READER_SWITCH, "").strip() != "0":
        fast = _fast_client_class()
        if fast is not None:
            return fast
    return _stock_client_class()


def check_imap(settings: ImapSettings, deadline: Deadline | None = None) -> ImapCheck:
    """Connect for real: TLS (pinned when self-signed), login, and find the Inbox and
    Sent folders that will be synced, all before ``deadline`` when given."""
    with ImapSession(settings, deadline=deadline) as session:
        inbox, sent, folders = session.discover_folders()
        return ImapCheck(session.fingerprint, inbox, sent, [f[2] for f in folders])
