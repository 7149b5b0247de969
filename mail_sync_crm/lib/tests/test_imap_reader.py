"""ImapSession's sync reads against a real Dovecot (mail_sync_testing harness)."""

import datetime
import signal
import socket
import threading

import pytest
from lib.errors import MailSyncError
from lib.imap import fetch_reader
from lib.imap.session import FAST_READER_SWITCH, FolderStatus, ImapSession
from lib.message.full_message import parse_message
from lib.net.settings import ImapSettings

from mail_sync_testing import (
    LOOPBACK_POLICY,
    LatencyProxy,
    make_corpus,
    make_message,
    malformed_messages,
)
from mail_sync_testing.bench_floor import naive_fetch, transfer_floor

UTC = datetime.timezone.utc
ALICE = ("Alice Example", "alice@example.com")


def _settings(server, port=None, **overrides):
    values = {
        "host": server.host,
        "port": port or server.port,
        "encryption": "none",
        "login": "alice",
        "password": "secret",
        "timeout": 10,
        "host_policy": LOOPBACK_POLICY,
    }
    values.update(overrides)
    return ImapSettings(**values)


def _flags(server, uids):
    """FLAGS of ``uids`` in INBOX, seen from another (read-only) session."""
    client = server.connect("alice")
    try:
        client.select_folder("INBOX", readonly=True)
        flags = client.get_flags(uids)
    finally:
        client.logout()
    return {uid: set(f) - {b"\\Recent"} for uid, f in flags.items()}


def _as_served(raw):
    """``raw`` as Dovecot serves it: CRLF line endings, NUL sent as 0x80."""
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n").replace(b"\x00", b"\x80")


def test_select_folder_is_read_only_and_reports_status(dovecot):
    for i in range(3):
        dovecot.append(
            "alice", "INBOX", make_message("bob@example.org", ALICE, subject=f"m{i}")
        )
    with ImapSession(_settings(dovecot)) as session:
        status = session.select_folder("INBOX")
        assert isinstance(status, FolderStatus)
        assert (status.name, status.exists, status.uidnext) == ("INBOX", 3, 4)
        assert status.uidvalidity > 0
        assert session.folder == status
        assert session.client.folder_status("INBOX", ["UIDVALIDITY"])
        assert session.select_folder("Sent").exists == 0
        with pytest.raises(MailSyncError) as info:
            session.select_folder("Nope")
    assert info.value.code == "folder_missing"
    assert info.value.side == "imap"


def test_examine_folders_at_once_leaves_the_last_selected(dovecot):
    for i in range(3):
        dovecot.append(
            "alice", "INBOX", make_message("bob@example.org", ALICE, subject=f"m{i}")
        )
    dovecot.append("alice", "Sent", make_message(ALICE, "bob@example.org"))
    dovecot.append("alice", "Envoyés", make_message(ALICE, "bob@example.org"))
    with ImapSession(_settings(dovecot)) as session:
        statuses = session.examine_folders(["Nope", "Envoyés", "Sent", "INBOX"])
        assert statuses["Nope"] is None  # refused: select_folder says why
        inbox, sent, accented = (statuses[n] for n in ("INBOX", "Sent", "Envoyés"))
        assert (inbox.exists, inbox.uidnext, sent.exists, sent.uidnext) == (3, 4, 1, 2)
        assert (accented.name, accented.exists) == ("Envoyés", 1)
        assert session.folder is inbox  # still selected: no EXAMINE needed
        assert session.uids_after(0) == [1, 2, 3]
        assert session.select_folder("Sent") == sent
        assert session.uids_after(0) == [1]
        # a refused EXAMINE last: nothing is selected any more
        assert session.examine_folders(["INBOX", "Nope"])["Nope"] is None
        assert session.folder is None
        assert session.select_folder("INBOX") == inbox
    assert _flags(dovecot, [1, 2, 3]) == {1: set(), 2: set(), 3: set()}  # unread


