# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The mailbox form tells each user what they may do: only the owner sees its
connection editable and the Connect buttons."""

from lxml import etree

from odoo.tests import tagged

from .common import MailSyncCase


@tagged("post_install", "-at_install")
class TestMailboxScreens(MailSyncCase):
    def test_only_the_owner_sees_the_connection_as_editable(self):
        account = self.make_account(self.salesman)
        Account = self.env["mail.sync.account"]
        self.assertTrue(account.with_user(self.salesman).is_owner)
        self.assertFalse(Account.with_user(self.admin).browse(account.id).is_owner)
        arch = etree.fromstring(
            Account.with_user(self.admin).get_view(view_type="form")["arch"]
        )
        for button in arch.xpath("//button[@name='action_connect']"):
            self.assertIn("not is_owner", button.get("invisible"))
        for name in ("imap_host", "imap_login", "imap_password", "smtp_port"):
            (field,) = arch.xpath(f"//field[@name='{name}']")
            self.assertIn("not is_owner", field.get("readonly"), name)
