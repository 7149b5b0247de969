# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo.exceptions import AccessError
from odoo.tests import tagged

from ..lib import errors
from .common import MailSyncCase


@tagged("post_install", "-at_install")
class TestAccess(MailSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.own = (
            cls.env["mail.sync.account"]
            .with_user(cls.salesman)
            .create(cls.connect_values(cls, cls.salesman))
        )
        cls.colleague = (
            cls.env["mail.sync.account"]
            .with_user(cls.salesman_all)
            .create(cls.connect_values(cls, cls.salesman_all))
        )
        for account in (cls.own, cls.colleague):
            account.action_connect()
            account.sudo().env["mail.sync.turn"]._record_error(
                account.sudo(),
                errors.MailSyncError("timeout", side="imap", host="h", port=1),
            )
        cls.foreign = (
            cls.env["mail.sync.account"]
            .with_user(cls.other_company_user)
            .with_company(cls.company_2)
            .create(cls.connect_values(cls, cls.other_company_user))
        )
        cls.foreign.sudo().env["mail.sync.turn"]._record_error(
            cls.foreign.sudo(), errors.MailSyncError("timeout", side="imap")
        )
        cls.Account = cls.env["mail.sync.account"]
        cls.Log = cls.env["mail.sync.log"]

    def visible(self, user, model="mail.sync.account"):
        return self.env[model].with_user(user).search([])

    def test_salespeople_see_only_their_own(self):
        for user, mine in (
            (self.salesman, self.own),
            (self.salesman_all, self.colleague),
        ):
            self.assertEqual(self.visible(user), mine, user.login)
            self.assertEqual(
                self.visible(user, "mail.sync.log"), mine.log_ids, user.login
            )
        with self.assertRaises(AccessError):
            self.colleague.with_user(self.salesman).read(["state"])
        with self.assertRaises(AccessError):
            self.colleague.with_user(self.salesman).action_disable()

    def test_owner_can_disable_own(self):
        self.own.with_user(self.salesman).action_disable(keep_history=True)
        self.assertEqual(self.own.state, "draft")

    def test_sales_manager_reads_company_status_not_credentials(self):
        seen = self.visible(self.sales_manager)
        self.assertEqual(seen, self.own | self.colleague, "not the other company's")
        self.assertEqual(
            self.visible(self.sales_manager, "mail.sync.log"),
            (self.own | self.colleague).sudo().log_ids,
        )
        as_manager = self.own.with_user(self.sales_manager)
        self.assertEqual(as_manager.state, "error")
        with self.assertRaises(AccessError):
            as_manager.write({"imap_host": "elsewhere.example.com"})
        with self.assertRaises(AccessError):
            as_manager.action_connect()
        with self.assertRaises(AccessError):
            as_manager.action_disable()
        with self.assertRaises(AccessError):
            as_manager.read(["imap_secret"])

    def test_admin_sees_all_and_force_disconnects(self):
        seen = self.visible(self.admin)
        self.assertEqual(seen, self.own | self.colleague)
        both = self.admin.with_user(self.admin)
        both.company_ids = self.company | self.company_2
        multi = self.Account.with_user(self.admin).with_context(
            allowed_company_ids=[self.company.id, self.company_2.id]
        )
        self.assertIn(self.foreign, multi.search([]))
        self.colleague.with_user(self.admin).action_disable(keep_history=False)
        self.assertEqual(self.colleague.state, "draft")
        with self.assertRaises(AccessError):
            self.own.with_user(self.admin).action_connect()
        with self.assertRaises(AccessError):
            self.own.with_user(self.admin).read(["smtp_secret"])

    def test_admin_sets_limits_sales_manager_cannot(self):
        self.company.with_user(self.admin).mail_sync_user_limit = 5
        self.assertEqual(self.company.mail_sync_user_limit, 5)
        with self.assertRaises(AccessError):
            self.company.with_user(self.sales_manager).mail_sync_user_limit = 50
        settings = self.env["res.config.settings"].with_user(self.admin).create({})
        settings.mail_sync_user_limit = 7
        settings.execute()
        self.assertEqual(self.company.mail_sync_user_limit, 7)

    def test_portal_sees_nothing(self):
        for model in ("mail.sync.account", "mail.sync.log", "mail.sync.blocklist"):
            with self.assertRaises(AccessError, msg=model):
                self.env[model].with_user(self.portal).search([])
        with self.assertRaises(AccessError):
            self.env["mail.sync.account"].with_user(self.portal).create(
                {"email": "p@x.example.com"}
            )