def test_uids_after(dovecot):
    for i in range(5):
        dovecot.append(
            "alice", "INBOX", make_message("bob@example.org", ALICE, subject=f"m{i}")
        )
    with ImapSession(_settings(dovecot)) as session:
        session.select_folder("INBOX")
        assert session.uids_after(0) == [1, 2, 3, 4, 5]
        assert session.uids_after(3) == [4, 5]
        assert session.uids_after(5) == []  # the server answers 5: filtered
        assert session.uids_after(100) == []
        session.select_folder("Sent")
        assert session.uids_after(0) == []
        assert session.uids_after(7) == []


def test_fetch_headers_decodes_fields(dovecot):
    when = datetime.datetime(2024, 3, 5, 9, 30, tzinfo=UTC)
    raw = make_message(
        ("Zoë Müller, Einkauf", "Zoe@Example.DE"),
        [ALICE, ('O\'Brien, "Pat"', "pat@example.ie")],
        cc="Карл <karl@example.ru>",
        bcc="hidden@example.net",
        subject="Réunion de suivi – 見積もり",
        date=when,
        message_id="<first@example.de>",
        in_reply_to="<parent@example.de>",
        references=["<root@example.de>", "<parent@example.de>"],
    )
    plain = make_message("bob@example.org", ALICE, subject="ascii", date="garbage date")
    received = datetime.datetime(2024, 4, 1, 8, 0, tzinfo=UTC)
    first = dovecot.append("alice", "INBOX", raw, date=received)
    second = dovecot.append("alice", "INBOX", plain, date=received)
    with ImapSession(_settings(dovecot)) as session:
        session.select_folder("INBOX")
        headers = session.fetch_headers([second, first, 999])
    assert [h.uid for h in headers] == [first, second]  # 999: no such message
    info = headers[0]
    assert info.message_id == "<first@example.de>" and not info.synthetic_id
    assert info.from_ == ["zoe@example.de"]
    assert info.to == ["alice@example.com", "pat@example.ie"]
    assert info.cc == ["karl@example.ru"] and info.bcc == ["hidden@example.net"]
    assert info.subject == "Réunion de suivi – 見積もり"
    assert info.date == when
    assert info.internaldate == received
    assert info.size == len(raw)
    assert info.in_reply_to == "<parent@example.de>"
    assert info.references == ["<root@example.de>", "<parent@example.de>"]
    assert info.error is None
    assert headers[1].date == received  # invalid Date: INTERNALDATE
    assert headers[1].date.tzinfo is UTC


def test_fetch_headers_is_one_command_per_call(dovecot):
    corpus = make_corpus(300, seed=4, attachment_ratio=0, sent_ratio=0)
    dovecot.fill_maildir("alice", "INBOX", (c.raw for c in corpus))
    with ImapSession(_settings(dovecot)) as session:
        session.select_folder("INBOX")
        calls = []
        fetch = session.client.fetch

        def counting_fetch(*args, **kwargs):
            calls.append(args[0])
            return fetch(*args, **kwargs)

        session.client.fetch = counting_fetch
        headers = session.fetch_headers(session.uids_after(0))
    assert len(calls) == 1 and len(calls[0]) == 300
    assert len(headers) == 300
    assert {h.message_id for h in headers} == {c.message_id for c in corpus}
    assert all(h.error is None and h.from_ for h in headers)


def test_fetch_bodies_never_sets_seen(dovecot):
    raws = [make_message("bob@example.org", ALICE, subject=f"m{i}") for i in range(3)]
    uids = [dovecot.append("alice", "INBOX", raw) for raw in raws]
    dovecot.append("alice", "INBOX", raws[0], flags=[b"\\Flagged"])
    before = _flags(dovecot, uids)
    assert all(b"\\Seen" not in flags for flags in before.values())
    with ImapSession(_settings(dovecot)) as session:
        session.select_folder("INBOX")
        bodies = session.fetch_bodies(uids, max_size=10**6)
        # Even in a read-write SELECT, BODY.PEEK leaves \Seen alone.
        session.client.select_folder("INBOX")
        session.fetch_bodies(uids, max_size=None)
    assert bodies == dict(zip(uids, raws, strict=True))
    assert _flags(dovecot, uids) == before


