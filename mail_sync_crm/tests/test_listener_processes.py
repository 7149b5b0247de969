# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The listener (``odoo-bin mail_sync_listener``) as real processes against a
real Dovecot: an email appended while it listens is on the lead within
seconds, once; two listeners divide the mailboxes and one takes over what a
killed one held; a dropped connection and a server without IDLE still
deliver; a changed password and a disconnected mailbox stop or restart the
watch, and the listener never puts a mailbox in Error."""

import os
import re
import signal
import subprocess
import sys
import time
import uuid

from odoo.tests import tagged
from odoo.tools import config

from mail_sync_testing import DovecotServer, OAuthServer, SmtpServer, make_message

from ..lib.oauth import client as oauth
from ..lib.oauth.providers import CLIENT_PARAMS, get_provider, param_name
from .common import PASSWORD
from .odoo_process_case import ODOO_BIN, OdooProcessCase

LOGINS = tuple(f"listen_{n}" for n in range(4))
LEAD = "buyer@listened-prospect.example.com"
DELIVERY_SECONDS = 30  # what "within seconds" may take on a loaded test machine

SETUP = """
lead = env["crm.lead"].search([("email_from", "=", ARGS["lead"])]) or env[
    "crm.lead"
].create({"name": "Listened deal", "type": "opportunity", "email_from": ARGS["lead"]})
env.cr.commit()
time.sleep(1.1)  # a lead gets the history of the mailboxes connected after it
for login in ARGS["logins"]:
    mailbox(login, **ARGS.get("values", {})).action_connect()
    env.cr.commit()
