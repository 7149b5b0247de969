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

A watch connects as the sync's session does (``lib/imap/session.py``): to
the addresses the mailbox's host policy checked (``lib.net.host_policy``), in
TLS from the start, upgraded with STARTTLS, or in clear, as the settings say,
with the same certificate checks (``lib.net.tls``: the host name, or the
pinned fingerprint of a self-signed server).

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

from .. import errors
from ..net import host_policy, tls

__all__ = [
    "TLS_READ_BUFFER",
    "Backoff",
    "WatchConfig",
    "news_in",
    "select_status",
    "small_tls_buffers",
    "watch_folder",
]

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


# The read buffer of each TLS connection the listener's asyncio opens. On
# Python 3.11 and later, asyncio's TLS layer (``asyncio.sslproto.SSLProtocol``,
# a BufferedProtocol) gives every connection a buffer of its ``max_size``,
# 256 KiB, zero-filled and so resident: 2,000 watches held 512 MB in them
# (0.28 MB per connection measured in the listener; docs/benchmarks.rst "The
# listener"). A TLS record carries at most 16 KiB and a watch reads a few
# lines at a time; a larger read only takes more passes of the same loop.
TLS_READ_BUFFER = 16 * 1024


def small_tls_buffers(size=TLS_READ_BUFFER):
    """Give the asyncio TLS connections opened from now on in this process a
    read buffer of ``size`` bytes instead of 256 KiB; returns whether it did.

    For a process whose asyncio TLS connections are all watches (the
    listener, ``cli/listener.py``): it sets the class attribute
    ``asyncio.sslproto.SSLProtocol.max_size``, which that class reads for its
    buffer (3.11, 3.12, 3.13). On 3.10 the attribute is not there (its TLS
    layer reads into a fresh object per read, nothing kept per connection)
    and nothing changes; a smaller value already set is kept."""
    from asyncio import sslproto

    current = getattr(sslproto.SSLProtocol, "max_size", None)
    if not isinstance(current, int) or current <= size:
        return False
    sslproto.SSLProtocol.max_size = size
    return True


class WatchFailed(Exception):
    """A watch's connection failed (its text holds no secret)."""


class SignInRefused(WatchFailed):
    """The server refused the watch's sign-in (password or OAuth token)."""


async def _settings(settings_of):
    settings = settings_of()
    if inspect.isawaitable(settings):
        settings = await settings
    return settings


_CAPABILITIES = {}


def _shared(capabilities):
    """One frozenset per distinct CAPABILITY answer for every watch of the
    process (thousands of connections to a few kinds of server): each
    connection's own set of strings cost ~4 KB."""
    key = frozenset(capabilities)
    if len(_CAPABILITIES) > 64:
        return key
    return _CAPABILITIES.setdefault(key, key)


@functools.lru_cache(maxsize=1)
def _client_class():
    """aioimaplib's client, whose connection :func:`_open` makes (the host
    policy's addresses, STARTTLS) instead of its constructor, and whose
    protocol answers a refused XOAUTH2 sign-in.

    aioimaplib 2.0.3 (``aioimaplib>=2.0,<3``) names: ``IMAP4.create_client``
    (overridden, as its ``IMAP4_SSL`` does), ``IMAP4ClientProtocol``'s
    ``_continuation`` (overridden), ``pending_sync_command``, ``transport``,
    ``capabilities``, ``incomplete_line``, ``execute``, ``new_tag``,
    ``wait`` and ``capability`` (``lib/tests/test_idle.py`` exercises each
    against Dovecot)."""
    import aioimaplib  # only the listener needs it

    class WatchProtocol(aioimaplib.IMAP4ClientProtocol):
        def _continuation(self, line):
            command = self.pending_sync_command
            if command is not None and command.name == "AUTHENTICATE":
                # A refused XOAUTH2 token: the server's error comes as a
                # continuation the client answers with an empty line, and the
                # command then ends with NO (RFC 7628 3.2.3). aioimaplib
                # waits instead, until its timeout.
                self.transport.write(b"\r\n")
                return
            super()._continuation(line)

    class WatchClient(aioimaplib.IMAP4):
        def create_client(self, host, port, loop, conn_lost_cb=None, ssl_context=None):  # pylint: disable=too-many-arguments
            self.protocol = WatchProtocol(
                loop or asyncio.get_running_loop(), conn_lost_cb
            )

    return WatchClient


