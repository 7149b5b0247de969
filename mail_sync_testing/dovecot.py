"""A throwaway Dovecot IMAP server for tests and benchmarks (no Odoo import).

Usage::

    with DovecotServer() as server:
        server.add_user("alice", "secret")
        server.append("alice", "INBOX", raw_bytes)
        client = server.connect("alice")

Each instance lives in its own directory under /dev/shm (mode 755, removed on
stop), has its own self-signed certificate and two loopback listeners: ``port``
(plain IMAP, STARTTLS available) and ``ssl_port`` (implicit TLS).
"""

import contextlib
import datetime
import grp
import itertools
import os
import pwd
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from urllib.parse import quote

from ._common import LOOPBACK, LOOPBACK_POLICY, free_port, process_group, tail
from ._lib import lib_module
from ._server import TestServer

__all__ = ["DovecotError", "DovecotServer"]

REAPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_reaper.py")
PORT_TAKEN_RC = 89  # dovecot's exit code when a listener cannot bind
MAIL_USER = "nobody"
MAIL_GROUP = "nogroup"

CONFIG_TEMPLATE = """\
base_dir = {d}/run
state_dir = {d}/state
instance_name = dovecot-{token}
login_greeting = {greeting}
log_path = {d}/dovecot.log
protocols = imap
listen = {host}
ssl = yes
ssl_cert = <{d}/cert.pem
ssl_key = <{d}/key.pem
disable_plaintext_auth = no
auth_mechanisms = {auth_mechanisms}
auth_failure_delay = 0
mail_max_userip_connections = 100
mail_fsync = never
passdb {{
  driver = passwd-file
{password_mechanisms}  args = scheme=PLAIN {d}/passwd.d/%u
}}
{oauth_passdb}userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/home/%u{userdb_extra}
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  mailbox Sent {{
    auto = subscribe
    special_use = \\Sent
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = {ssl_port}
    ssl = yes
  }}
}}
"""


# With ``DovecotServer(oauth=...)``: XOAUTH2 and OAUTHBEARER logins whose bearer
# token Dovecot itself introspects (RFC 7662) at the authorization server; the
# token's ``username`` must be the login. Password users keep PLAIN and LOGIN.
OAUTH_MECHANISMS = "plain login xoauth2 oauthbearer"
OAUTH_PASSDB = """\
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {d}/oauth2.conf.ext
}}
"""
OAUTH_CONF = """\
introspection_mode = post
introspection_url = {url}
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 5000
"""


class DovecotError(RuntimeError):
    pass


class _PortTaken(Exception):
    pass


def _process_group_members(pgid):
    """(pid, comm) of every live process whose process group is `pgid`."""
    return [(pid, comm) for pid, comm, state in process_group(pgid) if state != "Z"]