result(lead=lead.id)
"""

CHANGE_PASSWORD = """
box = mailbox(ARGS["login"])
box.write({"imap_password": ARGS["new_password"]})
env.cr.commit()
"""

SCHEDULED_RUN = """
env["mail.sync.scheduler"]._cron_sync()
env.cr.commit()
box = mailbox(ARGS["login"])
result(state=box.state, codes=box.log_ids.mapped("code"))
"""

DISABLE = """
mailbox(ARGS["login"]).action_disable()
env.cr.commit()
"""


class ListenerCase(OdooProcessCase):
    """Listener processes (``listener()``), stopped after each test, and what
    the tests look at: the logs, the leases, the lead's chatter."""

    def setUp(self):
        super().setUp()
        self.listeners = []
        self.addCleanup(self.stop_listeners)
        # each test's processes have a key of their own (their data directory)
        self.addCleanup(self.db.sql, "DELETE FROM mail_sync_listener")
        self.addCleanup(self.db.sql, "DELETE FROM mail_sync_account")

    # -- helpers -----------------------------------------------------------
    def listener(self, name):
        """A listener process with short periods (heartbeat 1 s, leases 5 s,
        re-IDLE 20 s, polling 1 s); its log in ``self.workdir``."""
        log = open(os.path.join(self.workdir, f"listener-{name}.log"), "wb")  # noqa: SIM115
        self.addCleanup(log.close)
        environ = {k: v for k, v in os.environ.items() if k != "MAIL_SYNC_CRM_KEY"}
        command = [
            sys.executable,
            ODOO_BIN,
            f"--addons-path={config['addons_path']}",
            "mail_sync_listener",
            f"--listener-name={name}",
            "--heartbeat=1",
            "--ttl=5",
            "--reidle=20",
            "--poll=1",
            "-c",
            self.conf,
            "--log-level=info",
        ]
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=environ
        )
        process.log_path = log.name
        self.listeners.append(process)
        return process

    def stop_listeners(self):
        for process in self.listeners:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.listeners:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def log_of(self, process):
        with open(process.log_path, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def wait_until(self, condition, what, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                logs = "\n".join(self.log_of(p)[-3000:] for p in self.listeners)
                self.fail(f"{what} not within {timeout}s\n{logs}")
            time.sleep(0.2)

    def watching(self, process, count):
        """Whether ``process`` logged ``count`` folders watched (IDLE or polling)."""
        found = re.findall(r": (idle|polling)\s*$", self.log_of(process), re.MULTILINE)
        return len(found) >= count

    def connect(self, logins, **args):
        self.run_odoo(SETUP, lead=LEAD, logins=logins, **args)
        return {
            login: int(account_id)
            for login, account_id in self.db.sql(
                """SELECT u.login, a.id FROM mail_sync_account a
                     JOIN res_users u ON u.id = a.user_id"""
            )
        }

    def deliver(self, login, tag, server=None):
        message_id = f"<{tag}-{uuid.uuid4().hex[:8]}@listened.example>"
        raw = make_message(
            LEAD, f"{login}@example.com", subject=tag, message_id=message_id
        )
        (server or self.imap).append(login, "INBOX", raw)
        return message_id

    def times_on_lead(self, message_id):
        rows = self.db.sql(
            """SELECT count(*) FROM mail_message m
                 JOIN crm_lead l ON l.id = m.res_id AND m.model = 'crm.lead'
                WHERE l.email_from = :'p1' AND m.message_id = :'p2'""",
            LEAD,
            message_id,
        )
        return int(rows[0][0])

    def assert_on_lead_once(self, message_id):
        self.wait_until(
            lambda: self.times_on_lead(message_id),
            f"{message_id} on the lead",
            DELIVERY_SECONDS,
        )
        time.sleep(1)  # a second recording would show by now
        self.assertEqual(self.times_on_lead(message_id), 1, "recorded exactly once")

    def connections(self):
        """{login: IMAP connections open at Dovecot} (``doveadm who``)."""
        lines = self.imap.doveadm("who").stdout.splitlines()[1:]
        return {line.split()[0]: int(line.split()[1]) for line in lines}

    def states(self):
        return dict(self.db.sql("SELECT id, state FROM mail_sync_account"))

    def leases(self):
        """{mailbox id: listener name} of the live leases."""
        return {
            int(account_id): name
            for account_id, name in self.db.sql(
                """SELECT l.account_id, s.name FROM mail_sync_listener_lease l
                     JOIN mail_sync_listener s ON s.id = l.listener_id
                    WHERE l.expires > now() AT TIME ZONE 'UTC'"""
            )
        }


@tagged("post_install", "-at_install")
class TestListenerProcesses(ListenerCase):
    LOGINS = LOGINS

    def test_an_email_arriving_is_on_the_lead_within_seconds(self):
        mailboxes = self.connect(LOGINS[:2])
        listener = self.listener("solo")
        # Inbox and Sent of each mailbox
        self.wait_until(lambda: self.watching(listener, 4), "the watches")
        for login in LOGINS[:2]:
            started = time.monotonic()
            self.assert_on_lead_once(self.deliver(login, "arrived"))
            self.assertLess(time.monotonic() - started, DELIVERY_SECONDS)
        self.assertEqual(set(self.leases()), set(mailboxes.values()))
        self.assertEqual(set(self.states().values()), {"enabled"})
        # A dropped connection (Dovecot's imap processes killed): the watch
        # reconnects and the next email still arrives.
        self.imap.kill_imap_children()
        self.wait_until(lambda: self.watching(listener, 8), "the watches again")
        self.assert_on_lead_once(self.deliver(LOGINS[0], "after-drop"))
        self.assertNotIn("Traceback", self.log_of(listener))

    def test_two_listeners_divide_the_mailboxes_and_one_takes_over(self):
        mailboxes = self.connect(LOGINS)
        first, second = self.listener("first"), self.listener("second")

        def divided():
            leases = self.leases()
            names = list(leases.values())
            return (
                set(leases) == set(mailboxes.values())
                and names.count("first") == names.count("second") == 2
            )

        self.wait_until(divided, "the mailboxes divided two and two")
        self.wait_until(lambda: self.watching(first, 4), "first's watches")
        self.wait_until(lambda: self.watching(second, 4), "second's watches")
        # Each mailbox is watched by one listener: two connections (Inbox and
        # Sent) at Dovecot, not four (once the turns that followed the
        # watches' start have logged out).
        self.wait_until(
            lambda: self.connections() == dict.fromkeys(LOGINS, 2),
            "two connections per mailbox",
            20,
        )
        # An email arrives for one of first's mailboxes, and first is killed
        # at once (SIGKILL: no goodbye, maybe in the middle of its turn).
        leases = self.leases()
        login = next(lg for lg, mid in mailboxes.items() if leases[mid] == "first")
        message_id = self.deliver(login, "killed")
        time.sleep(0.3)
        first.kill()
        first.wait()
        started = time.monotonic()
        self.wait_until(
            lambda: (
                set(self.leases().values()) == {"second"}
                and len(self.leases()) == len(LOGINS)
            ),
            "second holding every mailbox",
            60,
        )
        self.assertLess(time.monotonic() - started, 60, "taken over within a minute")
        self.assert_on_lead_once(message_id)
        self.wait_until(lambda: self.watching(second, 8), "second's new watches")
        for login in LOGINS:
            self.assert_on_lead_once(self.deliver(login, "after-takeover"))
        self.assertEqual(set(self.states().values()), {"enabled"})

    def test_a_server_without_idle_is_polled(self):
        with DovecotServer(capability="IMAP4rev1 LITERAL+ UIDPLUS") as server:
            server.add_user(LOGINS[0], PASSWORD)
            self.connect(LOGINS[:1], host=server.host, imap_port=server.ssl_port)
            listener = self.listener("poller")
            self.wait_until(
                lambda: "INBOX: polling" in self.log_of(listener), "polling"
            )
            self.assert_on_lead_once(self.deliver(LOGINS[0], "polled", server))

    def test_a_starttls_mailbox_is_watched(self):
        login = LOGINS[2]
        account_id = self.connect(
            [login],
            imap_port=self.imap.port,
            values={"imap_encryption": "starttls"},
        )[login]
        self.assertEqual(
            self.db.sql(
                "SELECT imap_encryption, state FROM mail_sync_account WHERE id = :'p1'",
                account_id,
            ),
            [["starttls", "enabled"]],
        )
        listener = self.listener("starttls")
        self.wait_until(lambda: self.watching(listener, 2), "the watches")
        self.assert_on_lead_once(self.deliver(login, "starttls"))
        self.assertNotIn("backoff", self.log_of(listener))

    def test_a_changed_password_or_a_disconnected_mailbox_while_watched(self):
        mailboxes = self.connect(LOGINS[:1])
        account_id = mailboxes[LOGINS[0]]
        listener = self.listener("watcher")
        self.addCleanup(self.imap.add_user, LOGINS[0], PASSWORD)
        self.addCleanup(self.smtp.add_user, LOGINS[0], PASSWORD)
        self.wait_until(lambda: self.watching(listener, 2), "the watches")
        # The mailbox's first turn (Connect gives none): the listener's, at once.
        self.wait_until(
            lambda: "turn of mailbox" in self.log_of(listener), "the first turn"
        )
        # The password changes on the server: the watch backs off, and the
        # listener leaves the mailbox's state alone.
        self.imap.add_user(LOGINS[0], "changed-" + PASSWORD)
        time.sleep(1.1)  # Dovecot sees a changed passwd file the next second
        self.imap.kill_imap_children()
        self.wait_until(
            lambda: "backoff" in self.log_of(listener), "the watch backing off"
        )
        self.assertEqual(self.states(), {str(account_id): "enabled"})
        # The owner types the new password (the same for SMTP, which Odoo
        # checks too): the watch restarts with it.
        self.smtp.add_user(LOGINS[0], "changed-" + PASSWORD)
        self.run_odoo(
            CHANGE_PASSWORD, login=LOGINS[0], new_password="changed-" + PASSWORD
        )
        self.wait_until(
            lambda: "(changed)" in self.log_of(listener), "the watch restarted"
        )
        self.wait_until(lambda: self.watching(listener, 4), "the watches again")
        self.assert_on_lead_once(self.deliver(LOGINS[0], "new-password"))
        # Disconnected: the lease goes and the watch stops.
        self.run_odoo(DISABLE, login=LOGINS[0])
        self.wait_until(lambda: not self.leases(), "the lease given up")
        self.wait_until(
            lambda: "(released)" in self.log_of(listener), "the watch stopped"
        )

    def test_a_turn_refused_by_the_server_leaves_the_state_to_the_scheduled_run(
        self,
    ):
        login = LOGINS[1]
        account_id = self.connect([login])[login]
        listener = self.listener("judge")
        self.addCleanup(self.imap.add_user, login, PASSWORD)
        self.addCleanup(self.smtp.add_user, login, PASSWORD)
        self.wait_until(lambda: self.watching(listener, 2), "the watches")
        self.wait_until(
            lambda: "turn of mailbox" in self.log_of(listener), "the first turn"
        )
        # The password changes on the server while the watches idle (their
        # connections stay signed in): the next email's news gives a turn
        # whose login the server refuses.
        self.imap.add_user(login, "changed-" + PASSWORD)
        time.sleep(1.1)  # Dovecot sees a changed passwd file the next second
        waiting = self.deliver(login, "refused")
        self.wait_until(
            lambda: "stops watching mailbox" in self.log_of(listener),
            "the listener giving the mailbox up",
        )
        self.assertIn("(auth_failed)", self.log_of(listener))
        # The listener left the mailbox as it was, and closed its watches.
        self.assertEqual(self.states(), {str(account_id): "enabled"})
        self.assertFalse(
            self.db.sql(
                "SELECT id FROM mail_sync_log WHERE account_id = :'p1'", account_id
            ),
            "no error logged by the listener",
        )
        self.wait_until(
            lambda: not self.connections().get(login), "the watches closed", 20
        )
        # The scheduled run is the judge: the same refusal, recorded by it
        # (at once: the listener's failed turn does not count as synced).
        results, _log = self.run_odoo(SCHEDULED_RUN, login=login)
        self.assertEqual(results["state"], "error")
        self.assertIn("auth_failed", results["codes"])
        # The owner types the new password: Enabled again, watched again, and
        # the email that waited and the next one are on the lead.
        self.smtp.add_user(login, "changed-" + PASSWORD)
        self.run_odoo(CHANGE_PASSWORD, login=login, new_password="changed-" + PASSWORD)
        self.wait_until(lambda: self.watching(listener, 4), "the watches again")
        self.assert_on_lead_once(waiting)
        self.assert_on_lead_once(self.deliver(login, "fixed"))
        self.assertEqual(self.states(), {str(account_id): "enabled"})


OAUTH_LOGIN = "listen_oauth"
OAUTH_EMAIL = f"{OAUTH_LOGIN}@example.com"  # PRELUDE's owner() gives login@example.com

OAUTH_SETUP = """
from datetime import timedelta
from odoo import fields
from odoo.addons.mail_sync_crm.lib.oauth import client as oauth
for key, value in ARGS["params"].items():
    env["ir.config_parameter"].sudo().set_param(key, value)
lead = env["crm.lead"].search([("email_from", "=", ARGS["lead"])]) or env[
    "crm.lead"
].create({"name": "Listened deal", "type": "opportunity", "email_from": ARGS["lead"]})
env.cr.commit()
time.sleep(1.1)
user = owner(ARGS["login"])
account = env["mail.sync.account"].with_user(user).create({
    "provider": "gmail", "email": user.email,
    "imap_host": ARGS["host"], "imap_port": ARGS["oauth_imap_port"],
    "imap_encryption": "ssl", "imap_allow_self_signed": True,
    "smtp_host": ARGS["host"], "smtp_port": ARGS["oauth_smtp_port"],
    "smtp_encryption": "ssl", "smtp_allow_self_signed": True,
})
env["mail.sync.oauth.token"]._store(account, oauth.Tokens(
    access_token=ARGS["access"], refresh_token=ARGS["refresh"],
    expires_at=fields.Datetime.now() + timedelta(hours=1),
))
env["mail.sync.connector"]._test_and_enable(account)
env.cr.commit()
# The access token expires in ARGS["expires_in"] seconds (0: due for a refresh
# as the listener starts).
env["mail.sync.oauth.token"]._of(account).expires_at = fields.Datetime.now() + (
    timedelta(seconds=ARGS["expires_in"])
)
env.cr.commit()
result(account_id=account.id, state=account.state)
"""


@tagged("post_install", "-at_install")
class TestListenerOAuth(ListenerCase):
    """A mailbox signed in with OAuth: the listener refreshes its access token
    before it expires, and a revoked grant stops the watch and leaves the
    mailbox's state to the scheduled run."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.auth = OAuthServer(user=OAUTH_EMAIL)
        cls.auth.start()
        cls.addClassCleanup(cls.auth.stop)
        cls.oauth_imap = DovecotServer(oauth=cls.auth)
        cls.oauth_imap.start()
        cls.addClassCleanup(cls.oauth_imap.stop)
        cls.oauth_imap.add_user(OAUTH_EMAIL, PASSWORD)
        cls.oauth_smtp = SmtpServer(oauth=cls.auth)
        cls.oauth_smtp.start()
        cls.addClassCleanup(cls.oauth_smtp.stop)

    def params(self):
        values = {"web.base.url": "http://127.0.0.1:8069"}
        for provider, (id_param, secret_param) in CLIENT_PARAMS.items():
            values[id_param] = self.auth.client_id
            values[secret_param] = self.auth.client_secret
            for kind, url in self.auth.urls.items():
                values[param_name(provider, kind)] = url
        return values

    def connect_oauth(self, expires_in):
        """The OAuth mailbox, signed in for real at the OAuth server, its
        access token expiring in ``expires_in`` seconds; its id."""
        client = oauth.OAuthClient(
            get_provider("google", urls=self.auth.urls),
            self.auth.client_id,
            self.auth.client_secret,
            "http://127.0.0.1:8069/mail_sync_crm/oauth/callback",
        )
        request = client.authorization_request("state", login_hint=OAUTH_EMAIL)
        code = oauth.parse_callback(self.auth.authorize(request.url))
        tokens = client.exchange_code(code, request.code_verifier)
        results, _log = self.run_odoo(
            OAUTH_SETUP,
            params=self.params(),
            login=OAUTH_LOGIN,
            lead=LEAD,
            oauth_imap_port=self.oauth_imap.ssl_port,
            oauth_smtp_port=self.oauth_smtp.ssl_port,
            access=tokens.access_token,
            refresh=tokens.refresh_token,
            expires_in=expires_in,
        )
        self.assertEqual(results["state"], "enabled")
        return results["account_id"]

    def refreshes(self):
        return self.auth.count("/token", grant_type="refresh_token")

    def oauth_connections(self):
        lines = self.oauth_imap.doveadm("who").stdout.splitlines()[1:]
        return sum(int(line.split()[1]) for line in lines)

    def deliver_oauth(self, tag):
        message_id = f"<{tag}-{uuid.uuid4().hex[:8]}@listened.example>"
        self.oauth_imap.append(
            OAUTH_EMAIL,
            "INBOX",
            make_message(LEAD, OAUTH_EMAIL, subject=tag, message_id=message_id),
        )
        return message_id

    def test_the_token_is_refreshed_before_it_expires_without_reconnecting(self):
        # 5 minutes is lib.oauth's margin: the token is due in 12 s.
        self.connect_oauth(expires_in=5 * 60 + 12)
        due = time.monotonic() + 12
        before = self.refreshes()
        listener = self.listener("oauth-keeper")
        self.wait_until(lambda: self.watching(listener, 2), "the watches")
        self.assertEqual(self.refreshes(), before, "a valid token is used as it is")
        self.wait_until(
            lambda: self.refreshes() > before, "the refresh ahead of the expiry", 40
        )
        self.assertLess(time.monotonic() - due, 6, "refreshed when it became due")
        # Refreshed once, by the listener, while its watches kept their
        # connections (the refresh token rotated: the mailbox is not "changed").
        time.sleep(2)
        self.assertEqual(self.refreshes(), before + 1)
        self.assertNotIn("(changed)", self.log_of(listener))
        self.assertEqual(self.watching(listener, 3), False, "no reconnection")
        # The server drops the connections: the watches sign in again at once
        # with the new token (no refresh needed), and the mail still arrives.
        self.oauth_imap.kill_imap_children()
        self.wait_until(lambda: self.watching(listener, 4), "the watches again")
        self.assertEqual(self.refreshes(), before + 1)
        self.assert_on_lead_once(self.deliver_oauth("kept"))

    def test_a_revoked_grant_stops_the_watch_and_leaves_the_state_to_the_run(self):
        account_id = self.connect_oauth(expires_in=0)
        listener = self.listener("oauth")
        # The stored access token had expired: the watch signs in with a fresh one.
        self.wait_until(lambda: self.watching(listener, 2), "the watches")
        self.assertGreaterEqual(self.refreshes(), 1, "the listener refreshed the token")
        self.assert_on_lead_once(self.deliver_oauth("oauth"))
        # The user revokes the grant at the provider; the server drops the
        # connections: the reconnection's token is refused, the new token the
        # listener asks for is refused too (invalid_grant): it stops watching
        # the mailbox and leaves its state alone.
        self.auth.revoke_user(OAUTH_EMAIL)
        self.oauth_imap.kill_imap_children()
        self.wait_until(
            lambda: (
                "its grant was revoked (oauth_invalid_grant)" in self.log_of(listener)
            ),
            "the listener giving the mailbox up",
        )
        self.assertIsNone(listener.poll(), "the listener goes on")
        self.assertEqual(self.states(), {str(account_id): "enabled"}, "no state set")
        self.wait_until(lambda: not self.oauth_connections(), "no watch left", 20)
        # The scheduled run decides: its sign-in with the revoked token is
        # refused (the owner is told to connect again with Google).
        results, _log = self.run_odoo(SCHEDULED_RUN, login=OAUTH_LOGIN)
        self.assertEqual(results["state"], "error")
        self.assertTrue(
            set(results["codes"]) & {"auth_failed", "oauth_invalid_grant"},
            results["codes"],
        )
