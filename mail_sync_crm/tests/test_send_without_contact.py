# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
""" "Send message" on a lead that has an email but no contact, by a salesperson
who may not create contacts, reaches the lead's address (Odoo alone drops it
and posts to nobody)."""

from odoo.tests import tagged

from .common import MailSyncHttpCase

ALICE = "alice.martin@acme.example.com"


@tagged("post_install", "-at_install")
class TestSendWithoutContact(MailSyncHttpCase):
    def make_lead(self):
        return self.env["crm.lead"].create(
            {
                "name": "Acme robots",
                "type": "opportunity",
                "email_from": ALICE,
                "contact_name": "Alice Martin",
                "user_id": self.salesman.id,
            }
        )

    def test_the_salesperson_cannot_create_contacts(self):
        self.assertFalse(self.salesman.has_group("base.group_partner_manager"))

    def test_the_lead_address_becomes_the_recipient(self):
        lead = self.make_lead().with_user(self.salesman)
        partners = lead._mail_sync_recipient_partners(
            [f'"Alice Martin" <{ALICE}>', "someone@else.example.com"]
        )
        self.assertEqual(partners.mapped("email_normalized"), [ALICE])
        self.assertEqual(partners.name, "Alice Martin")

    def test_send_message_from_a_lead_without_contact(self):
        lead = self.make_lead()
        self.start_tour(
            f"/odoo/crm/{lead.id}",
            "mail_sync_crm_send_without_contact_tour",
            login=self.salesman.login,
            timeout=180,
        )
        message = lead.message_ids.filtered(
            lambda m: "Our offer for the robots" in str(m.body)
        )
        self.assertEqual(message.partner_ids.mapped("email_normalized"), [ALICE])
        mails = (
            self.env["mail.mail"].sudo().search([("mail_message_id", "=", message.id)])
        )
        self.assertEqual(
            mails.recipient_ids.mapped("email_normalized"), [ALICE], "a mail leaves"
        )
        self.assertEqual(lead.partner_id.email_normalized, ALICE, "the lead's contact")
