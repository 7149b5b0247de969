# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Real Odoo processes for the tests that need several of them: each runs
``odoo-bin shell`` with a script on stdin, against a throwaway copy of the test
database (committed data, configuration files and data directories of their
own), and reports with ``result(...)`` lines."""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import uuid

import odoo
from odoo.tests import BaseCase, get_db_name

from mail_sync_testing import DovecotServer, SmtpServer

from .common import PASSWORD, started
from .odoo_processes import (
    ThrowawayDatabase,
    readonly_mounts_work,
    readonly_prefix,
    write_config,
)

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
# No mail is delivered to the test mailboxes: Connect's address confirmation
# looks once, without waiting for it (lib/sending/address_proof.py).
env["ir.config_parameter"].sudo().set_param("mail_sync_crm.address_proof_seconds", "0")

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

def kind_of(exc):
    # Connect's UserError, titled after the failing side, is a UserError
    name = type(exc).__name__
    return "UserError" if name == "MailSyncConnectError" else name

def error_of(call):
    try:
        call()
    except Exception as exc:
        env.cr.rollback()
        return kind_of(exc), str(exc)
    return None, None

def wait_for(path):
    deadline = time.monotonic() + 120
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(path)
        time.sleep(0.05)
"""


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
            command = readonly_prefix(readonly) + command
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


class OdooProcessCase(BaseCase):
    """A throwaway copy of the test database and real IMAP and SMTP servers
    for the class (users ``LOGINS``); per test, a directory with a
    configuration file (``conf``, kept byte for byte) and a data directory."""

    LOGINS = ()

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.db = ThrowawayDatabase(get_db_name()).build()
        cls.addClassCleanup(cls.db.drop)
        cls.imap = started(DovecotServer(), cls.addClassCleanup)
        cls.smtp = started(SmtpServer(), cls.addClassCleanup)
        for login in cls.LOGINS:
            cls.imap.add_user(login, PASSWORD)
            cls.smtp.add_user(login, PASSWORD)
        cls.readonly_mounts = readonly_mounts_work()

    def setUp(self):
        super().setUp()
        # Each test's Connect presses count afresh (Connect's rate limit per
        # user: the class's tests share the database and its users).
        self.db.sql("DELETE FROM mail_sync_connect_attempt")
        self.workdir = tempfile.mkdtemp(prefix="mail-sync-odoo-")
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.conf = os.path.join(self.workdir, "etc", "odoo.conf")
        self.data_dir = os.path.join(self.workdir, "data")
        write_config(self.conf, self.db.name, self.data_dir)
        with open(self.conf, "rb") as handle:
            self.conf_bytes = handle.read()

    def start(self, script, conf=None, env=None, **args):
        """An Odoo process on the throwaway database, its configuration
        directory mounted read-only when this machine allows it."""
        args = {
            "host": self.imap.host,
            "imap_port": self.imap.ssl_port,
            "smtp_port": self.smtp.ssl_port,
            "password": PASSWORD,
            "workdir": self.workdir,
            **args,
        }
        conf = conf or self.conf
        return OdooProcess(
            self.workdir,
            conf,
            self.db.name,
            script,
            args,
            env=env,
            readonly=os.path.dirname(conf) if self.readonly_mounts else None,
        )

    def run_odoo(self, script, **kwargs):
        return self.start(script, **kwargs).finish()

    def assert_config_untouched(self):
        with open(self.conf, "rb") as handle:
            self.assertEqual(handle.read(), self.conf_bytes, "the config file changed")
