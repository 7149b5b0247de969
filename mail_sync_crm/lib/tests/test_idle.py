"""The listener's watch of a folder (``lib/imap/idle.py``) against a real
Dovecot: news is heard while idling, after the server drops the connection,
on a server without IDLE (polling), and a refused login only backs off."""

import asyncio
import contextlib
import doctest
import threading
import time

from lib.imap import idle
from lib.net.host_policy import HostPolicy

from mail_sync_testing import DovecotServer, make_message
from mail_sync_testing.network_guard import watching

FAST = idle.WatchConfig(
    reidle_seconds=2, poll_seconds=0.5, timeout=5, backoff_first=0.2, backoff_cap=1
)


class Watch:
    """A watch of alice's INBOX run in a thread of its own; ``heard`` counts the
    news it reported."""

    def __init__(self, server, password="secret", **settings):
        self.settings = server.client_settings("alice", password=password, **settings)
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

    policy = HostPolicy.parse("127.0.0.1", resolve=dns)
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
