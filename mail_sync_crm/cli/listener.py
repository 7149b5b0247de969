# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The listener: ``odoo-bin --addons-path=... mail_sync_listener -c odoo.conf -d DB``.

A long-running process, beside Odoo's servers, that hears new mail the moment
it arrives. One asyncio loop holds a watch (``lib.imap.idle``: IMAP IDLE, or
polling on servers without it) on the Inbox and the Sent folder of each mailbox
the listener holds a lease on (``mail.sync.listener``: several listeners divide
the enabled mailboxes; at most two connections per mailbox). On news, the
mailbox's turn runs through the same claim and lock as the scheduled run
(``mail.sync.scheduler._claim_turn``), in a small pool of threads with a cursor
each (the turn is synchronous ORM code), never two of one mailbox at once.

Every ``--heartbeat`` seconds it renews its leases and follows what changed: a
mailbox connected gets a watch, one disconnected (or leased to another
listener) loses it, one whose server settings or credentials changed has its
watch restarted. Each (re)connection asks for the settings afresh. The OAuth
access token of a watched mailbox is refreshed before it expires
(``mail.sync.oauth.token._access_token``, under its lock), so that a watch
that must reconnect signs in at once with a valid one; the watches idling
keep their connections (signed in once, they outlive the token). A revoked
grant stops the watch of that mailbox as a failed turn does (below).

