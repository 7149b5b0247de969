# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Shared set-up of the Odoo tests: real Dovecot and SMTP servers, users per role."""

import contextlib
import threading
import xmlrpc.client

from odoo import Command, http
from odoo.tests import HttpCase, TransactionCase, get_db_name, new_test_user

from mail_sync_testing import LOOPBACK, DovecotServer, SmtpServer

from ..lib.net import tls
from ..lib.net.host_policy import ALLOWED_HOSTS_PARAM
from ..models.mail_sync_connector import PROOF_SECONDS_PARAM

PASSWORD = "S3cret-pa55word!"
# mail_sync_crm.allowed_hosts of every test: the test servers' loopback address.
TEST_ALLOWED_HOSTS = LOOPBACK


def login_password(login):
    """The Odoo password of a test user (they log in over XML-RPC)."""
    return f"{login}-Odoo-pw"


class MailSyncSetup:
    """Real Dovecot and SMTP servers for the whole class, users per role; the
    registry in test mode, so that a cursor opened by the code under test (the
    persistent error log, the key's own transaction) shares the test's
    transaction (HttpCase puts it in test mode itself)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if cls.registry.test_cr is None:
            cls.registry.enter_test_mode(cls.cr)
            cls.addClassCleanup(cls.registry.leave_test_mode)
        cls.imap = started(DovecotServer(), cls.addClassCleanup)
        cls.smtp = started(SmtpServer(), cls.addClassCleanup)
        # The test servers listen on loopback, which only an administrator may
        # allow mailboxes to reach (lib/net/host_policy.py).
        cls.env["ir.config_parameter"].sudo().set_param(
            ALLOWED_HOSTS_PARAM, TEST_ALLOWED_HOSTS
        )
        # The SMTP server delivers to ``cls.imap`` at once (``_user``); tests on
        # servers of their own get no delivery: Connect's address confirmation
        # looks once, without waiting (lib/sending/address_proof.py).
        cls.env["ir.config_parameter"].sudo().set_param(PROOF_SECONDS_PARAM, "0")

        cls.company = cls.env.company
        cls.company.write({"email": "info@ourcompany.example.com"})
        cls.company_2 = cls.env["res.company"].create(
            {"name": "Client Company", "email": "hello@client.example.com"}
        )
        crm = "sales_team.group_sale_salesman"
        cls.salesman = cls._user("salesman", crm)
        cls.salesman_all = cls._user(
            "salesman_all", "sales_team.group_sale_salesman_all_leads"
        )
        cls.sales_manager = cls._user("sales_manager", "sales_team.group_sale_manager")
        cls.admin = cls._user(
            "admin_ms", "base.group_system,sales_team.group_sale_manager"
        )
        cls.portal = new_test_user(
            cls.env, login="portal_ms", groups="base.group_portal"
        )
        cls.other_company_user = cls._user("other_co", crm, company=cls.company_2)

    def setUp(self):
        super().setUp()
        self._guard_test_cursor()

    def _guard_test_cursor(self):
        """A thread of a test (a listener's turn, a worker) that reads a record
        of the test's own environment runs SQL on the test's cursor without
        the test lock, interleaved with the HTTP server's requests on the same
        connection: such a test fails now and then, far from its cause ("no
        results to fetch" in a websocket's poll). Here it fails at once, with
        its reason. A thread opens its own cursor (``registry.cursor()``,
        which takes the lock) and is handed plain values."""
        main = threading.current_thread()
        registry, cr = self.registry, self.cr

        def guarded(*args, **kwargs):
            lock = getattr(registry, "test_lock", None)
            if (
                threading.current_thread() is not main
                and lock is not None
                and not lock._is_owned()  # pylint: disable=protected-access
            ):
                raise AssertionError(
                    f"thread {threading.current_thread().name!r} used the test's "
                    "cursor without the test lock: open one with "
                    "registry.cursor() and read no record of the test's "
                    "environment there"
                )
            return type(cr).execute(cr, *args, **kwargs)

        self.patch(cr, "execute", guarded)

    @classmethod
    def _user(cls, login, groups, company=None):
        company = company or cls.company
        user = new_test_user(
            cls.env,
            login=login,
            password=login_password(login),
            groups="base.group_user," + groups,
            email=f"{login}@ourcompany.example.com",
            company_id=company.id,
            company_ids=[Command.set(company.ids)],
        )
        cls.imap.add_user(login, PASSWORD)
        cls.smtp.add_user(login, PASSWORD)
        # The SMTP server delivers mail for the user's address to their Inbox
        # (the round trip that confirms a mailbox's address needs it).
        cls.smtp_mailboxes = {**getattr(cls, "smtp_mailboxes", {}), user.email: login}
        cls.smtp.deliver_to(cls.imap, cls.smtp_mailboxes)
        return user

    def connect_values(self, user, **overrides):
        """A Custom mailbox pointing at the test servers over implicit TLS, trusting
        their self-signed certificates by pinning."""
        values = {
            "provider": "custom",
            "email": user.email,
            "imap_host": self.imap.host,
            "imap_port": self.imap.ssl_port,
            "imap_encryption": "ssl",
            "imap_allow_self_signed": True,
            "imap_login": user.login,
            "imap_password": PASSWORD,
            "smtp_host": self.smtp.host,
            "smtp_port": self.smtp.ssl_port,
            "smtp_encryption": "ssl",
            "smtp_allow_self_signed": True,
            "smtp_same_credentials": True,
        }
        values.update(overrides)
        return values

    def make_account(self, user, **overrides):
        return (
            self.env["mail.sync.account"]
            .with_user(user)
            .create(self.connect_values(user, **overrides))
        )

    def connected_account(self, user, **overrides):
        account = self.make_account(user, **overrides)
        account.action_connect()
        # What the SMTP server received so far is Connect's own address
        # confirmation (lib/sending/address_proof.py), not mail the test sends.
        self.smtp.clear_messages()
        return account

    def billable(self, company=None):
        company = company or self.company
        company.invalidate_recordset(["mail_sync_billable_count"])
        return company.mail_sync_billable_count

    @staticmethod
    def fingerprint(server):
        return tls.normalize_fingerprint(server.cert_fingerprint)


def started(server, cleanup):
    """``server`` (a lib.testing server) started; ``cleanup`` (a test's
    ``addCleanup`` or a class's ``addClassCleanup``) stops it."""
    server.start()
    cleanup(server.stop)
    return server


class MailSyncCase(MailSyncSetup, TransactionCase):
    """The shared set-up in one transaction, rolled back after each test."""


def warm_http_statics():
    """Compute the HTTP server's table of static folders once, in this thread.

    Odoo computes it lazily, reading every addon's manifest with
    ``ast.literal_eval``, in whichever request thread serves a static file first.
    A browser's first page asks for many at once; on Python 3.11.7 two threads
    parsing at the same moment can fail with "SystemError: AST constructor
    recursion depth mismatch" (seen in this project's test log), and that
    request gets an HTML error page instead of its file: a tour then fails at
    random (a likely cause of one CI failure, "<!doctype ... is not valid
    JSON")."""
    return http.root.statics


class MailSyncHttpCase(MailSyncSetup, HttpCase):
    """The same, with Odoo's HTTP server (XML-RPC, browser tours)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        warm_http_statics()

    def rpc(self, user, model, method, *args, **kwargs):
        return self.xmlrpc_object.execute_kw(
            get_db_name(),
            user.id,
            login_password(user.login),
            model,
            method,
            list(args),
            kwargs,
        )

    @contextlib.contextmanager
    def attempt(self):
        """Whatever a call changes is undone afterwards, so that each attempt
        starts from the same mailbox (the HTTP server shares the test's
        transaction)."""
        self.env.flush_all()
        self.env.cr.execute("SAVEPOINT attempt")
        try:
            yield
        finally:
            self.env.invalidate_all(flush=False)
            self.env.cr.execute("ROLLBACK TO SAVEPOINT attempt")

    def refused(self, user, model, method, *args):
        """The call fails over XML-RPC; returns the server's error text."""
        with self.assertRaises(xmlrpc.client.Fault) as caught:
            self.rpc(user, model, method, *args)
        return caught.exception.faultString