def test_fetch_bodies_skips_oversized_without_downloading(dovecot):
    small = make_message("bob@example.org", ALICE, subject="small")
    big = make_message(
        "bob@example.org",
        ALICE,
        subject="big",
        attachments=[("big.bin", b"\x01" * 3_000_000, "application/octet-stream")],
    )
    dovecot.fill_maildir("alice", "INBOX", [small, big], flags="")
    # The proxy counts the bytes the server sends.
    with (
        LatencyProxy(dovecot.host, dovecot.port, delay=0) as proxy,
        ImapSession(_settings(dovecot, port=proxy.port)) as session,
    ):
        session.select_folder("INBOX")
        uids = session.uids_after(0)
        sizes = {h.uid: h.size for h in session.fetch_headers(uids)}
        by_size = session.fetch_bodies(uids, max_size=1_000_000)
        given = session.fetch_bodies(uids, max_size=1_000_000, sizes=sizes)
    assert by_size == given
    small_uid, big_uid = sorted(uids, key=sizes.get)
    assert by_size == {small_uid: small, big_uid: None}
    assert max(sizes.values()) > 4_000_000  # base64 grows the attachment
    assert proxy.bytes_down < 500_000  # the big message never crossed the wire


def test_uidvalidity_change_is_reported(dovecot):
    dovecot.append(
        "alice", "INBOX", make_message("bob@example.org", ALICE, subject="m")
    )
    with ImapSession(_settings(dovecot)) as session:
        first = session.select_folder("INBOX")
    dovecot.set_uidvalidity("alice", "INBOX", first.uidvalidity + 1000)
    with ImapSession(_settings(dovecot)) as session:
        second = session.select_folder("INBOX")
        assert session.uids_after(0) == [1]
    assert second.uidvalidity == first.uidvalidity + 1000


def test_malformed_messages_from_the_maildir(dovecot):
    messages = malformed_messages()
    dovecot.fill_maildir("alice", "INBOX", messages.values(), flags="")
    with ImapSession(_settings(dovecot)) as session:
        session.select_folder("INBOX")
        uids = session.uids_after(0)
        headers = {h.uid: h for h in session.fetch_headers(uids)}
        bodies = session.fetch_bodies(uids, max_size=10**6)
    served = {_as_served(raw): name for name, raw in messages.items()}
    by_name = {served[bodies[uid]]: (headers[uid], bodies[uid]) for uid in uids}
    assert set(by_name) == set(messages)
    for name, (info, body) in by_name.items():
        parsed = parse_message(body, attachment_cap=10_000)
        assert parsed.message_id == info.message_id, name  # same id both ways
        assert "\x00" not in parsed.body_html and "\x00" not in info.subject
        assert info.date is not None, name  # Date header or INTERNALDATE
    assert by_name["no_headers"][0].error and by_name["no_headers"][0].synthetic_id
    assert by_name["empty_header_block"][0].synthetic_id
    assert by_name["missing_from_and_message_id"][0].synthetic_id
    assert by_name["raw_8bit_headers"][0].subject == "Café crème à la carte"
    assert by_name["nul_bytes"][0].subject == "NUL inside"
    assert by_name["invalid_date"][0].date == by_name["invalid_date"][0].internaldate
    assert by_name["garbage_encoded_words"][0].from_ == ["ew@example.com"]


def test_connection_killed_mid_session_then_resume(dovecot):
    corpus = make_corpus(50, seed=6, attachment_ratio=0, sent_ratio=0)
    dovecot.fill_maildir("alice", "INBOX", (c.raw for c in corpus))
    settings = _settings(dovecot, password="secret")
    with ImapSession(settings) as session:
        session.select_folder("INBOX")
        uids = session.uids_after(0)
        assert len(session.fetch_headers(uids[:20])) == 20
        assert dovecot.kill_imap_children()
        with pytest.raises(MailSyncError) as info:
            session.fetch_headers(uids[20:])
    assert info.value.code == "connection_lost"
    assert info.value.side == "imap" and info.value.host == dovecot.host
    with ImapSession(settings) as session:  # the next run resumes
        session.select_folder("INBOX")
        assert len(session.fetch_headers(session.uids_after(uids[19]))) == 30


