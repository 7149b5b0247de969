# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo.tests import TransactionCase, tagged

from .. import uninstall_hook


@tagged("post_install", "-at_install")
class TestInstall(TransactionCase):
    def test_addon_installed(self):
        """The test database has the addon installed, on top of CRM."""
        modules = self.env["ir.module.module"].search(
            [("name", "in", ("mail_sync_crm", "crm"))]
        )
        self.assertEqual(
            {m.name: m.state for m in modules},
            {"mail_sync_crm": "installed", "crm": "installed"},
        )
        self.assertTrue(
            self.env["ir.module.module"]._get("mail_sync_crm").latest_version
        )

    def test_address_indexes_and_uninstall_hook(self):
        """A sync run looks leads up by exact address: the addon adds btree
        indexes to both address columns, and its uninstall hook drops them."""

        def indexes():
            self.env.cr.execute(
                """SELECT tablename, indexdef FROM pg_indexes
                    WHERE indexname LIKE 'mail_sync_crm_%%email_normalized_index'"""
            )
            return dict(self.env.cr.fetchall())

        found = indexes()
        self.assertEqual(set(found), {"crm_lead", "res_partner"})
        for definition in found.values():
            self.assertIn("USING btree (email_normalized)", definition)
        uninstall_hook(self.env)
        self.assertEqual(indexes(), {})