async def _open(client, settings, context, addresses, timeout):
    """Connect ``client``'s protocol to the first of the checked ``addresses``
    that answers, in TLS from the start (``ssl``), upgraded with STARTTLS
    (``starttls``) or in clear (``none``), as the sync's session does
    (``lib/imap/session.py``); TLS sends the host's name and checks the
    certificate against it. Returns the TLS object (None in clear)."""
    loop = asyncio.get_running_loop()
    protocol = client.protocol
    name = host_policy.normalize_name(settings.host) or None
    implicit = settings.encryption == "ssl"

    async def connect(address):
        return await loop.create_connection(
            lambda: protocol,
            address,
            settings.port,
            ssl=context if implicit else None,
            server_hostname=name if implicit else None,
            ssl_handshake_timeout=timeout if implicit else None,
        )

    transport, _protocol = await asyncio.wait_for(
        host_policy.connect_in_turn_async(addresses, connect), timeout
    )
    await asyncio.wait_for(protocol.wait("AUTH|NONAUTH"), timeout)  # the greeting
    if settings.encryption == "starttls":
        import aioimaplib

        if "STARTTLS" not in protocol.capabilities:
            raise errors.MailSyncError(
                "starttls_unsupported", side="imap", detail="no STARTTLS"
            )
        response = await asyncio.wait_for(
            protocol.execute(
                aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=loop)
            ),
            timeout,
        )
        if response.result != "OK":
            raise WatchFailed(f"STARTTLS refused ({response.result})")
        if protocol.incomplete_line:
            # Clear text after the server's OK would be read as if it came
            # through TLS (the STARTTLS injection of CVE-2011-0411).
            raise WatchFailed("data after STARTTLS")
        transport = await loop.start_tls(
            transport,
            protocol,
            context,
            server_hostname=name,
            ssl_handshake_timeout=timeout,
        )
        protocol.transport = transport
        # What the server offers now that it is TLS (RFC 3501 6.2.1).
        await asyncio.wait_for(protocol.capability(), timeout)
    return transport.get_extra_info("ssl_object")


async def _connect(settings, config, lost):
    """A logged-in aioimaplib client; ``lost`` is set when its connection ends.
    The host policy (``lib.net.host_policy``) and the certificate checks
    (``lib.net.tls``) are the sync's."""
    loop = asyncio.get_running_loop()
    # The host must be one the mailbox may reach; the connection goes to the
    # addresses checked (the name is not looked up again). The look-up blocks:
    # in a thread, so the other watches go on.
    addresses = await loop.run_in_executor(
        None,
        functools.partial(
            settings.host_policy.check, settings.host, settings.port, side="imap"
        ),
    )
    context = (
        None
        if settings.encryption == "none"
        else tls.shared_context(settings.allow_self_signed)
    )
    client = _client_class()(
        host=settings.host,
        port=settings.port,
        timeout=config.timeout,
        conn_lost_cb=lambda _exc: lost.set(),
    )
    try:
        ssl_object = await _open(client, settings, context, addresses, config.timeout)
        if ssl_object is not None:
            tls.check_pin(
                ssl_object,
                settings.allow_self_signed,
                settings.pinned_fingerprint,
                "imap",
            )
        if settings.access_token:
            response = await client.xoauth2(settings.login, settings.access_token)
        else:
            response = await client.login(settings.login, settings.password)
        if response.result != "OK":
            raise SignInRefused(f"login refused ({response.result})")
        # What the server offers once logged in (its greeting may say more).
        await asyncio.wait_for(client.protocol.capability(), config.timeout)
        client.protocol.capabilities = _shared(client.protocol.capabilities)
    except BaseException:
        await _logout(client)
        raise
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
    settings_of,
    folder,
    on_news,
    config=None,
    label="",
    on_state=None,
    gate=None,
    on_refused=None,
):
    """Watch ``folder`` until cancelled (see the module's docstring).
    ``on_state(state)``, if given, hears "idle", "polling" or "backoff";
    ``gate`` (an ``asyncio.Semaphore``), if given, is held while connecting,
    signing in and selecting: thousands of watches starting together connect
    a few at a time; ``on_refused(settings)`` (may be a coroutine function),
    if given, hears that the server refused the sign-in with ``settings``,
    before the back-off (the listener replaces a refused OAuth token)."""
    config = config or WatchConfig()
    backoff = Backoff(config.backoff_first, config.backoff_cap)
    while True:
        lost = asyncio.Event()
        client = settings = None
        try:
            async with gate or contextlib.nullcontext():
                settings = await _settings(settings_of)
                client = await _connect(settings, config, lost)
                exists, status = await _select(client, folder)
            settings = None  # not kept while idling (thousands of watches)
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
            if on_refused and isinstance(exc, SignInRefused):
                try:
                    await _call(on_refused, settings)
                except Exception as err:  # noqa: BLE001  # the back-off goes on
                    _logger.warning(
                        "mail_sync_crm: watch of %s %s: after a refused sign-in "
                        "(%s: %s)",
                        label,
                        folder,
                        type(err).__name__,
                        _redacted(err, settings_of),
                    )
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
