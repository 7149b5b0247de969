"""Tests proving the test harness (lib.testing) against real servers."""

import datetime
import email
import email.policy
import hashlib
import json
import os
import smtplib
import socket
import socketserver
import ssl
import threading
import time

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError
from lib.message.full_message import parse_message

from mail_sync_testing import (
    DovecotServer,
    LatencyProxy,
    RoundRobinBalancer,
    make_corpus,
    make_message,
    malformed_messages,
)
from mail_sync_testing._common import process_group

ALICE = ("Alice Example", "alice@example.com")


def _peer_fingerprint(sock):
    return hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest()


def _group_processes(pgid):
    """Every process (zombies included) whose process group is `pgid`."""
    return [pid for pid, _comm, _state in process_group(pgid)]


def _simple(subject="hello", **kwargs):
    return make_message(
        ("Bob Sender", "bob@example.org"), ALICE, subject=subject, **kwargs
    )


# -- Dovecot: login and TLS ----------------------------------------------------


def test_imap_login_plain_then_starttls(dovecot):
    client = IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=5)
    assert b"STARTTLS" in client.capabilities()
    client.login("alice", "secret")
    assert client.select_folder("INBOX")[b"EXISTS"] == 0
    client.logout()

    client = IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=5)
    client.starttls(dovecot.ssl_context())
    sock = client.socket()
    assert isinstance(sock, ssl.SSLSocket)
    assert _peer_fingerprint(sock) == dovecot.cert_fingerprint
    client.login("alice", "secret")
    folders = {name: flags for flags, _sep, name in client.list_folders()}
    assert set(folders) == {"INBOX", "Sent"}
    assert b"\\Sent" in folders["Sent"]
    client.logout()


def test_imap_login_implicit_tls_trusting_cert(dovecot):
    context = ssl.create_default_context()
    context.load_verify_locations(cadata=dovecot.cert_pem.decode("ascii"))
    client = IMAPClient(
        dovecot.host, port=dovecot.ssl_port, ssl=True, ssl_context=context, timeout=5
    )
    assert _peer_fingerprint(client.socket()) == dovecot.cert_fingerprint
    client.login("alice", "secret")
    assert client.select_folder("INBOX", readonly=True)[b"EXISTS"] == 0
    client.logout()


def test_imap_wrong_password_and_unknown_user(dovecot):
    for login, password in (("alice", "wrong"), ("nobody-here", "secret")):
        client = IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=5)
        with pytest.raises(LoginError, match="AUTHENTICATIONFAILED"):
            client.login(login, password)
        client.shutdown()
    # No login penalty for the right password afterwards.
    started = time.monotonic()
    dovecot.connect("alice").logout()
    assert time.monotonic() - started < 1.0


def test_self_signed_cert_refused_by_default_context(dovecot, smtp_server):
    with pytest.raises(ssl.SSLCertVerificationError):
        IMAPClient(
            dovecot.host,
            port=dovecot.ssl_port,
            ssl=True,
            ssl_context=ssl.create_default_context(),
            timeout=5,
        )
    with pytest.raises(ssl.SSLCertVerificationError):
        smtplib.SMTP_SSL(
            smtp_server.host,
            smtp_server.ssl_port,
            timeout=5,
            context=ssl.create_default_context(),
        )
    # Explicitly allowed: the certificate as CA, or no verification at all.
    trusting = ssl.create_default_context(cafile=dovecot.cert_path)
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    for context in (trusting, unverified):
        client = IMAPClient(
            dovecot.host,
            port=dovecot.ssl_port,
            ssl=True,
            ssl_context=context,
            timeout=5,
        )
        client.login("alice", "secret")
        client.logout()
    # Each server has its own certificate.
    assert dovecot.cert_fingerprint != smtp_server.cert_fingerprint
    with pytest.raises(ssl.SSLCertVerificationError):
        smtplib.SMTP_SSL(
            smtp_server.host,
            smtp_server.ssl_port,
            timeout=5,
            context=ssl.create_default_context(cafile=dovecot.cert_path),
        )


