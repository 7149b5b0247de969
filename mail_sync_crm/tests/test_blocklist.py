# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged

from .common import MailSyncCase


@tagged("post_install", "-at_install")
class TestBlocklist(MailSyncCase):
    def blocks(self, user, address, company=None):
        company = company or self.company
        compiled = self.env["mail.sync.blocklist"]._blocklist_for(user, company)
        return compiled.blocks(address)

    def test_exact_address_domain_subdomain_and_case(self):
        Blocklist = self.env["mail.sync.blocklist"].with_user(self.admin)
        Blocklist.create({"value": "CEO@Acme.example.com"})
        Blocklist.create({"value": "@competitor.example.com"})
        entry = Blocklist.search([("value", "like", "ceo")])
        self.assertEqual(entry.value, "ceo@acme.example.com")
        self.assertEqual(entry.kind, "email")
        user = self.salesman
        self.assertTrue(self.blocks(user, '"The CEO" <ceo@ACME.example.com>'))
        self.assertFalse(self.blocks(user, "sales@acme.example.com"))
        self.assertTrue(self.blocks(user, "anyone@competitor.example.com"))
        self.assertTrue(self.blocks(user, "x@eu.Competitor.example.com"))
        self.assertFalse(self.blocks(user, "x@notcompetitor.example.com"))

    def test_own_domain_on_and_off(self):
        user = self.salesman
        self.assertTrue(self.company.mail_sync_block_own_domain, "on by default")
        self.assertTrue(self.blocks(user, "colleague@ourcompany.example.com"))
        self.company.mail_sync_block_own_domain = False
        self.assertFalse(self.blocks(user, "colleague@ourcompany.example.com"))

    def test_personal_entries_apply_to_their_owner_only(self):
        mine = self.env["mail.sync.blocklist"].with_user(self.salesman)
        mine.create({"value": "my-doctor.example.com", "user_id": self.salesman.id})
        self.assertTrue(self.blocks(self.salesman, "dr@my-doctor.example.com"))
        self.assertFalse(self.blocks(self.salesman_all, "dr@my-doctor.example.com"))

    def test_invalid_entry_is_refused(self):
        Blocklist = self.env["mail.sync.blocklist"].with_user(self.admin)
        for value in ("foo", "a@@b.com", "http://x.com"):
            with self.assertRaises(ValidationError, msg=value):
                Blocklist.create({"value": value})

    def test_access(self):
        company_entry = (
            self.env["mail.sync.blocklist"]
            .with_user(self.admin)
            .create({"value": "blocked.example.com"})
        )
        theirs = (
            self.env["mail.sync.blocklist"]
            .with_user(self.salesman_all)
            .create({"value": "private.example.com", "user_id": self.salesman_all.id})
        )
        as_salesman = self.env["mail.sync.blocklist"].with_user(self.salesman)
        visible = as_salesman.search([])
        self.assertIn(company_entry, visible)
        self.assertNotIn(theirs, visible)
        with self.assertRaises(AccessError):
            as_salesman.create({"value": "whole-company.example.com"})
        with self.assertRaises(AccessError):
            company_entry.with_user(self.salesman).unlink()
        with self.assertRaises(AccessError):
            self.env["mail.sync.blocklist"].with_user(self.sales_manager).create(
                {"value": "x.example.com"}
            )
        self.assertIn(
            theirs, self.env["mail.sync.blocklist"].with_user(self.admin).search([])
        )
