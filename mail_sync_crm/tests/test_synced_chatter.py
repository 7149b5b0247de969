# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A synced email in the chatter names its sender and, outside its body, which
way it went and whose mailbox recorded it."""

from odoo.tests import tagged

from odoo.addons.mail.tools.discuss import Store

from mail_sync_testing import make_message

from .common import MailSyncHttpCase

ALICE = "alice.martin@acme.example.com"


@tagged("post_install", "-at_install")
class TestSyncedChatter(MailSyncHttpCase):
    def test_sender_name_and_mailbox_label(self):
        lead = self.env["crm.lead"].create(
            {
                "name": "Acme robots",
                "type": "opportunity",
                "email_from": ALICE,
                "user_id": self.salesman.id,
            }
        )
        login = self.salesman.login
        self.imap.append(
            login,
            "INBOX",
            make_message(
                f"Alice Martin <{ALICE}>", self.salesman.email, subject="Robots?"
            ),
        )
        self.imap.append(
            login,
            "Sent",
            make_message(self.salesman.email, ALICE, subject="Re: Robots?"),
        )
        self.connected_account(self.salesman)
        self.env["mail.sync.scheduler"]._cron_sync()
        subtype = self.env.ref("mail_sync_crm.mt_synced_email")
        synced = lead.message_ids.filtered(lambda m: m.subtype_id == subtype)
        received = synced.filtered(lambda m: m.subject == "Robots?")
        sent = synced - received
        self.assertEqual(received.email_from, f'"Alice Martin" <{ALICE}>')
        owner = self.salesman.name
        data = Store(synced, for_current_user=True).get_result()
        labels = {
            values["id"]: values.get("mail_sync_label")
            for values in data["mail.message"]
        }
        self.assertEqual(
            labels[received.id], f"Received · synced from {owner}'s mailbox"
        )
        self.assertEqual(labels[sent.id], f"Sent · synced from {owner}'s mailbox")
        self.assertNotIn("synced", str(received.body), "the label is not in the body")
        self.start_tour(
            f"/odoo/crm/{lead.id}",
            "mail_sync_crm_synced_chatter_tour",
            login=login,
            timeout=180,
        )
