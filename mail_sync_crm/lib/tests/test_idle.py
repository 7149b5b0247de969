"""The listener's watch of a folder (``lib/imap/idle.py``) against a real
Dovecot: news is heard while idling, after the server drops the connection,
on a server without IDLE (polling), over implicit TLS and STARTTLS with the
sync's certificate checks and host policy, and a refused login only backs
off."""

import asyncio
import contextlib
import doctest
import threading
import time
from asyncio import sslproto

from lib.imap import idle
from lib.net import host_policy

from mail_sync_testing import DovecotServer, make_message
from mail_sync_testing.network_guard import watching

FAST = idle.WatchConfig(
    reidle_seconds=2, poll_seconds=0.5, timeout=5, backoff_first=0.2, backoff_cap=1
)


class Watch:
    """A watch of alice's INBOX run in a thread of its own; ``heard`` counts the
    news it reported."""

    def __init__(self, server, password="secret", **overrides):
        self.settings = server.client_settings("alice", password=password, **overrides)
        self.heard = 0
        self.states = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _news(self, _folder, _status=None):
        self.heard += 1

    def _run(self):
        self.task = self.loop.create_task(
            idle.watch_folder(
                lambda: self.settings,
                "INBOX",
                self._news,
                FAST,
                "alice",
                self.states.append,
            )
        )
        with contextlib.suppress(asyncio.CancelledError):
            self.loop.run_until_complete(self.task)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(10)

    def wait(self, condition, timeout=15):
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, (self.heard, self.states)
            time.sleep(0.05)


def _append(server, subject="hello"):
    message = make_message("buyer@example.com", "alice@example.com", subject=subject)
    server.append("alice", "INBOX", message)


def test_a_message_appended_while_idling_is_news(dovecot):
    with Watch(dovecot) as watch:
        watch.wait(lambda: "idle" in watch.states)
        before = watch.heard  # one after connecting: what came while away
        _append(dovecot)
        watch.wait(lambda: watch.heard > before)
        # the re-IDLE timer (2 s here) keeps it listening
        time.sleep(2.5)
        after = watch.heard
        _append(dovecot, "again")
        watch.wait(lambda: watch.heard > after)


def test_a_dropped_connection_reconnects_and_still_hears(dovecot):
    with Watch(dovecot) as watch:
        watch.wait(lambda: "idle" in watch.states)
        dovecot.kill_imap_children()
        watch.wait(lambda: "backoff" in watch.states)
        watch.wait(lambda: watch.states.count("idle") >= 2)
        before = watch.heard
        _append(dovecot)
        watch.wait(lambda: watch.heard > before)


def test_a_server_without_idle_is_polled():
    with DovecotServer(capability="IMAP4rev1 LITERAL+ UIDPLUS") as server:
        server.add_user("alice", "secret")
        with Watch(server) as watch:
            watch.wait(lambda: "polling" in watch.states)
            before = watch.heard
            _append(server)
            watch.wait(lambda: watch.heard > before)


def test_a_refused_login_backs_off_and_never_ends_the_watch(dovecot):
    with Watch(dovecot, password="wrong") as watch:
        watch.wait(lambda: watch.states.count("backoff") >= 3)
        assert watch.heard == 0
        assert watch.thread.is_alive()
        watch.settings = dovecot.client_settings("alice")  # a corrected password
        watch.wait(lambda: "idle" in watch.states)


def _pin_of(server):
    """The fingerprint of ``server``'s certificate, as Connect records it."""
    import ssl

    from lib.net import tls

    der = ssl.PEM_cert_to_DER_cert(
        ssl.get_server_certificate((server.host, server.ssl_port))
    )
    return tls.fingerprint(der)


def _connections(server):
    lines = server.doveadm("who").stdout.splitlines()[1:]
    return sum(int(line.split()[1]) for line in lines)


def test_a_starttls_folder_is_watched_with_the_pinned_certificate(dovecot):
    pin = _pin_of(dovecot)
    settings = {"encryption": "starttls", "allow_self_signed": True}
    with Watch(dovecot, pinned_fingerprint=pin, **settings) as watch:
        watch.wait(lambda: "idle" in watch.states)
        before = watch.heard
        _append(dovecot)
        watch.wait(lambda: watch.heard > before)
    # another certificate than the one pinned: refused, as the sync refuses it
    with Watch(dovecot, pinned_fingerprint="AA:" * 31 + "AA", **settings) as watch:
        watch.wait(lambda: watch.states.count("backoff") >= 2)
        assert "idle" not in watch.states


