# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo.tests import HttpCase, new_test_user, tagged

from mail_sync_testing import DovecotServer, SmtpServer

from ..lib.net.host_policy import ALLOWED_HOSTS_PARAM
from ..models.mail_sync_connector import PROOF_SECONDS_PARAM
from .common import PASSWORD, TEST_ALLOWED_HOSTS, started, warm_http_statics


@tagged("post_install", "-at_install")
class TestUi(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        warm_http_statics()
        cls.env["ir.config_parameter"].sudo().set_param(
            ALLOWED_HOSTS_PARAM, TEST_ALLOWED_HOSTS
        )
        # No mail is delivered to this class's mailboxes: Connect's address
        # confirmation looks once, without waiting (lib/sending/address_proof.py).
        cls.env["ir.config_parameter"].sudo().set_param(PROOF_SECONDS_PARAM, "0")
        cls.imap = started(DovecotServer(), cls.addClassCleanup)
        cls.smtp = started(SmtpServer(), cls.addClassCleanup)
        cls.user = new_test_user(
            cls.env,
            login="tour_sales",
            password="tour_sales_pw",
            email="tour_sales@ourcompany.example.com",
            groups="base.group_user,sales_team.group_sale_salesman",
        )
        cls.imap.add_user("tour_sales", PASSWORD)
        cls.smtp.add_user("tour_sales", PASSWORD)

    def test_connect_from_the_top_bar(self):
        account = (
            self.env["mail.sync.account"]
            .with_user(self.user)
            .create(
                {
                    "provider": "custom",
                    "email": self.user.email,
                    "imap_host": self.imap.host,
                    "imap_port": self.imap.ssl_port,
                    "imap_allow_self_signed": True,
                    "imap_login": "tour_sales",
                    "smtp_host": self.smtp.host,
                    "smtp_port": self.smtp.ssl_port,
                    "smtp_allow_self_signed": True,
                }
            )
        )
        # Generous timeout: the first page load after an update compiles the assets.
        self.start_tour(
            "/odoo", "mail_sync_crm_connect_tour", login="tour_sales", timeout=180
        )
        self.assertEqual(account.state, "enabled")
        self.assertTrue(account.sudo().imap_secret)

    def test_top_bar_tells_pending_error_and_connection(self):
        account = (
            self.env["mail.sync.account"]
            .with_user(self.user)
            .create({"provider": "custom", "email": self.user.email})
        )
        for state in ("pending", "error", "connection"):
            account.sudo().state = state
            self.start_tour(
                "/odoo",
                f"mail_sync_crm_top_bar_{state}_tour",
                login="tour_sales",
                timeout=180,
            )