class DovecotServer(TestServer):
    workdir_prefix = "dovecot-"
    already_started_error = DovecotError
    host = LOOPBACK
    folder_separator = "."  # Maildir++ layout

    def __init__(self, start_timeout=10.0, oauth=None, capability=None, extra=""):
        """``oauth``: an authorization server (``OAuthServer``) whose
        introspection endpoint validates the XOAUTH2/OAUTHBEARER tokens;
        ``capability``: the CAPABILITY a logged-in client is told (Dovecot's
        ``imap_capability``), e.g. one without IDLE; ``extra``: configuration
        appended as is (e.g. process limits for thousands of connections)."""
        super().__init__()
        self.start_timeout = start_timeout
        self.oauth = oauth
        self.capability = capability
        self.extra = extra
        self.port = None
        self.ssl_port = None
        self.conf_path = None
        self.log_path = None
        self.passwd_dir = None
        self.greeting_token = None
        self.users = {}
        self._proc = None
        self._file_counter = itertools.count()
        self._uid = pwd.getpwnam(MAIL_USER).pw_uid
        self._gid = grp.getgrnam(MAIL_GROUP).gr_gid

    # -- life cycle ---------------------------------------------------------

    @property
    def process_group(self):
        """Process group of the server (its supervisor and every Dovecot process)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self):
        return self._proc is not None and self._proc.poll() is None

    @property
    def started(self):
        return self._proc is not None

    def _start(self):
        self._prepare_dir()
        for _attempt in range(8):
            try:
                self._launch()
                return
            except _PortTaken:
                continue
        raise DovecotError("could not find free ports for dovecot")

    def _prepare_dir(self):
        d = self.dir
        for sub in ("run", "state", "home"):
            os.mkdir(os.path.join(d, sub), 0o755)
        self.conf_path = os.path.join(d, "dovecot.conf")
        self.log_path = os.path.join(d, "dovecot.log")
        self.passwd_dir = os.path.join(d, "passwd.d")
        os.mkdir(self.passwd_dir, 0o755)
        users, self.users = self.users, {}
        for login, password in users.items():  # start() again after stop()
            self.add_user(login, password)
        if self.oauth is not None:
            client_id, secret = (
                quote(part, safe="") for part in self.oauth.resource_client
            )
            url = self.oauth.introspection_url.replace(
                "://", f"://{client_id}:{secret}@", 1
            )
            path = os.path.join(d, "oauth2.conf.ext")
            with open(path, "w") as fh:
                fh.write(OAUTH_CONF.format(url=url))
            os.chmod(path, 0o644)

    def _launch(self):
        self.greeting_token = uuid.uuid4().hex[:16]
        self.port = free_port()
        self.ssl_port = free_port()
        while self.ssl_port == self.port:
            self.ssl_port = free_port()
        config = CONFIG_TEMPLATE.format(
            d=self.dir,
            token=self.greeting_token,
            greeting=self.greeting,
            host=self.host,
            uid=MAIL_USER,
            gid=MAIL_GROUP,
            port=self.port,
            ssl_port=self.ssl_port,
            auth_mechanisms=OAUTH_MECHANISMS if self.oauth else "plain login",
            oauth_passdb=OAUTH_PASSDB.format(d=self.dir) if self.oauth else "",
            password_mechanisms="  mechanisms = plain login\n" if self.oauth else "",
            # With per-mechanism passdbs, a user lookup (doveadm) finds no
            # passdb to ask: the static userdb answers for any user instead.
            userdb_extra=" allow_all_users=yes" if self.oauth else "",
        )
        if self.capability:
            config += f"imap_capability = {self.capability}\n"
        config += self.extra
        with open(self.conf_path, "w") as fh:
            fh.write(config)
        os.chmod(self.conf_path, 0o644)
        out_path = os.path.join(self.dir, "stdout.log")
        # The supervisor removes our directory if this process dies unclean.
        supervisor = [sys.executable, "-I", "-S", REAPER, "--rmdir", self.dir]
        with open(out_path, "ab") as out:
            self._proc = subprocess.Popen(
                [*supervisor, "dovecot", "-F", "-c", self.conf_path],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        try:
            self._wait_ready()
        except _PortTaken:
            self._terminate()
            raise

    @property
    def greeting(self):
        return f"test-{self.greeting_token} ready"

    def _wait_ready(self):
        deadline = time.monotonic() + self.start_timeout
        last_error = None
        while time.monotonic() < deadline:
            rc = self._proc.poll()
            if rc is not None:
                if rc == PORT_TAKEN_RC or "Address already in use" in self._logs():
                    raise _PortTaken()
                raise DovecotError(
                    f"dovecot exited with rc {rc} during start-up:\n{self._logs()}"
                )
            try:
                with socket.create_connection((self.host, self.port), 1.0) as sock:
                    sock.settimeout(1.0)
                    line = b""
                    while not line.endswith(b"\n") and len(line) < 4096:
                        chunk = sock.recv(4096)
                        if not chunk:
                            break
                        line += chunk
                if self.greeting_token.encode() in line:
                    return
                if line:
                    # Somebody else answers on our port: it was taken.
                    raise _PortTaken()
            except OSError as exc:
                last_error = exc
            time.sleep(0.01)
        self._terminate()
        raise DovecotError(
            "dovecot did not answer with its greeting within "
            f"{self.start_timeout} s (last error: {last_error!r}):\n{self._logs()}"
        )

    def _logs(self):
        return tail(os.path.join(self.dir, "stdout.log")) + tail(self.log_path or "")

    def log_tail(self, limit=4000):
        """The end of dovecot's log (useful in assertion messages)."""
        return tail(self.log_path, limit)

    def _terminate(self):
        proc, self._proc = self._proc, None
        if proc is None:
            return
        # The supervisor (_reaper.py) SIGKILLs the whole group and reaps every
        # process, so nothing is left behind, not even zombies.
        if proc.poll() is not None:
            return  # the supervisor already cleaned up and exited
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:  # pylint: disable=except-pass
            pass  # not gone in time: kill the whole group below
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def _stop(self):
        self._terminate()  # the whole process group

    # -- users --------------------------------------------------------------

    def _passwd_file(self, login):
        return os.path.join(self.passwd_dir, login)

    def client_settings(self, login, **overrides):
        """The ``lib.net.settings.ServerSettings`` a client of ``login`` uses: the plain
        port, no encryption, the user's password, loopback allowed;
        ``overrides`` change any field (e.g. ``port=self.ssl_port,
        encryption="ssl"``)."""
        values = {
            "host": self.host,
            "port": self.port,
            "encryption": "none",
            "login": login,
            "password": self.users[login],
            "host_policy": LOOPBACK_POLICY,
        }
        values.update(overrides)
        return lib_module("net.settings").ServerSettings(**values)

    def add_user(self, login, password):
        """Add a user, or change its password; works while the server runs.

        Each user has its own passwd-file (``passwd.d/<login>``): Dovecot stats a
        passwd-file at most once per second, so a shared file would hide users
        added within a second of the previous login. A new file is read at once;
        a password *change* waits for the next second to be seen.
        """
        for value in (login, password):
            if not value or any(c in value for c in ":\n\r\0"):
                raise ValueError(f"unsupported character in {value!r}")
        if "/" in login or login.startswith(".") or "%" in login:
            raise ValueError(f"unsupported login {login!r}")
        changed = login in self.users and self.users[login] != password
        self.users[login] = password
        if self.passwd_dir is None or not os.path.isdir(self.passwd_dir):
            return  # not started yet: start() writes the file
        home = self.home_path(login)
        if not os.path.isdir(home):
            os.makedirs(home, 0o700)
            os.chown(home, self._uid, self._gid)
        path = self._passwd_file(login)
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(f"{login}:{{PLAIN}}{password}\n")
        os.chmod(tmp, 0o644)
        if changed:
            # Make (mtime, size) differ from the cached copy, then let the
            # once-per-second sync gate pass.
            old_mtime = int(os.stat(path).st_mtime)
            stamp = max(int(time.time()), old_mtime) + 1
            os.utime(tmp, (stamp, stamp))
        os.replace(tmp, path)
        if changed and self.running:
            time.sleep(1.05 - (time.time() % 1.0))

    def home_path(self, user):
        return os.path.join(self.dir, "home", user)

    # -- IMAP access ----------------------------------------------------------

    def connect(
        self, user=None, password=None, *, ssl=False, starttls=False, timeout=10
    ):
        """An imapclient.IMAPClient, logged in when `user` is given.

        ssl=True uses the implicit-TLS port, starttls=True upgrades the plain
        port; both trust this server's certificate only.
        """
        from imapclient import IMAPClient

        if ssl:
            client = IMAPClient(
                self.host,
                port=self.ssl_port,
                ssl=True,
                ssl_context=self.ssl_context(),
                timeout=timeout,
            )
        else:
            client = IMAPClient(self.host, port=self.port, ssl=False, timeout=timeout)
            if starttls:
                client.starttls(self.ssl_context())
        if user is not None:
            client.login(user, self.users[user] if password is None else password)
        return client

    def ssl_context(self):
        """An SSL client context trusting this server's certificate."""
        return self._cert.client_context()

    def append(self, user, folder, raw_bytes, flags=(), date=None):
        """APPEND one message over IMAP; returns its UID (from APPENDUID)."""
        if isinstance(date, (int, float)):
            date = datetime.datetime.fromtimestamp(date, datetime.timezone.utc)
        client = self.connect(user)
        try:
            if folder.upper() != "INBOX" and not client.folder_exists(folder):
                client.create_folder(folder)
            response = client.append(folder, raw_bytes, flags=flags, msg_time=date)
        finally:
            client.logout()
        if isinstance(response, bytes):
            response = response.decode("ascii", errors="replace")
        match = re.search(r"APPENDUID \d+ (\d+)", response or "")
        return int(match.group(1)) if match else None

    # -- direct Maildir access ----------------------------------------------

    def maildir_path(self, user, folder="INBOX"):
        """The Maildir++ directory of `folder` (folder names use '.' as separator)."""
        base = os.path.join(self.home_path(user), "Maildir")
        if folder.upper() == "INBOX":
            return base
        from imapclient import imap_utf7

        encoded = imap_utf7.encode(folder).decode("ascii")
        if "/" in encoded or encoded.startswith("."):
            raise ValueError(f"unsupported folder name {folder!r}")
        return os.path.join(base, "." + encoded)

    def _ensure_maildir(self, user, folder):
        if user not in self.users:
            raise KeyError(f"unknown user {user!r}; call add_user() first")
        home = self.home_path(user)
        base = os.path.join(home, "Maildir")
        path = self.maildir_path(user, folder)
        for directory in (base, path):
            created = False
            for sub in ("", "cur", "new", "tmp"):
                target = os.path.join(directory, sub)
                if not os.path.isdir(target):
                    os.mkdir(target, 0o700)
                    os.chown(target, self._uid, self._gid)
                    created = True
            if directory != base and created:
                marker = os.path.join(directory, "maildirfolder")
                open(marker, "wb").close()
                os.chown(marker, self._uid, self._gid)
        return path

    def fill_maildir(self, user, folder, messages, flags="S"):
        """Write messages straight into the folder's Maildir ``cur/`` directory.

        `messages` yields raw bytes, or (raw bytes, date) pairs where date is a
        datetime or a POSIX timestamp used as the file mtime (Dovecot's received
        date / INTERNALDATE). `flags` are Maildir flag letters ("S" = \\Seen).
        The folder is created (e.g. "Sent" -> ".Sent") when missing. Returns the
        number of messages written. Much faster than APPEND for bulk fills.
        """
        path = self._ensure_maildir(user, folder)
        cur = os.path.join(path, "cur")
        info = ":2," + "".join(sorted(set(flags)))
        host = socket.gethostname().replace("/", "\\057").replace(":", "\\072")
        pid = os.getpid()
        ts = int(time.time())
        uid, gid = self._uid, self._gid
        count = 0
        for item in messages:
            date = None
            if isinstance(item, tuple):
                item, date = item
            raw = bytes(item)
            size = len(raw)
            crlf_size = size + raw.count(b"\n") - raw.count(b"\r\n")
            name = (
                f"{ts}.M{next(self._file_counter)}P{pid}.{host}"
                f",S={size},W={crlf_size}{info}"
            )
            target = os.path.join(cur, name)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                view = memoryview(raw)
                while view:
                    view = view[os.write(fd, view) :]
                os.fchown(fd, uid, gid)
            finally:
                os.close(fd)
            if date is not None:
                if isinstance(date, datetime.datetime):
                    date = date.timestamp()
                os.utime(target, (date, date))
            count += 1
        # A fresh directory mtime makes Dovecot rescan even within one second.
        now = time.time()
        os.utime(cur, (now, now))
        return count

    # -- administration -------------------------------------------------------

    def doveadm(self, *args, check=True):
        """Run ``doveadm -c CONF ARGS``; returns the CompletedProcess."""
        result = subprocess.run(
            ["doveadm", "-c", self.conf_path, *args],
            capture_output=True,
            text=True,
            check=False,
        )
        if check and result.returncode:
            raise DovecotError(
                f"doveadm {' '.join(args)} failed (rc {result.returncode}): "
                f"{result.stderr.strip() or result.stdout.strip()}"
            )
        return result

    def set_uidvalidity(self, user, folder, n):
        """Change UIDVALIDITY of an existing folder (clients must resync)."""
        self.doveadm("mailbox", "update", "-u", user, "--uid-validity", str(n), folder)

    def imap_children(self):
        """PIDs of the running ``imap`` processes (one per logged-in session)."""
        if self._proc is None:
            return []
        members = _process_group_members(self.process_group)
        return [pid for pid, comm in members if comm == "imap"]

    def kill_imap_children(self, sig=signal.SIGKILL):
        """Send `sig` (default SIGKILL) to every ``imap`` process; returns PIDs.

        SIGKILL simulates a connection killed mid-FETCH; SIGSTOP a hung server
        (the client then hits its own timeout; stop() still cleans up).
        """
        pids = self.imap_children()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        return pids
