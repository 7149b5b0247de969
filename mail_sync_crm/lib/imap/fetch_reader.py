"""The fast IMAP reader: imapclient's ``IMAPClient`` with a FETCH reader of its
own, the capabilities of the server's greeting, pipelined EXAMINE and a LOGOUT
that is not waited for.

imapclient tokenises every byte of a FETCH answer in Python, and asks for the
capabilities and for each folder's status in round trips of their own: on a
historical sync that costs more than reading the answers (README, Benchmarks).
Doing better takes names that neither imaplib nor imapclient documents. They are
used in this module and nowhere else in ``lib/``, and every one of them is listed
in :data:`PRIVATE_NAMES` (resolved when this module is imported) or
:data:`PRIVATE_INSTANCE_NAMES` (attributes of a connected client); the contract
test (``tests/test_imap_fast.py``) checks both lists against the installed
versions and against this module's source.

The reader is :data:`ENABLED` only on the Python and imapclient versions it was
verified on (:data:`VERIFIED_PYTHON`, :data:`VERIFIED_IMAPCLIENT`) and when every
name of :data:`PRIVATE_NAMES` resolves. Elsewhere, or when :func:`client_class`
fails, :mod:`lib.imap.session` connects with stock imapclient's public API instead:
slower, the same data.
"""

import contextlib
import datetime
import imaplib
import importlib
import re
import sys

# Verified: Python 3.10.13, 3.11.7 and 3.12.1 with imapclient 4.0.0, 4.0.1 and
# 4.1.0 (imapclient 3.x has no util.to_ints). Ranges are [from, to).
VERIFIED_PYTHON = ((3, 10), (3, 13))
VERIFIED_IMAPCLIENT = ((4, 0), (5, 0))

# (module, dotted name): every name outside imaplib's and imapclient's documented
# API that this module uses, found at import. Method names are the ones called
# on a connection, or overridden by the classes of client_class().
PRIVATE_NAMES = (
    # imaplib.IMAP4's command machinery, under its public methods.
    ("imaplib", "IMAP4._command"),
    ("imaplib", "IMAP4._command_complete"),
    ("imaplib", "IMAP4._untagged_response"),
    ("imaplib", "IMAP4._get_response"),
    ("imaplib", "IMAP4._get_line"),
    ("imaplib", "IMAP4._check_bye"),
    ("imaplib", "IMAP4._new_tag"),
    ("imaplib", "IMAP4._get_capabilities"),
    # imapclient: the imaplib classes it connects with, its command helpers and
    # its FETCH parser.
    ("imapclient.imap4", "IMAP4WithTimeout"),
    ("imapclient.tls", "IMAP4_TLS"),
    ("imapclient.imapclient", "join_message_ids"),
    ("imapclient.imapclient", "seq_to_parenstr_upper"),
    ("imapclient.util", "to_ints"),
    ("imapclient.response_parser", "parse_fetch_response"),
    ("imapclient.response_parser", "_convert_INTERNALDATE"),
    ("imapclient.imapclient", "IMAPClient._create_IMAP4"),
    ("imapclient.imapclient", "IMAPClient._normalise_folder"),
    ("imapclient.imapclient", "IMAPClient._process_select_response"),
    ("imapclient.imapclient", "IMAPClient._checkok"),
)
# (module, class, attribute names): the undocumented attributes this module uses
# that the verified versions set on each connection (so they cannot be looked
# up at import; the contract test checks them on a live one).
PRIVATE_INSTANCE_NAMES = (
    (
        "imaplib",
        "IMAP4",
        (
            "file",
            "untagged_responses",
            "tagged_commands",
            "state",
            "is_readonly",
            "capabilities",
            "_encoding",
        ),
    ),
    (
        "imapclient.imapclient",
        "IMAPClient",
        ("_imap", "_timeout", "stream", "ssl", "host", "port", "ssl_context"),
    ),
)


def _private(module: str, name: str):
    """``module``'s ``name`` (dotted), which must be listed in PRIVATE_NAMES.

    Raises ImportError or AttributeError when the installed version lacks it.
    """
    if (module, name) not in PRIVATE_NAMES:
        raise LookupError(f"{module}.{name} is not listed in PRIVATE_NAMES")
    value = importlib.import_module(module)
    for part in name.split("."):
        value = getattr(value, part)
    return value


def _version(text: str) -> tuple[int, ...]:
    """(major, minor) of a version string such as ``4.1.0``; () when unreadable."""
    match = re.match(r"(\d+)\.(\d+)", text or "")
    return (int(match.group(1)), int(match.group(2))) if match else ()


def verdict(python=None, imapclient_version=None) -> str | None:
    """Why the fast reader cannot be enabled (None: it can), for the running
    Python and the installed imapclient unless others are given."""
    python = tuple(python or sys.version_info[:2])
    if not VERIFIED_PYTHON[0] <= python < VERIFIED_PYTHON[1]:
        return "not verified on Python {}.{}".format(*python)
    if imapclient_version is None:
        try:
            import imapclient
        except ImportError as exc:
            return f"imapclient cannot be imported ({exc})"
        imapclient_version = _version(getattr(imapclient, "__version__", ""))
    if not VERIFIED_IMAPCLIENT[0] <= tuple(imapclient_version) < VERIFIED_IMAPCLIENT[1]:
        shown = ".".join(map(str, imapclient_version)) or "unknown"
        return f"not verified with imapclient {shown}"
    missing = []
    for module, name in PRIVATE_NAMES:
        try:
            _private(module, name)
        except (ImportError, AttributeError):
            missing.append(f"{module}.{name}")
    if missing:
        return "missing " + ", ".join(missing)
    return None


DISABLED_BECAUSE = verdict()
ENABLED = DISABLED_BECAUSE is None


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
    convert = _private("imapclient.response_parser", "_convert_INTERNALDATE")
    return convert(value, normalise_times)


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
        parse = _private("imapclient.response_parser", "parse_fetch_response")
        return parse(data, normalise_times, uid_is_key)
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
        greeting_unread = True

        def _get_capabilities(self):
            announced = None
            if self.greeting_unread:
                self.greeting_unread = False
                announced = self.untagged_responses.pop("CAPABILITY", None)
            if not announced or not announced[-1]:
                super()._get_capabilities()
                return
            self.capabilities = tuple(
                str(announced[-1], self._encoding).upper().split()
            )

    return Greeted


def client_class():
    """IMAPClient with :func:`parse_fetch` for its FETCH answers, the greeting's
    capabilities, pipelined EXAMINE (``examine_folders``) and ``logout_quickly``.

    Raises ImportError or AttributeError when a private name is missing (the
    caller, :mod:`lib.imap.session`, then connects with stock imapclient)."""
    from imapclient import IMAPClient

    plain_class = _greeted(_private("imapclient.imap4", "IMAP4WithTimeout"))
    tls_class = _greeted(_private("imapclient.tls", "IMAP4_TLS"))
    join_message_ids = _private("imapclient.imapclient", "join_message_ids")
    seq_to_parenstr_upper = _private("imapclient.imapclient", "seq_to_parenstr_upper")
    to_ints = _private("imapclient.util", "to_ints")

    class FastClient(IMAPClient):
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

        def logout_quickly(self):
            """Send LOGOUT without waiting for the server's goodbye (a round
            trip that tells the client nothing); the caller then shuts down."""
            imap = self._imap
            imap.send(imap._new_tag() + b" LOGOUT\r\n")

    return FastClient
