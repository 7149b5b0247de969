# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A failed Connect's dialog is titled after the side that failed, not Odoo's
"Invalid Operation"; the Errors button after a reconnect that works."""

from odoo.http import serialize_exception
from odoo.tests import tagged

from ..exceptions import MailSyncConnectError
from ..lib import errors
from .common import MailSyncHttpCase


@tagged("post_install", "-at_install")
class TestConnectDialog(MailSyncHttpCase):
    def test_a_wrong_password_is_titled_after_imap(self):
        account = self.make_account(self.salesman, imap_password="wrong-password")
        with self.assertRaises(MailSyncConnectError) as caught:
            account.with_user(self.salesman).action_connect()
        data = serialize_exception(caught.exception)
        self.assertEqual(
            data["name"],
            "odoo.addons.mail_sync_crm.exceptions.MailSyncConnectError",
        )
        self.assertEqual(
            data["context"]["mail_sync_title"], "Incoming mail (IMAP) failed"
        )
        self.assertIn("How to fix it", data["arguments"][0])

    def test_the_dialog_in_the_browser(self):
        values = self.connect_values(self.salesman)
        del values["imap_password"]
        self.env["mail.sync.account"].with_user(self.salesman).create(values)
        self.start_tour(
            "/odoo",
            "mail_sync_crm_connect_dialog_tour",
            login=self.salesman.login,
            timeout=180,
        )

    def test_errors_button_after_a_reconnect(self):
        account = self.connected_account(self.salesman)
        account.env["mail.sync.turn"]._record_error(
            account, errors.MailSyncError("timeout", side="imap")
        )
        self.assertEqual(account.state, "error")
        self.start_tour(
            f"/odoo/mail.sync.account/{account.id}",
            "mail_sync_crm_reconnect_errors_tour",
            login=self.salesman.login,
            timeout=180,
        )
        self.assertEqual(account.state, "enabled")
