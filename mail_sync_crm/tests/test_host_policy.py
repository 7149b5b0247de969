# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The host policy, tried as a hostile salesperson would, over real XML-RPC:
Connect refuses loopback, private, link-local and metadata hosts before any
connection; a port that talks another protocol leaves none of its words in
the Error Log or the error; a silent port fails at Connect's own deadline;
Connect is rate-limited per user; the scheduled sync, Sync Now and sending
refuse a host no longer allowed, connecting nothing.

While a test watches, an audit hook records every connection and name lookup
of this process (the HTTP server's threads included) and stops any that would
leave the machine: no test sends a packet past loopback, whatever the code
under test does."""

import time
from datetime import datetime, timedelta

from odoo.exceptions import UserError
from odoo.tests import tagged

from mail_sync_testing import SSH_BANNER, BannerPort, SilentPort
from mail_sync_testing.network_guard import watching

from ..lib.errors import MailSyncError
from ..lib.net.host_policy import ALLOWED_HOSTS_PARAM
from ..models.mail_sync_connect_attempt import CONNECT_ATTEMPTS
from ..models.mail_sync_connector import (
    CONNECT_TIMEOUT_PARAM,
    DEFAULT_CONNECT_SECONDS,
)
from .common import MailSyncHttpCase, started
from .schedule_common import ScheduledSyncCase, frozen_at

NOT_ALLOWED = "is not allowed"
TOO_MANY = "Too many connection attempts"
REFUSED_HOSTS = ("127.0.0.1", "10.0.0.1", "169.254.169.254", "metadata.google.internal")


def reached(seen, hosts=(), ports=()):
    """The connections to any of ``hosts`` or ``ports`` and the lookups of
    any of ``hosts`` in ``seen``."""
    return [
        entry
        for entry in seen
        if entry[1] in hosts or (entry[0] == "connect" and entry[2] in ports)
    ]


@tagged("post_install", "-at_install")
class TestHostPolicyOverRpc(MailSyncHttpCase):
    def setUp(self):
        super().setUp()
        self.params = self.env["ir.config_parameter"].sudo()
        self.mail_ports = {
            self.imap.port,
            self.imap.ssl_port,
            self.smtp.port,
            self.smtp.ssl_port,
        }

    def new_mailbox(self, user, **values):
        return self.rpc(
            user, "mail.sync.account", "create", self.connect_values(user, **values)
        )

    def connect(self, user, account_id):
        """Connect over XML-RPC, expected to fail: the error's text."""
        return self.refused(user, "mail.sync.account", "action_connect", [account_id])

    def connect_directly(self, user, account_id):
        """Connect expected to fail, called in the test's own transaction: the
        error's text. (Over RPC, the HTTP server runs each request in a
        savepoint of the test's transaction, and a failed request rolls back
        the Error Log entry it wrote, which a real server commits apart.)"""
        account = self.env["mail.sync.account"].with_user(user).browse(account_id)
        try:  # not Odoo's assertRaises: its savepoint would roll the entry back
            account.action_connect()
        except UserError as exc:
            return str(exc)
        self.fail("action_connect() did not fail")

    def logs(self, user, account_id):
        """The mailbox's Error Log, every field, as its owner reads it over RPC."""
        return self.rpc(
            user, "mail.sync.log", "search_read", [["account_id", "=", account_id]]
        )

    def test_connect_refuses_loopback_private_and_metadata_before_connecting(self):
        self.params.set_param(ALLOWED_HOSTS_PARAM, "")
        for host in REFUSED_HOSTS:
            with self.subTest(host=host), self.attempt(), watching() as seen:
                account_id = self.new_mailbox(
                    self.salesman, imap_host=host, smtp_host=host
                )
                for error in (
                    self.connect(self.salesman, account_id),
                    self.connect_directly(self.salesman, account_id),
                ):
                    self.assertIn(NOT_ALLOWED, error)
                    self.assertIn(ALLOWED_HOSTS_PARAM, error)  # how to fix it
                logs = self.logs(self.salesman, account_id)
                self.assertEqual(
                    [(log["code"], log["side"]) for log in logs],
                    [("host_not_allowed", "imap")],
                )
                self.assertFalse(logs[0]["detail"])
                self.assertEqual(
                    reached(seen, {host} - {"127.0.0.1"}, self.mail_ports), []
                )
                state = self.rpc(
                    self.salesman, "mail.sync.account", "read", [account_id], ["state"]
                )
                self.assertEqual(state[0]["state"], "draft")

    def test_a_port_that_talks_ssh_leaves_no_banner_anywhere(self):
        ssh = started(BannerPort(SSH_BANNER), self.addCleanup)
        for side in ("imap", "smtp"):
            with self.subTest(side=side), self.attempt():
                before = ssh.connection_count
                account_id = self.new_mailbox(
                    self.salesman,
                    **{f"{side}_port": ssh.port, f"{side}_encryption": "none"},
                )
                errors = [
                    self.connect(self.salesman, account_id),
                    self.connect_directly(self.salesman, account_id),
                ]
                self.assertEqual(ssh.connection_count, before + 2, "allowed: tried")
                logs = self.logs(self.salesman, account_id)
                self.assertEqual([log["side"] for log in logs], [side])
                for text in [*errors, str(logs)]:
                    self.assertNotIn("SSH-2.0", text)
                    self.assertNotIn("OpenSSH", text)

    def test_a_silent_port_fails_within_the_connect_deadline(self):
        Account = self.env["mail.sync.account"]
        self.assertEqual(
            Account.env["mail.sync.connector"]._connect_seconds(),
            DEFAULT_CONNECT_SECONDS,
        )
        self.assertLess(
            Account.env["mail.sync.connector"]._connect_seconds(),
            Account.env["mail.sync.turn"]._turn_seconds(),
        )
        self.params.set_param(CONNECT_TIMEOUT_PARAM, "2")
        silent = started(SilentPort(), self.addCleanup)
        for side in ("imap", "smtp"):
            with self.subTest(side=side), self.attempt():
                account_id = self.new_mailbox(
                    self.salesman, **{f"{side}_port": silent.port}
                )
                begun = time.monotonic()
                error = self.connect(self.salesman, account_id)
                self.assertLess(time.monotonic() - begun, 8)
                self.assertIn("No answer in time", error)
                self.assertIn(f"{side.upper()} server", error)

    def test_the_sixth_connect_within_a_minute_is_refused(self):
        account_id = self.new_mailbox(self.salesman)
        for _attempt in range(CONNECT_ATTEMPTS):
            self.rpc(self.salesman, "mail.sync.account", "action_connect", [account_id])
        with watching() as seen:
            error = self.connect(self.salesman, account_id)
        self.assertIn(TOO_MANY, error)
        self.assertEqual(reached(seen, (), self.mail_ports), [])
        # Failed attempts count as much (here in the test's transaction: see
        # connect_directly), and per user.
        self.params.set_param(ALLOWED_HOSTS_PARAM, "")
        other_id = self.new_mailbox(self.salesman_all)
        for _attempt in range(CONNECT_ATTEMPTS):
            error = self.connect_directly(self.salesman_all, other_id)
            self.assertIn(NOT_ALLOWED, error)
        self.assertIn(TOO_MANY, self.connect_directly(self.salesman_all, other_id))
        self.assertEqual(len(self.logs(self.salesman_all, other_id)), CONNECT_ATTEMPTS)
        # The count is out of every client's reach, administrators' included.
        for user in (self.salesman, self.admin):
            for method, args in (
                ("search_read", [[]]),
                ("unlink", [[1]]),
                ("create", [{"user_id": user.id, "date": "2000-01-01 00:00:00"}]),
            ):
                with self.subTest(user=user.login, method=method):
                    self.refused(user, "mail.sync.connect.attempt", method, *args)
        # A minute later, Connect may be pressed again.
        self.env.cr.execute(
            "UPDATE mail_sync_connect_attempt SET date = date - interval '61 seconds'"
        )
        self.assertIn(NOT_ALLOWED, self.connect(self.salesman, account_id))


@tagged("post_install", "-at_install")
class TestHostPolicyEveryConnection(ScheduledSyncCase):
    """A mailbox connected while its host was allowed, the host then no
    longer allowed: every later connection is refused before it is made."""

    def test_scheduled_sync_sync_now_and_sending_refuse_a_host_no_longer_allowed(
        self,
    ):
        with frozen_at(datetime.now()) as frozen:
            synced = self.mailbox(self.salesman)
            self.Account.env["mail.sync.scheduler"]._cron_sync()
            self.assertTrue(synced.sync_historical_done)
            fresh = self.mailbox(self.salesman_all)  # its historical sync: next run
            self.env["ir.config_parameter"].sudo().set_param(ALLOWED_HOSTS_PARAM, "")
            frozen.tick(timedelta(minutes=10))
            ports = {self.mail.port, self.mail.ssl_port, self.smtp.ssl_port}
            with watching() as seen:
                self.Account.env["mail.sync.scheduler"]._cron_sync()
                for account in synced | fresh:
                    account.invalidate_recordset()
                    self.assertEqual(account.state, "error")
                    self.assertEqual(account.log_ids[:1].code, "host_not_allowed")
                    self.assertFalse(account.log_ids[:1].detail)
                notification = synced.with_user(self.salesman).action_sync_now()
                self.assertEqual(notification["params"]["type"], "danger")
                self.assertIn(NOT_ALLOWED, notification["params"]["message"])
                # Sending: the personal server's connection, as Smart Mail
                # opens it for each batch of the owner's mail.
                server = self.env["ir.mail_server"].search(
                    [("mail_sync_account_id", "=", synced.id)]
                )
                self.assertTrue(server)
                with self.assertRaises(MailSyncError) as caught:
                    server._mail_sync_open_connection()
                self.assertEqual(
                    (caught.exception.code, caught.exception.side),
                    ("host_not_allowed", "smtp"),
                )
            self.assertEqual(reached(seen, (), ports), [])
