# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Real Odoo processes for the tests that need several of them: each runs
``odoo-bin shell`` with a script on stdin, against a throwaway copy of the test
database (committed data, configuration files and data directories of their
own), and reports with ``result(...)`` lines."""

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import uuid

import odoo
from odoo.tools import config

ODOO_BIN = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(odoo.__file__))), "odoo-bin"
)
RESULT_PREFIX = "RESULT "
PROCESS_DEADLINE = 180  # seconds: a hung process fails the test, nothing else

# Run in each process before its script: ``env`` is the shell's superuser
# environment; ARGS what the test passed (servers, logins, paths).
PRELUDE = """
import json, os, time
from odoo.exceptions import AccessError, UserError
ARGS = json.loads(os.environ["MAIL_SYNC_TEST_ARGS"])

def result(**values):
    print("RESULT " + json.dumps(values, default=str), flush=True)

def owner(login):
    user = env["res.users"].search([("login", "=", login)])
    if not user:
        groups = env.ref("base.group_user") | env.ref("sales_team.group_sale_salesman")
        user = env["res.users"].create({
            "name": login, "login": login, "email": login + "@example.com",
            "groups_id": [(6, 0, groups.ids)],
        })
    return user

def mailbox(login, **values):
    user = owner(login)
    Account = env["mail.sync.account"].with_user(user)
    found = Account.search([("user_id", "=", user.id)])
    if found:
        return found
    return Account.create({
        "provider": "custom", "email": user.email,
        "imap_host": ARGS["host"], "imap_port": ARGS["imap_port"],
        "imap_encryption": "ssl", "imap_allow_self_signed": True,
        "imap_login": login, "imap_password": ARGS["password"],
        "smtp_host": ARGS["host"], "smtp_port": ARGS["smtp_port"],
        "smtp_encryption": "ssl", "smtp_allow_self_signed": True,
        **values,
    })

def error_of(call):
    try:
        call()
    except Exception as exc:
        env.cr.rollback()
        return type(exc).__name__, str(exc)
    return None, None

def wait_for(path):
    deadline = time.monotonic() + 120
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(path)
        time.sleep(0.05)
"""


def _pg_env():
    env = dict(os.environ)
    for option, variable in (
        ("db_host", "PGHOST"),
        ("db_port", "PGPORT"),
        ("db_user", "PGUSER"),
        ("db_password", "PGPASSWORD"),
    ):
        if config.get(option):
            env[variable] = str(config[option])
    return env


class ThrowawayDatabase:
    """A copy of the committed state of ``source`` (pg_dump reads a snapshot,
    so tests may hold transactions on it meanwhile), dropped by :meth:`drop`."""

    def __init__(self, source):
        self.source = source
        self.name = f"{source}_tmp_{uuid.uuid4().hex[:8]}"

    def build(self):
        env = _pg_env()
        subprocess.run(["createdb", self.name], check=True, env=env)
        try:
            with tempfile.TemporaryFile() as dump:
                subprocess.run(
                    ["pg_dump", "--format=custom", self.source],
                    stdout=dump,
                    check=True,
                    env=env,
                )
                dump.seek(0)
                # One transaction, not synced to disk at commit: a throwaway copy.
                subprocess.run(
                    ["pg_restore", "--no-owner", "--single-transaction"]
                    + ["--dbname", self.name],
                    stdin=dump,
                    check=True,
                    env={**env, "PGOPTIONS": "-c synchronous_commit=off"},
                )
        except BaseException:
            self.drop()
            raise
        return self

    def sql(self, query, *params):
        """Run ``query`` (psql variables :'p1', :'p2'... hold ``params``);
        returns its rows as lists of text."""
        command = ["psql", "-XqAt", "-v", "ON_ERROR_STOP=1", "-F", "\t"]
        for number, value in enumerate(params, start=1):
            command += ["-v", f"p{number}={value}"]
        done = subprocess.run(
            [*command, "-d", self.name],
            input=query,
            capture_output=True,
            text=True,
            check=True,
            env=_pg_env(),
        )
        return [line.split("\t") for line in done.stdout.splitlines()]

    def drop(self):
        subprocess.run(
            ["dropdb", "--if-exists", "--force", self.name],
            check=True,
            env=_pg_env(),
        )


def readonly_mounts_work():
    """Whether a process can be given a read-only view of a directory (a
    read-only bind mount in a mount namespace of its own: root with
    CAP_SYS_ADMIN). Elsewhere the tests compare the file's bytes only."""
    with tempfile.TemporaryDirectory() as directory:
        probe = os.path.join(directory, "probe")
        done = subprocess.run(
            [*_readonly_prefix(directory), "sh", "-c", f"! touch {probe}"],
            capture_output=True,
            check=False,
        )
        return done.returncode == 0 and not os.path.exists(probe)


def _readonly_prefix(directory):
    return [
        "unshare",
        "--mount",
        "--",
        "sh",
        "-c",
        'mount --bind -o ro "$0" "$0" && exec "$@"',
        directory,
    ]


def write_config(path, dbname, data_dir):
    """An Odoo configuration file with a second section (which Odoo's own
    ``config.save`` cannot rewrite), read by the processes, never written."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    lines = [
        "[options]",
        f"addons_path = {config['addons_path']}",
        f"data_dir = {data_dir}",
        f"db_name = {dbname}",
        "list_db = False",
        "log_level = warn",
    ]
    lines += [
        f"{option} = {config[option]}"
        for option in ("db_host", "db_port", "db_user", "db_password")
        if config.get(option)
    ]
    lines += ["", "[queue_job]", "channels = root:1", ""]
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))


class OdooProcess:
    """``odoo-bin shell`` running PRELUDE + ``script``; started at once,
    :meth:`finish` waits for it and returns ``(results, log)``."""

    def __init__(self, workdir, conf, dbname, script, args, env=None, readonly=None):
        name = uuid.uuid4().hex[:8]
        self.paths = {
            part: os.path.join(workdir, f"process-{name}.{part}")
            for part in ("py", "out", "err")
        }
        with open(self.paths["py"], "w", encoding="utf-8") as handle:
            handle.write(PRELUDE + textwrap.dedent(script))
        environ = {
            key: value
            for key, value in os.environ.items()
            if key != "MAIL_SYNC_CRM_KEY"
        }
        environ.update(env or {})
        environ["MAIL_SYNC_TEST_ARGS"] = json.dumps(args)
        command = [sys.executable, ODOO_BIN, "shell", "-c", conf, "-d", dbname]
        command.append("--no-http")
        if readonly:
            command = _readonly_prefix(readonly) + command
        with contextlib.ExitStack() as files:
            stdin = files.enter_context(open(self.paths["py"], "rb"))
            stdout = files.enter_context(open(self.paths["out"], "wb"))
            stderr = files.enter_context(open(self.paths["err"], "wb"))
            self.process = subprocess.Popen(
                command, stdin=stdin, stdout=stdout, stderr=stderr, env=environ
            )

    def finish(self):
        try:
            self.process.wait(timeout=PROCESS_DEADLINE)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        with open(self.paths["out"], encoding="utf-8", errors="replace") as handle:
            output = handle.read()
        with open(self.paths["err"], encoding="utf-8", errors="replace") as handle:
            log = handle.read()
        if self.process.returncode != 0:
            raise AssertionError(
                f"the Odoo process failed ({self.process.returncode}):\n{log[-6000:]}"
            )
        results = {}
        for line in output.splitlines():
            if line.startswith(RESULT_PREFIX):
                results.update(json.loads(line[len(RESULT_PREFIX) :]))
        return results, log
