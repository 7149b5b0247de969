"""The listener's watch of one folder: IMAP IDLE (RFC 2177), or polling.

:func:`watch_folder` is a coroutine (asyncio, ``aioimaplib``) that keeps one
connection to a folder and calls ``on_news(folder)`` whenever the server says
the folder changed (an untagged EXISTS, EXPUNGE or FETCH while idling). It
re-issues IDLE before the server's 29-minute limit (every
:attr:`WatchConfig.reidle_seconds`, 25 minutes by default), and on a server
without the IDLE capability it polls instead (a NOOP every
:attr:`WatchConfig.poll_seconds`, news when EXISTS moved). A dropped connection,
a refused login or any other failure is logged and retried after a capped,
jittered back-off (:class:`Backoff`); the watch never records anything: the
turn that news leads to is the caller's, and it judges the mailbox.

The settings are asked for at each connection (``settings_of()``, which may
be a coroutine function): a refreshed OAuth access token is used at the next
reconnection. After each (re)connection ``on_news(folder, status)`` is called
with what the SELECT said (``{"uidnext": .., "uidvalidity": ..}``, see
:func:`select_status`): messages may have arrived while the watch was away, and
the caller compares them with its checkpoint.

Nothing here touches the database.

>>> backoff = Backoff(first=1, cap=60, jitter=0)
>>> [backoff.next_delay() for _ in range(8)]
[1, 2, 4, 8, 16, 32, 60, 60]
>>> backoff.reset(); backoff.next_delay()
1
>>> news_in([b"3 EXISTS", b"OK Still here"]), news_in([b"OK Still here"])
(True, False)
>>> select_status([b"OK [UIDVALIDITY 17] UIDs valid", b"OK [UIDNEXT 5] Predicted"])
{'uidvalidity': 17, 'uidnext': 5}
"""

import asyncio
import contextlib
import functools
import inspect
import logging
import random
import re
from dataclasses import dataclass

from ..net import host_policy, tls

__all__ = ["Backoff", "WatchConfig", "news_in", "select_status", "watch_folder"]

_logger = logging.getLogger(__name__)

# Untagged responses that say a selected folder changed (RFC 3501 7.3, 7.4).
_NEWS = re.compile(rb"^\*?\s*\d+ (EXISTS|EXPUNGE|FETCH)\b", re.IGNORECASE)
_EXISTS = re.compile(rb"^\*?\s*(\d+) EXISTS\b", re.IGNORECASE)
_STATUS = {
    "uidvalidity": re.compile(rb"\[UIDVALIDITY (\d+)\]"),
    "uidnext": re.compile(rb"\[UIDNEXT (\d+)\]"),
}


@dataclass
class WatchConfig:
    """How a watch behaves; the tests shorten every period to seconds."""

    reidle_seconds: float = 25 * 60  # below the 29 minutes of RFC 2177
    poll_seconds: float = 60.0  # servers without IDLE
    timeout: float = 30.0  # each command, and the connection
    backoff_first: float = 2.0
    backoff_cap: float = 300.0


class Backoff:
    """Delays that double from ``first`` up to ``cap``, each shortened by up to
    ``jitter`` of itself at random (so watches that failed together do not
    retry together)."""

    def __init__(self, first=2.0, cap=300.0, jitter=0.25):
        self.first, self.cap, self.jitter = first, cap, jitter
        self._next = first

    def reset(self):
        self._next = self.first

    def next_delay(self):
        delay = min(self._next, self.cap)
        self._next = min(self._next * 2, self.cap)
        return delay * (1 - random.random() * self.jitter) if self.jitter else delay


def news_in(lines) -> bool:
    """Whether untagged ``lines`` (bytes) say the selected folder changed."""
    return any(_NEWS.match(line.strip()) for line in lines if isinstance(line, bytes))


def select_status(lines) -> dict:
    """UIDVALIDITY and UIDNEXT from a SELECT's untagged ``lines``."""
    status = {}
    for line in lines:
        if isinstance(line, bytes):
            for key, pattern in _STATUS.items():
                found = pattern.search(line)
                if found:
                    status[key] = int(found.group(1))
    return status


def _exists(lines):
    for line in lines:
        if isinstance(line, bytes):
            found = _EXISTS.match(line.strip())
            if found:
                return int(found.group(1))
    return None


class WatchFailed(Exception):
    """A watch's connection failed (its text holds no secret)."""


async def _settings(settings_of):
    settings = settings_of()
    if inspect.isawaitable(settings):
        settings = await settings
    return settings


@functools.lru_cache(maxsize=2)
def _tls_context(allow_self_signed):
    """One client context per kind for every watch of the process: loading the
    system's trusted certificates costs ~45 ms and ~1 MB each time."""
    return tls.make_context(allow_self_signed)


@functools.lru_cache(maxsize=1)
def _checked_client_class():
    """aioimaplib's client, connecting to the addresses the host policy
    checked (``addresses``) rather than looking the host name up again: a DNS
    answer that changes in between ("DNS rebinding") cannot take the watch to
    an address the policy refuses. TLS still sends and verifies the host name
    (``server_hostname``), as the sessions do (``lib.imap.session``)."""
    import aioimaplib  # only the listener needs it

    class CheckedClient(aioimaplib.IMAP4):
        def __init__(self, addresses, server_hostname, **kwargs):
            self.addresses = addresses
            self.server_hostname = server_hostname
            super().__init__(**kwargs)

        def create_client(self, host, port, loop, conn_lost_cb=None, ssl_context=None):
            loop = loop if loop is not None else asyncio.get_running_loop()
            self.protocol = aioimaplib.IMAP4ClientProtocol(loop, conn_lost_cb)
            name = self.server_hostname if ssl_context is not None else None
            self._client_task = loop.create_task(
                host_policy.connect_in_turn_async(
                    self.addresses,
                    lambda address: loop.create_connection(
                        lambda: self.protocol,
                        address,
                        port,
                        ssl=ssl_context,
                        server_hostname=name,
                    ),
                )
            )

    return CheckedClient