def test_implicit_tls_checks_the_pinned_certificate_too(dovecot):
    settings = {
        "port": dovecot.ssl_port,
        "encryption": "ssl",
        "allow_self_signed": True,
    }
    with Watch(dovecot, pinned_fingerprint=_pin_of(dovecot), **settings) as watch:
        watch.wait(lambda: "idle" in watch.states)
    with Watch(dovecot, pinned_fingerprint="AA:" * 31 + "AA", **settings) as watch:
        watch.wait(lambda: watch.states.count("backoff") >= 2)
        assert "idle" not in watch.states


def test_a_host_the_policy_refuses_is_never_connected_to(dovecot):
    before = _connections(dovecot)
    with Watch(dovecot, host_policy=host_policy.PUBLIC_ONLY) as watch:
        watch.wait(lambda: watch.states.count("backoff") >= 2)
        assert "idle" not in watch.states
        assert _connections(dovecot) == before


def test_the_listener_s_tls_connections_keep_a_small_read_buffer(dovecot):
    """asyncio's TLS keeps a 256 KiB read buffer per connection (3.11+);
    after ``small_tls_buffers`` a watch's is 16 KiB. Names asyncio's private
    attributes it relies on: ``SSLProtocol.max_size`` and ``_ssl_buffer``."""
    default = getattr(sslproto.SSLProtocol, "max_size", None)
    if default is None:  # 3.10: no buffer kept per connection
        assert idle.small_tls_buffers() is False
        return
    buffers = []
    original = sslproto.SSLProtocol.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        buffers.append(self)

    try:
        sslproto.SSLProtocol.__init__ = init
        assert idle.small_tls_buffers() is True
        with Watch(
            dovecot, port=dovecot.ssl_port, encryption="ssl", allow_self_signed=True
        ) as watch:
            watch.wait(lambda: "idle" in watch.states)
            assert [len(p._ssl_buffer) for p in buffers] == [idle.TLS_READ_BUFFER]
            before = watch.heard
            _append(dovecot)  # a message still arrives whole
            watch.wait(lambda: watch.heard > before)
    finally:
        sslproto.SSLProtocol.__init__ = original
        sslproto.SSLProtocol.max_size = default


def test_a_refused_oauth_token_is_told_at_once(oauth_server, oauth_dovecot):
    """A server refusing an XOAUTH2 token answers with a continuation: the
    watch ends the exchange, hears NO, and tells ``on_refused`` (the listener
    then replaces the token) instead of waiting for its timeout."""
    refused = []
    states = []

    async def main():
        settings = oauth_dovecot.client_settings(
            "alice@example.com", password="", access_token="not-a-token"
        )
        task = asyncio.ensure_future(
            idle.watch_folder(
                lambda: settings,
                "INBOX",
                lambda *_a: None,
                idle.WatchConfig(timeout=20, backoff_first=0.2, backoff_cap=0.5),
                "alice",
                states.append,
                on_refused=refused.append,
            )
        )
        started = time.monotonic()
        while not refused and time.monotonic() - started < 10:
            await asyncio.sleep(0.05)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return time.monotonic() - started

    seconds = asyncio.run(main())
    assert refused and refused[0].access_token == "not-a-token"
    assert seconds < 10, "long before the command's timeout (20 s)"
    assert "idle" not in states


def test_the_watch_connects_to_the_address_it_checked(dovecot):
    """DNS rebinding: the mailbox's host name answers an allowed address when
    the policy checks it, and a cloud metadata address afterwards. The watch
    connects to the address that was checked (over TLS, the host name still
    sent for the certificate) and never looks the name up itself."""
    answers = [["127.0.0.1"], ["169.254.169.254"]]
    calls = []

    def dns(name, _port):
        calls.append(name)
        return answers.pop(0) if len(answers) > 1 else answers[0]

    policy = host_policy.HostPolicy.parse("127.0.0.1", resolve=dns)
    with (
        watching() as network,
        Watch(
            dovecot,
            host="mail.rebind.example",
            port=dovecot.ssl_port,
            encryption="ssl",
            allow_self_signed=True,
            host_policy=policy,
        ) as watch,
    ):
        watch.wait(lambda: "idle" in watch.states)
        before = watch.heard
        _append(dovecot)
        watch.wait(lambda: watch.heard > before)
    assert calls == ["mail.rebind.example"]
    # (the test's own APPEND goes through another port)
    assert [e for e in network if e[0] == "connect" and e[2] == dovecot.ssl_port] == [
        ("connect", "127.0.0.1", dovecot.ssl_port)
    ]
    assert "mail.rebind.example" not in [entry[1] for entry in network]


def test_doctests():
    failures, _tests = doctest.testmod(idle)
    assert failures == 0