A failing watch only logs and backs off: the listener never changes a
mailbox's state. Nor does its turn: a turn that fails leaves the mailbox's
state, log and back-off to the scheduled run (the safety net, which meets the
same failure and decides), and the listener stops watching that mailbox for
``--failed-turn-pause`` seconds, doubled at each failure in a row up to an
hour, or until its settings, credentials or state change (a password typed
again, the scheduled run's verdict).
"""

import argparse
import asyncio
import concurrent.futures
import contextlib
import functools
import hashlib
import logging
import os
import signal
import socket
import time

import psycopg2

import odoo
from odoo import SUPERUSER_ID, api, fields
from odoo.cli import Command

from ..lib import errors
from ..lib.imap import idle
from ..lib.oauth import client as oauth
from ..models.mail_sync_listener import HEARTBEAT_SECONDS, LEASE_SECONDS
from ..store import claims

_logger = logging.getLogger(__name__)

SERIALIZATION_ATTEMPTS = 3
BUSY_RETRY_SECONDS = (1, 2, 4, 8, 15, 30)  # another process holds the mailbox
FAILED_TURN_PAUSE_SECONDS = 300  # not watched after a failed turn, doubled...
FAILED_TURN_PAUSE_CAP = 3600  # ... up to an hour
TOKEN_RETRY_SECONDS = 60  # a token refresh failed (not a revoked grant)
# between two refreshes of a token whose whole life is within the margin
TOKEN_MIN_SECONDS = 30


class Listener:
    """The listener of one process (see the module's docstring)."""

    def __init__(self, registry, name, options):
        self.registry = registry
        self.name = name
        self.options = options
        self.config = idle.WatchConfig(
            reidle_seconds=options.reidle, poll_seconds=options.poll
        )
        # Three pools, so that a storm of one kind never delays the others:
        # turns; the watches' settings and checkpoints; the heartbeat.
        self.pool = concurrent.futures.ThreadPoolExecutor(
            options.workers, thread_name_prefix="mail_sync_listener_turn"
        )
        self.light_pool = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="mail_sync_listener_watch"
        )
        self.beat_pool = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="mail_sync_listener_beat"
        )
        self.watches = {}  # mailbox id: (fingerprint, [tasks])
        self.keepers = {}  # mailbox id: the task refreshing its OAuth token
        self.chores = set()  # tasks nobody awaits
        self.turns = {}  # mailbox id: "running" | "again"
        # mailbox id: (fingerprint, not watched before (monotonic), Backoff)
        self.paused = {}
        self.stopping = asyncio.Event()
        self.gate = asyncio.Semaphore(options.connecting)
        self.turn_count = 0

    # -- Odoo, in the pool's threads -------------------------------------
    def _in_odoo(self, work, *args):
        for attempt in range(SERIALIZATION_ATTEMPTS):
            try:
                with self.registry.cursor() as cr:
                    # sudo: the listener is a server process, as the scheduled
                    # run is: its leases, the mailboxes' settings and their
                    # turns, no caller.
                    return work(api.Environment(cr, SUPERUSER_ID, {}), *args)
            except psycopg2.errors.SerializationFailure:
                # A lease row written meanwhile (a heartbeat and a turn's
                # _synced): what was committed holds, the rest is redone.
                if attempt + 1 == SERIALIZATION_ATTEMPTS:
                    raise
                time.sleep(0.05 * (attempt + 1))
        return None

    async def _odoo(self, work, *args, pool=None):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(pool or self.pool, self._in_odoo, work, *args)

    def _beat(self, env):
        """Renew the leases; ``{mailbox id: (fingerprint, folder names)}``."""
        ids = env["mail.sync.listener"]._heartbeat(self.name, self.options.ttl)
        env.cr.commit()  # pylint: disable=invalid-commit  # the leases show at once
        if not ids:
            return {}
        env.cr.execute(
            """SELECT a.id, a.state, a.email, a.imap_host, a.imap_port,
                      a.imap_encryption, a.imap_login, a.imap_secret,
                      a.imap_allow_self_signed, a.imap_cert_fingerprint,
                      -- whether it signs in with OAuth; not its tokens, which
                      -- a refresh changes (Microsoft's at every refresh)
                      (SELECT t.id FROM mail_sync_oauth_token t
                        WHERE t.account_id = a.id LIMIT 1),
                      ARRAY(SELECT f.name FROM mail_sync_folder f
                             WHERE f.account_id = a.id ORDER BY f.id)
                 FROM mail_sync_account a WHERE a.id IN %s""",
            [tuple(ids)],
        )
        found = {}
        for row in env.cr.fetchall():
            digest = hashlib.sha256(repr(row[1:-1]).encode()).hexdigest()
            found[row[0]] = (digest, tuple(row[-1][:2]) or ("INBOX",))
        return found

    def _settings(self, env, account_id):
        account = env["mail.sync.account"].browse(account_id)
        return env["mail.sync.connector"]._imap_settings(account)

    def _replace_token(self, env, account_id, refused):
        """A new access token for ``account_id``, whose ``refused`` one a
        server just refused (revoked, or invalidated by the provider): a
        revoked grant raises ``oauth_invalid_grant``."""
        account = env["mail.sync.account"].browse(account_id)
        env["mail.sync.oauth.token"]._access_token(account, refused=refused)

    def _token_expiry(self, env, account_id):
        """When the access token of ``account_id`` expires, refreshed first
        when it expires within ``lib.oauth``'s margin (through
        ``_access_token``, which holds the token row's lock: a turn or a
        watch refreshing it at the same time uses the same new token); None
        when the mailbox signs in with a password."""
        account = env["mail.sync.account"].browse(account_id)
        tokens = env["mail.sync.oauth.token"]
        if not tokens._of(account):
            return None
        tokens._access_token(account)
        tokens.invalidate_model(["expires_at"])
        return tokens._of(account).expires_at

    def _checkpoint_behind(self, env, account_id, folder, status):
        """Whether the server's UIDNEXT/UIDVALIDITY of ``folder`` (seen when
        the watch connected) is past the folder's checkpoint."""
        env.cr.execute(
            """SELECT uidvalidity, last_uid FROM mail_sync_folder
                WHERE account_id = %s AND name = %s""",
            [account_id, folder],
        )
        row = env.cr.fetchone()
        if not row or not status.get("uidnext"):
            return True
        uidvalidity, last_uid = row
        if status.get("uidvalidity") and status["uidvalidity"] != uidvalidity:
            return True
        return status["uidnext"] > (last_uid or 0) + 1

    def _turn(self, env, account_id):
        account = env["mail.sync.account"].browse(account_id)
        if not account.exists():
            return claims.NOT_DUE
        # record_failure=False: a failed turn leaves the mailbox's state to
        # the scheduled run (the listener never holds a mailbox in Error).
        outcome = env["mail.sync.scheduler"]._claim_turn(
            account, due_before=fields.Datetime.now(), record_failure=False
        )
        if outcome not in (claims.BUSY, claims.NOT_DUE):
            env.cr.commit()  # pylint: disable=invalid-commit  # the turn's own
            # failed: the scheduled run takes the mailbox at its next run
            mark = (
                env["mail.sync.listener"]._left_to_the_run
                if isinstance(outcome, errors.MailSyncError)
                else env["mail.sync.listener"]._synced
            )
            try:
                mark(self.name, account_id)
                env.cr.commit()  # pylint: disable=invalid-commit
            except psycopg2.errors.SerializationFailure:
                env.cr.rollback()  # its heartbeat renewed the lease meanwhile
                mark(self.name, account_id)
        return outcome

    # -- the loop ---------------------------------------------------------
    async def run(self):
        _logger.info("mail_sync_crm: listener %s started", self.name)
        try:
            while not self.stopping.is_set():
                try:
                    held = await self._odoo(self._beat, pool=self.beat_pool)
                    self._follow(held)
                except Exception:  # the database may be back soon
                    _logger.warning(
                        "mail_sync_crm: listener %s heartbeat failed",
                        self.name,
                        exc_info=True,
                    )
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), self.options.heartbeat)
        finally:
            for account_id in list(self.watches):
                self._unwatch(account_id)
            with contextlib.suppress(Exception):
                await self._odoo(
                    lambda env: env["mail.sync.listener"]._leave(self.name),
                    pool=self.beat_pool,
                )
            for pool in (self.pool, self.light_pool, self.beat_pool):
                pool.shutdown(wait=True, cancel_futures=True)
            _logger.info("mail_sync_crm: listener %s stopped", self.name)

    def _follow(self, held):
        for account_id in list(self.paused):
            if (
                account_id not in held
                or held[account_id][0] != self.paused[account_id][0]
            ):
                del self.paused[account_id]  # released, or changed: watched afresh
        for account_id in list(self.watches):
            fingerprint = self.watches[account_id][0]
            if account_id not in held or held[account_id][0] != fingerprint:
                _logger.info(
                    "mail_sync_crm: listener %s stops watching mailbox %s (%s)",
                    self.name,
                    account_id,
                    "changed" if account_id in held else "released",
                )
                self._unwatch(account_id)
        now = time.monotonic()
        for account_id, (fingerprint, folders) in held.items():
            if account_id in self.paused and now < self.paused[account_id][1]:
                continue
            if account_id not in self.watches:
                self._watch(account_id, fingerprint, folders)

    def _watch(self, account_id, fingerprint, folders):
        async def settings_of():
            try:
                settings = await self._odoo(
                    self._settings, account_id, pool=self.light_pool
                )
            except errors.MailSyncError as err:
                if err.code == "oauth_invalid_grant":
                    # not from inside the watch: _pause cancels it
                    asyncio.get_running_loop().call_soon(self._pause, account_id, err)
                raise
            if settings.access_token and account_id not in self.keepers:
                self.keepers[account_id] = asyncio.ensure_future(
                    self._keep_token(account_id)
                )
            return settings

        async def on_refused(settings):
            if not settings or not settings.access_token:
                return  # a refused password: the watch backs off
            try:
                await self._odoo(
                    self._replace_token,
                    account_id,
                    settings.access_token,
                    pool=self.light_pool,
                )
            except errors.MailSyncError as err:
                if err.code != "oauth_invalid_grant":
                    raise
                asyncio.get_running_loop().call_soon(self._pause, account_id, err)

        tasks = [
            asyncio.ensure_future(
                idle.watch_folder(
                    settings_of,
                    folder,
                    lambda folder, status=None: self._news(account_id, folder, status),
                    self.config,
                    label=f"mailbox {account_id}",
                    on_state=functools.partial(self._state, account_id, folder),
                    gate=self.gate,
                    on_refused=on_refused,
                )
            )
            for folder in folders
        ]
        self.watches[account_id] = (fingerprint, tasks)

    def _state(self, account_id, folder, state):
        _logger.info(
            "mail_sync_crm: listener %s: mailbox %s %s: %s",
            self.name,
            account_id,
            folder,
            state,
        )

    def _unwatch(self, account_id):
        _fingerprint, tasks = self.watches.pop(account_id)
        keeper = self.keepers.pop(account_id, None)
        for task in [*tasks, keeper] if keeper else tasks:
            task.cancel()

    async def _keep_token(self, account_id):
        """While ``account_id`` is watched: its OAuth access token refreshed
        when it comes within ``lib.oauth``'s margin of its expiry. A revoked
        grant pauses the mailbox (as a failed turn does); any other failure
        is tried again a minute later."""
        margin = oauth.REFRESH_MARGIN.total_seconds()
        while account_id in self.watches:
            try:
                expires = await self._odoo(
                    self._token_expiry, account_id, pool=self.light_pool
                )
            except errors.MailSyncError as err:
                if err.code == "oauth_invalid_grant":
                    self._pause(account_id, err)
                    return
                delay = TOKEN_RETRY_SECONDS
                _logger.warning(
                    "mail_sync_crm: listener %s: refreshing the token of mailbox "
                    "%s failed (%s); again in %ss",
                    self.name,
                    account_id,
                    err.code,
                    delay,
                )
            except Exception:  # the database may be back soon
                delay = TOKEN_RETRY_SECONDS
                _logger.warning(
                    "mail_sync_crm: listener %s: refreshing the token of mailbox "
                    "%s failed; again in %ss",
                    self.name,
                    account_id,
                    delay,
                    exc_info=True,
                )
            else:
                if expires is None:
                    return  # signs in with a password now
                left = (expires - fields.Datetime.now()).total_seconds()
                if left > margin:
                    # just inside the margin, when _access_token refreshes it
                    delay = left - margin + 1
                else:
                    # refreshed just now and due again already: a provider
                    # giving tokens shorter than the margin; not in a loop
                    delay = TOKEN_MIN_SECONDS
            await asyncio.sleep(delay)

    def _news(self, account_id, folder, status):
        """Called by a watch: a turn for ``account_id`` (in a task of its own:
        the watch goes back to IDLE meanwhile)."""
        if account_id in self.turns:
            self.turns[account_id] = "again"  # one more turn after this one
            return
        self.turns[account_id] = "running"
        asyncio.ensure_future(self._turns(account_id, folder, status))

    async def _turns(self, account_id, folder, status):
        try:
            if status is not None and not await self._odoo(
                self._checkpoint_behind,
                account_id,
                folder,
                status,
                pool=self.light_pool,
            ):
                return  # (re)connected, and nothing arrived meanwhile
            retries = iter(BUSY_RETRY_SECONDS)
            while account_id in self.watches:
                self.turns[account_id] = "running"
                started = time.monotonic()
                try:
                    outcome = await self._odoo(self._turn, account_id)
                except Exception:  # the next news tries again
                    _logger.warning(
                        "mail_sync_crm: listener turn of mailbox %s failed",
                        account_id,
                        exc_info=True,
                    )
                    outcome = None
                self.turn_count += 1
                _logger.info(
                    "mail_sync_crm: listener %s: turn of mailbox %s (%s) in %.2fs",
                    self.name,
                    account_id,
                    _outcome_name(outcome),
                    time.monotonic() - started,
                )
                if isinstance(outcome, errors.MailSyncError):
                    self._pause(account_id, outcome)
                    return
                self.paused.pop(account_id, None)  # its turns work again
                if outcome == claims.BUSY:
                    delay = next(retries, None)
                    if delay is None:
                        return  # the process holding it, or the next run, has it
                    await asyncio.sleep(delay)
                    continue
                if self.turns.get(account_id) != "again":
                    return
        finally:
            self.turns.pop(account_id, None)

    def _pause(self, account_id, err):
        """The turn of ``account_id`` failed with ``err``, or its OAuth grant
        was revoked: no watch of it for a while (see the module's docstring);
        its state is the scheduled run's."""
        if account_id not in self.watches:
            return
        fingerprint = self.watches[account_id][0]
        backoff = self.paused.get(account_id, (None, 0, None))[2] or idle.Backoff(
            self.options.failed_turn_pause, FAILED_TURN_PAUSE_CAP
        )
        delay = backoff.next_delay()
        self.paused[account_id] = (fingerprint, time.monotonic() + delay, backoff)
        _logger.warning(
            "mail_sync_crm: listener %s stops watching mailbox %s for %.0fs: %s "
            "(%s); its state is left to the scheduled run",
            self.name,
            account_id,
            delay,
            "its grant was revoked"
            if err.code == "oauth_invalid_grant"
            else "its turn failed",
            err.code,
        )
        self._unwatch(account_id)
        if err.code == "oauth_invalid_grant":  # a failed turn did it already
            chore = asyncio.ensure_future(
                self._odoo(
                    lambda env: env["mail.sync.listener"]._left_to_the_run(
                        self.name, account_id
                    ),
                    pool=self.beat_pool,
                )
            )
            self.chores.add(chore)  # kept until done (asyncio keeps weak ones)
            chore.add_done_callback(self._chore_done)

    def _chore_done(self, chore):
        self.chores.discard(chore)
        if not chore.cancelled() and chore.exception() is not None:
            _logger.warning(
                "mail_sync_crm: listener %s: %s",
                self.name,
                chore.exception(),
            )


