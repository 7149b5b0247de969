# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""What the tests with several real Odoo processes run on: a throwaway copy of
the test database, configuration files of their own, and read-only mounts
(the processes themselves: ``odoo_process_case.py``)."""

import os
import subprocess
import tempfile
import uuid

from odoo.tools import config

from mail_sync_testing import LOOPBACK

from ..lib.net.host_policy import ALLOWED_HOSTS_PARAM


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
    so tests may hold transactions on it meanwhile), dropped by :meth:`drop`;
    its mailboxes may reach the loopback test servers."""

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
            # The tests' mail servers listen on loopback, which only an
            # administrator may allow mailboxes to reach (lib/net/host_policy.py).
            self.sql(
                "INSERT INTO ir_config_parameter (key, value) VALUES (:'p1', :'p2')"
                " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                ALLOWED_HOSTS_PARAM,
                LOOPBACK,
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
            [*readonly_prefix(directory), "sh", "-c", f"! touch {probe}"],
            capture_output=True,
            check=False,
        )
        return done.returncode == 0 and not os.path.exists(probe)


def readonly_prefix(directory):
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