def test_hung_server_times_out(dovecot):
    dovecot.append(
        "alice", "INBOX", make_message("bob@example.org", ALICE, subject="m")
    )
    with ImapSession(_settings(dovecot, timeout=0.3)) as session:
        session.select_folder("INBOX")
        assert dovecot.kill_imap_children(signal.SIGSTOP)
        with pytest.raises(MailSyncError) as info:
            session.fetch_bodies([1], max_size=None)
    assert info.value.code == "timeout"


def test_fetch_over_implicit_tls(dovecot):
    dovecot.append(
        "alice", "INBOX", make_message("bob@example.org", ALICE, subject="tls")
    )
    settings = _settings(
        dovecot, port=dovecot.ssl_port, encryption="ssl", allow_self_signed=True
    )
    with ImapSession(settings) as session:
        session.select_folder("INBOX")
        (info,) = session.fetch_headers(session.uids_after(0))
        assert info.subject == "tls"
        assert session.fetch_bodies([info.uid], 10**6)[info.uid].startswith(b"From:")


def test_bench_floor_smoke(dovecot):
    corpus = make_corpus(40, seed=8, attachment_ratio=0.2, attachment_size=(500, 2000))
    for folder in ("INBOX", "Sent"):
        dovecot.fill_maildir(
            "alice", folder, (c.raw for c in corpus if c.folder == folder)
        )
    settings = _settings(dovecot)
    result = transfer_floor(
        settings, ["INBOX", "Sent"], lambda _f, uid, h: uid % 4 == 0
    )
    counts = {f: sum(c.folder == f for c in corpus) for f in ("INBOX", "Sent")}
    assert result["headers"] == 40
    assert result["bodies"] == sum(n // 4 for n in counts.values())
    assert result["seconds"] > 0 and result["body_bytes"] > 0
    naive = naive_fetch(settings, "INBOX", 5, parse=True)
    assert naive["messages"] == 5 and naive["bytes"] > 0


class _ScriptedImap:
    """A bare IMAP server on loopback (below the network boundary: the client's
    own bytes, the server's scripted answers), recording the commands it got."""

    def __init__(self, greeting):
        self.greeting = greeting
        self.commands = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        conn, _addr = self.listener.accept()
        with conn, conn.makefile("rb") as lines:
            conn.sendall(self.greeting + b"\r\n")
            for line in lines:
                tag, command = line.split(b" ", 2)[:2]
                command = command.strip().upper()
                self.commands.append(command.decode())
                if command == b"CAPABILITY":
                    conn.sendall(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n")
                elif command == b"EXAMINE":
                    conn.sendall(
                        b"* 11 EXISTS\r\n* OK [UIDVALIDITY 7] UIDs valid\r\n"
                        b"* OK [UIDNEXT 12] Predicted next UID\r\n"
                    )
                    conn.sendall(tag + b" OK [READ-ONLY] done\r\n")
                    continue
                elif command == b"LOGOUT":
                    conn.sendall(b"* BYE\r\n" + tag + b" OK done\r\n")
                    return
                conn.sendall(tag + b" OK done\r\n")

    def close(self):
        self.listener.close()
        self.thread.join(5)


@pytest.mark.skipif(
    not fetch_reader.ENABLED,
    reason=f"stock imapclient: {fetch_reader.DISABLED_BECAUSE}",
)
@pytest.mark.parametrize(
    "greeting, asked",
    [
        (b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready", False),
        (b"* OK ready", True),
    ],
)
def test_capabilities_from_the_greeting_or_asked_for(greeting, asked, monkeypatch):
    monkeypatch.delenv(FAST_READER_SWITCH, raising=False)
    server = _ScriptedImap(greeting)
    settings = ImapSettings(
        host="127.0.0.1",
        port=server.port,
        encryption="none",
        login="alice",
        password="secret",
        timeout=5,
        host_policy=LOOPBACK_POLICY,
    )
    try:
        with ImapSession(settings) as session:
            assert b"IMAP4REV1" in session.client.capabilities()
            status = session.examine_folders(["INBOX"])["INBOX"]
            assert (status.uidvalidity, status.uidnext, status.exists) == (7, 12, 11)
        server.thread.join(5)
    finally:
        server.close()
    assert server.commands[:1] == (["CAPABILITY"] if asked else ["LOGIN"])
    assert "LOGOUT" in server.commands
