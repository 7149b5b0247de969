# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo.tests import TransactionCase, tagged


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