def _outcome_name(outcome):
    if outcome is None:
        return "done"
    if isinstance(outcome, errors.MailSyncError):
        return f"error {outcome.code}"
    return str(outcome)


class MailSyncListener(Command):
    """Hear new mail at once (IMAP IDLE) and sync it (mail_sync_crm)"""

    name = "mail_sync_listener"

    def run(self, cmdargs):
        parser = argparse.ArgumentParser(
            prog="odoo-bin mail_sync_listener",
            description="The mail_sync_crm listener; Odoo's options (-c, -d, ...) "
            "follow its own.",
            allow_abbrev=False,
        )
        parser.add_argument(
            "--listener-name",
            default=f"{socket.gethostname()}:{os.getpid()}",
            help="unique among the listeners (default: host:pid)",
        )
        parser.add_argument("--heartbeat", type=float, default=HEARTBEAT_SECONDS)
        parser.add_argument("--ttl", type=float, default=LEASE_SECONDS)
        parser.add_argument(
            "--reidle", type=float, default=idle.WatchConfig.reidle_seconds
        )
        parser.add_argument("--poll", type=float, default=idle.WatchConfig.poll_seconds)
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument(
            "--failed-turn-pause",
            type=float,
            default=FAILED_TURN_PAUSE_SECONDS,
            help="seconds a mailbox whose turn failed is not watched (doubled at "
            "each failure in a row, up to an hour; its settings changing end it)",
        )
        parser.add_argument(
            "--connecting",
            type=int,
            default=20,
            help="watches connecting at once (the others wait their turn)",
        )
        options, rest = parser.parse_known_args(cmdargs)
        odoo.tools.config.parse_config(rest)
        dbname = odoo.tools.config["db_name"]
        if not dbname or "," in dbname:
            parser.error("one database: -d DB")
        # Every asyncio TLS connection of this process is a watch: a read
        # buffer of 16 KiB each instead of 256 KiB (lib/imap/idle.py).
        idle.small_tls_buffers()
        registry = odoo.modules.registry.Registry(dbname)
        listener = Listener(registry, options.listener_name, options)
        loop = asyncio.new_event_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, listener.stopping.set)
        try:
            loop.run_until_complete(listener.run())
        finally:
            loop.close()