def test_certificate_names_localhost_and_loopback(dovecot):
    # "localhost" and 127.0.0.1 both match the certificate's SAN.
    for host in ("localhost", "127.0.0.1"):
        context = dovecot.ssl_context()
        with (
            socket.create_connection((host, dovecot.ssl_port), 5) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            assert b"OK" in tls.recv(1024)


def test_add_user_and_change_password_while_running(dovecot):
    dovecot.connect("alice").logout()
    dovecot.add_user("bob", "pw1")  # within a second of alice's lookup
    dovecot.connect("bob").logout()
    dovecot.add_user("bob", "pw2")
    with pytest.raises(LoginError):
        dovecot.connect("bob", "pw1")
    dovecot.connect("bob", "pw2").logout()


# -- Dovecot: content ------------------------------------------------------------


def test_append_and_fill_maildir_are_visible(dovecot):
    first = dovecot.append("alice", "INBOX", _simple("appended 1"))
    second = dovecot.append("alice", "INBOX", _simple("appended 2"), flags=[b"\\Seen"])
    assert (first, second) == (1, 2)
    inbox = [_simple(f"maildir {i}") for i in range(5)]
    sent = [_simple(f"sent {i}") for i in range(3)]
    assert dovecot.fill_maildir("alice", "INBOX", inbox) == 5
    assert dovecot.fill_maildir("alice", "Sent", sent) == 3

    client = dovecot.connect("alice")
    assert client.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"] == 7
    assert client.folder_status("Sent", [b"MESSAGES"])[b"MESSAGES"] == 3
    client.select_folder("Sent", readonly=True)
    uids = client.search(["ALL"])
    fetched = client.fetch(uids, ["RFC822", "FLAGS"])
    assert sorted(item[b"RFC822"] for item in fetched.values()) == sorted(sent)
    assert all(b"\\Seen" in item[b"FLAGS"] for item in fetched.values())
    client.logout()


def test_fill_maildir_creates_folder_and_sets_internal_date(dovecot):
    date = datetime.datetime(2023, 5, 17, 8, 30, tzinfo=datetime.timezone.utc)
    raw = _simple("archived", date=date)
    assert dovecot.fill_maildir("alice", "Archive", [(raw, date)], flags="") == 1
    client = dovecot.connect("alice")
    client.normalise_times = False  # keep INTERNALDATE timezone-aware
    names = [name for _flags, _sep, name in client.list_folders()]
    assert "Archive" in names
    client.select_folder("Archive", readonly=True)
    fetched = client.fetch(client.search(["ALL"]), ["INTERNALDATE", "FLAGS", "RFC822"])
    [item] = fetched.values()
    assert item[b"INTERNALDATE"] == date
    assert item[b"RFC822"] == raw
    assert b"\\Seen" not in item[b"FLAGS"]
    client.logout()


def test_set_uidvalidity(dovecot):
    dovecot.append("alice", "INBOX", _simple())
    client = dovecot.connect("alice")
    before = client.folder_status("INBOX", [b"UIDVALIDITY"])[b"UIDVALIDITY"]
    client.logout()
    new_value = before + 1000 if before < 4_000_000_000 else 12345
    dovecot.set_uidvalidity("alice", "INBOX", new_value)
    client = dovecot.connect("alice")
    assert client.select_folder("INBOX")[b"UIDVALIDITY"] == new_value
    client.logout()


def test_malformed_messages_land_in_maildir(dovecot):
    broken = malformed_messages()
    assert dovecot.fill_maildir("alice", "INBOX", broken.values()) == len(broken)
    client = dovecot.connect("alice")
    client.select_folder("INBOX", readonly=True)
    uids = client.search(["ALL"])
    assert len(uids) == len(broken)
    bodies = [item[b"RFC822"] for item in client.fetch(uids, ["RFC822"]).values()]
    # Raw 8-bit header bytes come back untouched; Dovecot itself sends NUL
    # bytes as 0x80 and bare LF as CRLF.
    assert broken["raw_8bit_headers"] in bodies
    assert broken["nul_bytes"] not in bodies
    assert broken["nul_bytes"].replace(b"\x00", b"\x80") in bodies
    assert broken["bare_lf_line_endings"].replace(b"\n", b"\r\n") in bodies
    client.logout()


def test_kill_imap_children_breaks_the_session_only(dovecot):
    dovecot.fill_maildir("alice", "INBOX", [_simple(f"m{i}") for i in range(3)])
    client = dovecot.connect("alice")
    client.select_folder("INBOX")
    killed = dovecot.kill_imap_children()
    assert len(killed) == 1
    with pytest.raises((OSError, IMAPClient.AbortError, IMAPClient.Error)):
        client.fetch(client.search(["ALL"]), ["RFC822"])
    # The server itself is still up.
    fresh = dovecot.connect("alice")
    assert fresh.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"] == 3
    fresh.logout()


def test_stop_is_idempotent_and_leaves_no_process():
    server = DovecotServer().start()
    server.add_user("carol", "pw")
    client = server.connect("carol")  # an imap child is alive during stop
    client.select_folder("INBOX")
    group, directory, port = server.process_group, server.dir, server.port
    assert len(_group_processes(group)) >= 5  # supervisor, master, helpers
    server.stop()
    server.stop()
    assert _group_processes(group) == []
    assert not os.path.exists(directory)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((server.host, port), 1).close()


def test_latency_proxy_adds_round_trip_time(dovecot):
    direct = dovecot.connect("alice")
    started = time.monotonic()
    direct.noop()
    direct_rtt = time.monotonic() - started
    direct.logout()
    with LatencyProxy(dovecot.host, dovecot.port, delay=0.05) as proxy:
        client = IMAPClient(proxy.host, port=proxy.port, ssl=False, timeout=5)
        client.login("alice", "secret")
        started = time.monotonic()
        client.noop()
        proxied_rtt = time.monotonic() - started
        client.logout()
        assert proxy.connection_count == 1
        assert proxy.bytes_up > 0 and proxy.bytes_down > 0
    assert direct_rtt < 0.05
    assert 0.1 <= proxied_rtt < 0.5


class _NamedServer(socketserver.ThreadingTCPServer):
    """Answers each connection with its name, then closes it."""

    daemon_threads = True

    def __init__(self, name):
        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.sendall(name.encode())

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def _answer(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        return sock.recv(100).decode()


def test_balancer_hands_connections_to_each_server_in_turn():
    servers = [_NamedServer("first"), _NamedServer("second")]
    try:
        targets = [server.server_address for server in servers]
        with RoundRobinBalancer(targets) as balancer:
            answers = [_answer(balancer.port) for _ in range(5)]
        assert answers == ["first", "second", "first", "second", "first"]
        assert balancer.connections == {targets[0]: 3, targets[1]: 2}
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


# -- SMTP ----------------------------------------------------------------------------


def test_smtp_starttls_auth_message_is_recorded(smtp_server):
    raw = make_message(
        ALICE,
        ["Bob <bob@example.org>"],
        bcc="carol@example.net",
        subject="Quarterly report",
    )
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
        client.starttls(context=smtp_server.ssl_context())
        client.login("alice", "secret")
        refused = client.sendmail(
            "alice@example.com", ["bob@example.org", "carol@example.net"], raw
        )
    assert refused == {}
    [msg] = smtp_server.wait_for(1)
    assert msg.mail_from == "alice@example.com"
    assert msg.rcpt_tos == ["bob@example.org", "carol@example.net"]
    assert msg.auth_user == "alice"
    assert msg.tls is True
    assert msg["tls"] is True
    assert msg.port == smtp_server.port
    assert msg.data == raw
    assert msg.message["Subject"] == "Quarterly report"
    with open(msg.eml_path, "rb") as fh:
        assert fh.read() == raw
    with open(msg.json_path) as fh:
        meta = json.load(fh)
    assert meta["auth_user"] == "alice" and meta["tls"] is True
    assert meta["rcpt_tos"] == ["bob@example.org", "carol@example.net"]


def test_smtp_starttls_is_required_on_main_port(smtp_server):
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        assert not client.has_extn("auth")  # AUTH only after STARTTLS
        with pytest.raises(smtplib.SMTPSenderRefused) as exc:
            client.sendmail("alice@example.com", ["bob@example.org"], _simple())
    assert exc.value.smtp_code == 530
    assert smtp_server.messages == []


def test_smtp_implicit_tls_and_plain_ports(smtp_server):
    with smtplib.SMTP_SSL(
        smtp_server.host,
        smtp_server.ssl_port,
        timeout=5,
        context=smtp_server.ssl_context(),
    ) as client:
        client.login("alice", "secret")
        client.sendmail("alice@example.com", ["bob@example.org"], _simple("tls"))
    with smtplib.SMTP(smtp_server.host, smtp_server.plain_port, timeout=5) as client:
        client.sendmail("alice@example.com", ["bob@example.org"], _simple("plain"))
    tls_msg, plain_msg = smtp_server.wait_for(2)
    assert (tls_msg.port, tls_msg.tls, tls_msg.auth_user) == (
        smtp_server.ssl_port,
        True,
        "alice",
    )
    assert (plain_msg.port, plain_msg.tls, plain_msg.auth_user) == (
        smtp_server.plain_port,
        False,
        None,
    )
    assert smtp_server.connection_count == 2


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_smtp_auth_mechanisms_and_wrong_password(smtp_server, mechanism):
    with smtplib.SMTP(smtp_server.host, smtp_server.plain_port, timeout=5) as client:
        client.ehlo()
        assert mechanism in client.esmtp_features["auth"].split()
        authobject = getattr(client, f"auth_{mechanism.lower()}")
        client.user, client.password = "alice", "wrong"
        with pytest.raises(smtplib.SMTPAuthenticationError) as exc:
            client.auth(mechanism, authobject)
        assert exc.value.smtp_code == 535
        client.user, client.password = "alice", "secret"
        assert client.auth(mechanism, authobject)[0] == 235
    assert smtp_server.auth_attempts == [("alice", False), ("alice", True)]


@pytest.mark.parametrize(
    "stage, code, text, error",
    [
        (
            "MAIL",
            550,
            "5.4.5 Daily user sending quota exceeded",
            smtplib.SMTPSenderRefused,
        ),
        ("RCPT", 452, "4.2.2 Mailbox full", smtplib.SMTPRecipientsRefused),
        ("DATA", 554, "5.7.1 Message rejected", smtplib.SMTPDataError),
        (
            "MAIL",
            421,
            "4.7.0 [TSS04] Messages temporarily deferred",
            smtplib.SMTPSenderRefused,
        ),
    ],
)
def test_smtp_fail_next(smtp_server, stage, code, text, error):
    smtp_server.fail_next(code, text, stage=stage)

    def send():
        with smtplib.SMTP(smtp_server.host, smtp_server.plain_port, timeout=5) as c:
            c.sendmail("alice@example.com", ["bob@example.org"], _simple())

    with pytest.raises(error) as exc:
        send()
    if error is smtplib.SMTPRecipientsRefused:
        assert exc.value.recipients == {"bob@example.org": (code, text.encode())}
    else:
        assert (exc.value.smtp_code, exc.value.smtp_error) == (code, text.encode())
    assert smtp_server.messages == []
    send()  # the fault was used up
    assert len(smtp_server.wait_for(1)) == 1


def test_smtp_fail_always_and_clear_faults(smtp_server):
    smtp_server.fail_always(550, "5.4.5 Daily user sending quota exceeded")
    for _ in range(2):
        with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
            client.starttls(context=smtp_server.ssl_context())
            client.login("alice", "secret")
            with pytest.raises(smtplib.SMTPSenderRefused) as exc:
                client.sendmail("alice@example.com", ["bob@example.org"], _simple())
            assert exc.value.smtp_code == 550
    smtp_server.clear_faults()
    with smtplib.SMTP(smtp_server.host, smtp_server.plain_port, timeout=5) as client:
        client.sendmail("alice@example.com", ["bob@example.org"], _simple())
    assert len(smtp_server.wait_for(1)) == 1
    with pytest.raises(ValueError):
        smtp_server.fail_next(250, "OK")
    with pytest.raises(ValueError):
        smtp_server.fail_next(550, "no", stage="HELO")


def test_smtp_drop_connections(smtp_server):
    smtp_server.drop_connections(True)
    with (
        pytest.raises(smtplib.SMTPServerDisconnected),
        smtplib.SMTP(smtp_server.host, smtp_server.plain_port, timeout=5) as c,
    ):
        c.sendmail("alice@example.com", ["bob@example.org"], _simple())
    smtp_server.drop_connections(False)
    with smtplib.SMTP(smtp_server.host, smtp_server.plain_port, timeout=5) as c:
        c.sendmail("alice@example.com", ["bob@example.org"], _simple())
    assert smtp_server.connection_count == 2
    assert len(smtp_server.wait_for(1)) == 1


def test_smtp_wait_for_times_out(smtp_server):
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        smtp_server.wait_for(1, timeout=0.2)
    assert 0.2 <= time.monotonic() - started < 1.0


def test_smtp_stop_is_idempotent(smtp_server):
    directory, port = smtp_server.dir, smtp_server.port
    smtp_server.stop()
    smtp_server.stop()
    assert not os.path.exists(directory)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((smtp_server.host, port), 1).close()


# -- message factory ---------------------------------------------------------------


def _header_block(raw):
    return raw.split(b"\r\n\r\n", 1)[0]


def test_make_message_round_trips_headers():
    raw = make_message(
        ("Jürgen Müller", "juergen@example.com"),
        ["Zoë Ñandú <zoe@example.org>", "plain@example.org"],
        cc=("Carol", "carol@example.net"),
        bcc="hidden@example.net",
        subject="Angebot für Ihr Projekt ☕",
        date=datetime.datetime(2024, 3, 5, 10, 0, tzinfo=datetime.timezone.utc),
        message_id="unique-1@example.com",
        in_reply_to="<parent@example.com>",
        references=["<root@example.com>", "<parent@example.com>"],
        text="Grüße\nZeile 2\n",
        html="<p>Grüße</p>",
        attachments=[("offer.pdf", b"%PDF-1.4 \x00\xff", None)],
    )
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only
    head = _header_block(raw)
    assert head.isascii()  # non-ASCII only as encoded words
    assert b"=?utf-8?" in head
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert not msg.defects
    assert msg["Subject"] == "Angebot für Ihr Projekt ☕"
    assert msg["From"].addresses[0].display_name == "Jürgen Müller"
    assert [a.addr_spec for a in msg["To"].addresses] == [
        "zoe@example.org",
        "plain@example.org",
    ]
    assert msg["To"].addresses[0].display_name == "Zoë Ñandú"
    assert msg["Cc"].addresses[0].addr_spec == "carol@example.net"
    assert msg["Bcc"].addresses[0].addr_spec == "hidden@example.net"
    assert msg["Message-ID"] == "<unique-1@example.com>"
    assert msg["In-Reply-To"] == "<parent@example.com>"
    assert msg["References"].split() == ["<root@example.com>", "<parent@example.com>"]
    assert msg["Date"].datetime == datetime.datetime(
        2024, 3, 5, 10, 0, tzinfo=datetime.timezone.utc
    )
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n") == (
        "Grüße\nZeile 2\n"
    )
    assert msg.get_body(("html",)).get_content().strip() == "<p>Grüße</p>"
    [attachment] = msg.iter_attachments()
    assert attachment.get_filename() == "offer.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == b"%PDF-1.4 \x00\xff"
    assert raw.count(b"MIME-Version") == 1


def test_make_message_forced_encoded_subject_and_no_display_names():
    raw = make_message(
        ("Bob", "bob@example.org"),
        ("Alice", "alice@example.com"),
        subject="Plain ASCII subject",
        encoded_subject=True,
        display_names=False,
    )
    head = _header_block(raw)
    assert b"Subject: =?utf-8?" in head
    assert b"Plain ASCII subject" not in head
    assert b"Bob" not in head and b"Alice" not in head
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"] == "Plain ASCII subject"
    assert str(msg["From"]) == "bob@example.org"


def test_make_corpus_is_deterministic_and_parses():
    corpus = make_corpus(400, seed=7, attachment_size=(2_000, 5_000))
    assert [m.raw for m in corpus] == [
        m.raw for m in make_corpus(400, seed=7, attachment_size=(2_000, 5_000))
    ]
    assert [m.raw for m in corpus] != [m.raw for m in make_corpus(400, seed=8)]
    folders = [m.folder for m in corpus]
    assert set(folders) == {"INBOX", "Sent"}
    assert 0.15 < folders.count("Sent") / len(folders) < 0.35
    ids = {m.message_id for m in corpus}
    assert len(ids) == len(corpus)
    replies = encoded = with_attachment = 0
    for item in corpus:
        assert b"\n" not in item.raw.replace(b"\r\n", b"")
        msg = email.message_from_bytes(item.raw, policy=email.policy.default)
        assert not msg.defects
        assert all(not part.defects for part in msg.walk())
        assert msg["Message-ID"] == item.message_id
        assert msg["Date"].datetime == item.date.replace(microsecond=0)
        sender = msg["From"].addresses[0].addr_spec
        if item.folder == "Sent":
            assert sender == "alice@example.com"
        else:
            assert "alice@example.com" in [a.addr_spec for a in msg["To"].addresses]
        if msg["In-Reply-To"]:
            replies += 1
            assert msg["In-Reply-To"] in ids
            assert msg["Subject"].startswith("Re: ")
        if b"Subject: =?utf-8?" in _header_block(item.raw):
            encoded += 1
            assert not msg["Subject"].isascii()
        if msg.is_multipart():
            with_attachment += 1
            [attachment] = msg.iter_attachments()
            assert 2_000 <= len(attachment.get_content()) <= 5_000 + 57
    assert replies > 40 and encoded > 10 and with_attachment > 10
    dates = [m.date for m in corpus]
    assert dates == sorted(dates)


def test_make_corpus_html_alternatives():
    """``html_ratio``: that share of messages has an HTML version of its text
    (with or without an attachment); 0 leaves the corpus of a seed unchanged."""
    plain = make_corpus(60, seed=3, attachment_size=(2_000, 5_000))
    assert [m.raw for m in plain] == [
        m.raw
        for m in make_corpus(60, seed=3, attachment_size=(2_000, 5_000), html_ratio=0)
    ]
    corpus = make_corpus(60, seed=3, attachment_size=(2_000, 5_000), html_ratio=1.0)
    attached = 0
    for item in corpus:
        msg = email.message_from_bytes(item.raw, policy=email.policy.default)
        assert all(not part.defects for part in msg.walk())
        html_part = msg.get_body(("html",))
        text_part = msg.get_body(("plain",))
        assert html_part is not None and text_part is not None
        first_words = text_part.get_content().split()[:3]
        assert " ".join(first_words) in html_part.get_content()
        parsed = parse_message(item.raw, 10**6)
        assert not parsed.body_is_text and parsed.body_html.startswith("<html>")
        attached += bool(parsed.attachments)
    assert attached > 0


def test_corpus_fills_dovecot(dovecot):
    corpus = make_corpus(300, seed=3, attachment_size=(1_000, 3_000))
    for folder in ("INBOX", "Sent"):
        items = [(m.raw, m.date) for m in corpus if m.folder == folder]
        dovecot.fill_maildir("alice", folder, items)
    client = dovecot.connect("alice")
    counts = {
        folder: client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"]
        for folder in ("INBOX", "Sent")
    }
    assert counts == {
        "INBOX": sum(m.folder == "INBOX" for m in corpus),
        "Sent": sum(m.folder == "Sent" for m in corpus),
    }
    client.logout()


def test_malformed_messages_are_really_malformed():
    broken = malformed_messages()
    assert {
        "raw_8bit_headers",
        "nul_bytes",
        "no_headers",
        "broken_mime_boundary",
        "invalid_date",
        "garbage_encoded_words",
    } <= set(broken)
    assert b"\xfc" in _header_block(broken["raw_8bit_headers"])
    assert b"\x00" in broken["nul_bytes"]
    no_headers = email.message_from_bytes(broken["no_headers"])
    assert no_headers.keys() == []
    mime = email.message_from_bytes(
        broken["broken_mime_boundary"], policy=email.policy.default
    )
    assert mime.defects
    date = email.message_from_bytes(broken["invalid_date"], policy=email.policy.default)
    assert date["Date"].datetime is None
    with pytest.raises(UnicodeDecodeError):
        _header_block(broken["raw_8bit_headers"]).decode("utf-8")