async def _connect(settings, config, lost):
    """A logged-in aioimaplib client; ``lost`` is set when its connection ends."""
    if settings.encryption == "starttls":
        raise WatchFailed("STARTTLS is not supported by the watch")
    # The host must be one the mailbox may reach (lib.net.host_policy); the
    # watch connects to the addresses checked here, never to the name.
    addresses = settings.host_policy.check(settings.host, settings.port, side="imap")
    context = (
        _tls_context(settings.allow_self_signed)
        if settings.encryption == "ssl"
        else None
    )
    client = _checked_client_class()(
        addresses,
        host_policy.normalize_name(settings.host) or settings.host,
        host=settings.host,
        port=settings.port,
        timeout=config.timeout,
        conn_lost_cb=lambda _exc: lost.set(),
        ssl_context=context,
    )
    await client.wait_hello_from_server()
    if context is not None:
        ssl_object = client.protocol.transport.get_extra_info("ssl_object")
        tls.check_pin(
            ssl_object, settings.allow_self_signed, settings.pinned_fingerprint, "imap"
        )
    if settings.access_token:
        response = await client.xoauth2(settings.login, settings.access_token)
    else:
        response = await client.login(settings.login, settings.password)
    if response.result != "OK":
        raise WatchFailed(f"login refused ({response.result})")
    # What the server offers once logged in (its greeting may say more).
    await client.protocol.capability()
    return client


async def _select(client, folder):
    response = await client.select(f'"{folder}"')
    if response.result != "OK":
        raise WatchFailed(f"SELECT {folder} refused ({response.result})")
    return _exists(response.lines), select_status(response.lines)


async def _idle_once(client, config, lost):
    """One IDLE command, ended by news, by the re-IDLE timer or by a lost
    connection; returns whether the server said the folder changed."""
    import aioimaplib

    idle = await client.idle_start(timeout=config.reidle_seconds)
    news = False
    lost_wait = asyncio.ensure_future(lost.wait())
    push = None
    try:
        while client.has_pending_idle() and not lost.is_set():
            push = asyncio.ensure_future(client.wait_server_push(None))
            done, _pending = await asyncio.wait(
                {push, lost_wait}, return_when=asyncio.FIRST_COMPLETED
            )
            if push not in done:
                break
            lines = push.result()
            if lines == aioimaplib.STOP_WAIT_SERVER_PUSH:
                break  # the re-IDLE timer
            if news_in(lines):
                news = True
                break
    finally:
        lost_wait.cancel()
        if push is not None and not push.done():
            push.cancel()
    if lost.is_set():
        raise WatchFailed("connection lost")
    client.idle_done()
    await asyncio.wait_for(idle, config.timeout)
    return news


async def _poll_once(client, config, lost, exists):
    """A NOOP after ``poll_seconds``: returns (news, the new EXISTS)."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(lost.wait(), config.poll_seconds)
    if lost.is_set():
        raise WatchFailed("connection lost")
    response = await client.noop()
    if response.result != "OK":
        raise WatchFailed(f"NOOP refused ({response.result})")
    count = _exists(response.lines)
    expunged = any(
        b"EXPUNGE" in line for line in response.lines if isinstance(line, bytes)
    )
    news = expunged or (count is not None and count != exists)
    return news, exists if count is None else count


async def _call(on_news, *args):
    result = on_news(*args)
    if inspect.isawaitable(result):
        await result


async def watch_folder(
    settings_of, folder, on_news, config=None, label="", on_state=None, gate=None
):
    """Watch ``folder`` until cancelled (see the module's docstring).
    ``on_state(state)``, if given, hears "idle", "polling" or "backoff";
    ``gate`` (an ``asyncio.Semaphore``), if given, is held while connecting,
    signing in and selecting: thousands of watches starting together connect
    a few at a time."""
    config = config or WatchConfig()
    backoff = Backoff(config.backoff_first, config.backoff_cap)
    while True:
        lost = asyncio.Event()
        client = None
        try:
            async with gate or contextlib.nullcontext():
                settings = await _settings(settings_of)
                client = await _connect(settings, config, lost)
                exists, status = await _select(client, folder)
            await _call(on_news, folder, status)  # what came while away
            backoff.reset()
            if client.has_capability("IDLE"):
                if on_state:
                    on_state("idle")
                while True:
                    if await _idle_once(client, config, lost):
                        await _call(on_news, folder)
            else:
                if on_state:
                    on_state("polling")
                while True:
                    news, exists = await _poll_once(client, config, lost, exists)
                    if news:
                        await _call(on_news, folder)
        except asyncio.CancelledError:
            await _logout(client)
            raise
        except Exception as exc:  # noqa: BLE001  # a watch never dies: it backs off
            delay = backoff.next_delay()
            _logger.warning(
                "mail_sync_crm: watch of %s %s failed (%s: %s); again in %.0fs",
                label,
                folder,
                type(exc).__name__,
                _redacted(exc, settings_of),
                delay,
            )
            await _logout(client)
            if on_state:
                on_state("backoff")
            await asyncio.sleep(delay)


def _redacted(exc, _settings_of):
    # aioimaplib's errors carry the server's words, never the client's secrets;
    # keep them short.
    return str(exc)[:200]


async def _logout(client):
    if client is None:
        return
    with contextlib.suppress(Exception):
        if client.has_pending_idle():
            client.idle_done()
        await asyncio.wait_for(client.logout(), 2)
    with contextlib.suppress(Exception):
        client.protocol.transport.close()
