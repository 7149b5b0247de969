"""IMAP session: TLS policy, certificate pinning, login, folder discovery, and
the batched reads of a sync run.

Read-only by construction: folders are examined with ``readonly=True`` and bodies are
fetched with ``BODY.PEEK`` only, so syncing never changes a flag in the mailbox.

A sync run reads a folder in three steps, each one ``UID`` command per batch:
:meth:`ImapSession.select_folder` (UIDVALIDITY, UIDNEXT),
:meth:`ImapSession.uids_after` (the UIDs above the folder's checkpoint),
:meth:`ImapSession.fetch_headers` (the address fields of a batch of ~2,000 UIDs),
then :meth:`ImapSession.fetch_bodies` for the matched UIDs only.
"""

import contextlib
import datetime
from dataclasses import dataclass, field

from . import errors, tls
from .parser import HEADER_FIELDS, HeaderInfo, parse_headers

DEFAULT_TIMEOUT = 30.0
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


@dataclass
class ImapSettings:
    host: str
    port: int
    encryption: str = "ssl"  # ssl | starttls | none
    allow_self_signed: bool = False
    pinned_fingerprint: str | None = None
    login: str = ""
    password: str = field(default="", repr=False)
    timeout: float = DEFAULT_TIMEOUT


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
    ``session.client``; every failure surfaces as a classified ``MailSyncError``."""

    def __init__(self, settings: ImapSettings):
        self.settings = settings
        self.client = None
        self.fingerprint = None
        self.folder: FolderStatus | None = None

    def _fail(self, exc):
        s = self.settings
        return errors.classify(
            exc, side="imap", host=s.host, port=s.port, secrets=(s.password,)
        )

    def open(self):
        from imapclient import IMAPClient  # external dependency, loaded on use

        s = self.settings
        context = tls.make_context(s.allow_self_signed)
        try:
            client = IMAPClient(
                s.host,
                port=s.port,
                ssl=s.encryption == "ssl",
                ssl_context=context,
                timeout=s.timeout,
            )
        except Exception as exc:
            raise self._fail(exc) from exc
        self.client = client
        try:
            if s.encryption == "starttls":
                if b"STARTTLS" not in client.capabilities():
                    raise errors.MailSyncError(
                        "starttls_unsupported", side="imap", detail="no STARTTLS"
                    )
                client.starttls(context)
            if s.encryption != "none":
                self.fingerprint = tls.check_pin(
                    client.socket(), s.allow_self_signed, s.pinned_fingerprint, "imap"
                )
            if (s.login + s.password).isascii():
                client.login(s.login, s.password)
            else:
                # LOGIN is ASCII-only in imaplib; AUTHENTICATE PLAIN carries UTF-8.
                client.plain_login(s.login, s.password)
        except Exception as exc:
            self.close()
            raise self._fail(exc) from exc
        return self

    def close(self):
        client, self.client = self.client, None
        self.folder = None
        if client is None:
            return
        try:
            client.logout()
        except Exception:  # noqa: BLE001  (the connection may already be gone)
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
        self.folder = FolderStatus(
            name=name,
            uidvalidity=int(info.get(b"UIDVALIDITY") or 0),
            uidnext=int(info.get(b"UIDNEXT") or 0),
            exists=int(info.get(b"EXISTS") or 0),
        )
        return self.folder

    def uids_after(self, last_uid: int) -> list[int]:
        """Sorted UIDs of the selected folder strictly above ``last_uid``
        (all of them for 0)."""
        last_uid = max(0, int(last_uid or 0))
        criteria = ["UID", f"{last_uid + 1}:*"] if last_uid else "ALL"
        found = self._call("search", criteria)
        # "UID n:*" always includes the highest UID, even when it is below n.
        return sorted(uid for uid in found if uid > last_uid)

    def fetch_headers(self, uids: list[int]) -> list[HeaderInfo]:
        """Header fields, size and INTERNALDATE of ``uids`` in one UID FETCH.

        One :class:`HeaderInfo` per UID still in the folder (expunged ones are
        left out), in UID order. A message whose header cannot be read comes
        back with ``error`` set; only a failure of the connection raises.
        """
        if not uids:
            return []
        response = self._fetch(uids, [HEADER_ITEM, "RFC822.SIZE", "INTERNALDATE"])
        return [_header_info(uid, response[uid]) for uid in sorted(response)]

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


def _header_info(uid: int, data: dict) -> HeaderInfo:
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
    )
    if raw is None:
        info.error = "no header data in the FETCH answer"
    return info


def check_imap(settings: ImapSettings) -> ImapCheck:
    """Connect for real: TLS (pinned when self-signed), login, and find the Inbox and
    Sent folders that will be synced."""
    with ImapSession(settings) as session:
        inbox, sent, folders = session.discover_folders()
        return ImapCheck(session.fingerprint, inbox, sent, [f[2] for f in folders])
