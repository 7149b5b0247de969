# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""What Sync Now tells its user when the mailbox is busy or the sync fails."""

from odoo import sql_db
from odoo.tests import tagged

from ..lib.testing import DovecotServer, make_message
from ..models.mail_sync_account_run import SYNC_LOCK_NAMESPACE
from .common import PASSWORD, MailSyncCase

ALICE = "alice.martin@acme.example.com"


@tagged("post_install", "-at_install")
class TestCronSchedule(MailSyncCase):
    def setUp(self):
        super().setUp()
        self.mail = DovecotServer()
        self.mail.start()
        self.addCleanup(self.mail.stop)
        self.users = self.salesman | self.salesman_all | self.sales_manager
        for user in self.users:
            self.mail.add_user(user.login, PASSWORD)
        self.lead = self.env["crm.lead"].create(
            {"name": "Acme robots", "type": "lead", "email_from": ALICE}
        )
        self.subtype = self.env.ref("mail_sync_crm.mt_synced_email")
        self.Account = self.env["mail.sync.account"]

    # -- helpers ----------------------------------------------------------------
    def mailbox(self, user):
        self.mail.append(
            user.login,
            "INBOX",
            make_message(ALICE, user.email, subject=f"Hello {user.login}"),
        )
        return self.connected_account(
            user, imap_host=self.mail.host, imap_port=self.mail.ssl_port
        ).sudo()

    def synced_subjects(self):
        messages = self.lead.message_ids.filtered(
            lambda m: m.subtype_id == self.subtype
        )
        return set(messages.mapped("subject"))

    # -- Sync Now -------------------------------------------------------------------
    def test_sync_now_on_a_busy_mailbox_says_so(self):
        account = self.mailbox(self.salesman)
        self.Account._cron_sync()
        self.mail.append(
            self.salesman.login, "INBOX", make_message(ALICE, self.salesman.email)
        )
        other = sql_db.db_connect(self.env.cr.dbname).cursor()
        try:
            other.execute(
                "SELECT pg_advisory_lock(%s, %s)", [SYNC_LOCK_NAMESPACE, account.id]
            )
            action = account.with_user(self.salesman).action_sync_now()
        finally:
            other.close()
        self.assertEqual(action["params"]["type"], "warning")
        self.assertIn("already being synced", action["params"]["message"])
        self.assertEqual(len(self.synced_subjects()), 1, "nothing synced meanwhile")
        self.assertEqual(account.state, "enabled")

    def test_failed_sync_now_says_it_failed_and_how_to_fix_it(self):
        account = self.mailbox(self.salesman)
        self.Account._cron_sync()
        with DovecotServer() as gone:
            closed = gone.ssl_port
        # (a new port erases the password: typed again, as the owner would)
        account.sudo().write({"imap_port": closed, "imap_password": PASSWORD})
        action = account.with_user(self.salesman).action_sync_now()
        params = action["params"]
        self.assertEqual(params["type"], "danger")
        self.assertIn("Could not reach", params["message"])
        self.assertIn("How to fix it: Check the host name", params["message"])
        self.assertNotIn("Synced:", params["message"])
        self.assertEqual(account.state, "error")
