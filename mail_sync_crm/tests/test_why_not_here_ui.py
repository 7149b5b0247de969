# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""In Chromium (#20): a salesperson asks "Why is this email not here?" on a
lead and reads the answer; the owner moves a synced email to the right lead
from the Emails view (static/tests/tours/mail_sync_why_not_here_tour.js)."""

from datetime import datetime

from odoo.tests import tagged

from mail_sync_testing import make_message

from .common import MailSyncHttpCase

ALICE = "alice.martin@acme.example.com"


@tagged("post_install", "-at_install")
class TestWhyNotHereUi(MailSyncHttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.lead = cls.env["crm.lead"].create(
            {
                "name": "Acme robots",
                "type": "opportunity",
                "email_from": ALICE,
                "user_id": cls.salesman.id,
            }
        )
        cls.shop = cls.env["crm.lead"].create(
            {
                "name": "Alice's shop",
                "type": "opportunity",
                "email_from": "alice@shop.example.com",
                "user_id": cls.salesman.id,
            }
        )
        cls.env["mail.sync.blocklist"].with_user(cls.salesman).create(
            {"value": "acme.example.com", "user_id": cls.salesman.id}
        )
        cls.imap.append(
            cls.salesman.login,
            "INBOX",
            make_message(ALICE, cls.salesman.email, subject="Blocked quote"),
        )
        account = (
            cls.env["mail.sync.account"]
            .with_user(cls.salesman)
            .create(cls.connect_values(cls, cls.salesman))
        )
        account.action_connect()
        cls.env["mail.sync.scheduler"]._cron_sync()

    def test_why_not_here_in_the_browser(self):
        self.start_tour(
            f"/odoo/crm/{self.lead.id}",
            "mail_sync_crm_why_not_here_tour",
            login=self.salesman.login,
            timeout=180,
        )

    def synced_order(self):
        self.env["mail.sync.blocklist"].search([]).unlink()
        self.imap.append(
            self.salesman.login,
            "INBOX",
            make_message(
                ALICE,
                self.salesman.email,
                subject="Shop order",
                text="Twelve robots for the shop.",
                # one email, whichever test puts it in the class's mailbox
                message_id="<order@acme.example.com>",
                date=datetime(2026, 3, 1, 9),
            ),
        )
        self.env["mail.sync.scheduler"]._cron_sync()
        subtype = self.env.ref("mail_sync_crm.mt_synced_email")
        order = self.lead.message_ids.filtered(
            lambda m: m.subtype_id == subtype and m.subject == "Shop order"
        )
        self.assertEqual(len(order), 1)
        return order

    def test_move_an_email_in_the_browser(self):
        order = self.synced_order()
        self.start_tour(
            f"/odoo/crm/{self.lead.id}",
            "mail_sync_crm_move_email_tour",
            login=self.salesman.login,
            timeout=180,
        )
        self.assertEqual((order.res_id, order.model), (self.shop.id, "crm.lead"))

    def test_move_an_email_from_the_chatter(self):
        order = self.synced_order()
        self.start_tour(
            f"/odoo/crm/{self.lead.id}",
            "mail_sync_crm_move_email_chatter_tour",
            login=self.salesman.login,
            timeout=180,
        )
        self.assertEqual((order.res_id, order.model), (self.shop.id, "crm.lead"))
