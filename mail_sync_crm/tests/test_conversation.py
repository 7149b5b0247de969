# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The lead's Emails view: its synced emails threaded by their headers, newest
thread first, named senders, recipients, direction and mailbox; Reply continues
the thread in the customer's mail client (In-Reply-To / References)."""

import contextlib
from datetime import datetime
from unittest.mock import patch

from odoo import modules
from odoo.tests import Form, tagged

from mail_sync_testing import DovecotServer, make_message

from .common import PASSWORD, MailSyncHttpCase, started

ALICE = "alice.martin@acme.example.com"
BOB = "bob@acme.example.com"


@tagged("post_install", "-at_install")
class TestConversation(MailSyncHttpCase):
    def setUp(self):
        super().setUp()
        # A fresh mail server per test: mailbox contents do not leak between tests.
        self.mail = started(DovecotServer(), self.addCleanup)
        self.mail.add_user(self.salesman.login, PASSWORD)
        # Mail for the salesperson's address is delivered to this server (the
        # address confirmation of Connect arrives there).
        self.smtp.deliver_to(self.mail, {self.salesman.email: self.salesman.login})
        self.addCleanup(self.smtp.deliver_to, self.imap, self.smtp_mailboxes)
        self.lead = self.env["crm.lead"].create(
            {
                "name": "Acme robots",
                "type": "opportunity",
                "email_from": ALICE,
                "contact_name": "Alice Martin",
                "user_id": self.salesman.id,
            }
        )
        me = self.salesman.email
        login = self.salesman.login
        alice = f"Alice Martin <{ALICE}>"
        inbox = [
            make_message(
                alice,
                me,
                subject="Robots?",
                date=datetime(2026, 3, 1, 9),
                message_id="<a1@acme.example.com>",
                text="Do you sell robots?\n",
            ),
            make_message(
                alice,
                me,
                cc=[f"Bob <{BOB}>"],
                subject="Re: Robots?",
                date=datetime(2026, 3, 5, 9),
                message_id="<a3@acme.example.com>",
                in_reply_to="<s2@ourcompany.example.com>",
                references=["<a1@acme.example.com>", "<s2@ourcompany.example.com>"],
                text="Forty, please.\n\n> We do, how many?\n> Sally\n",
                attachments=[("specs.txt", b"40 robots", "text/plain")],
            ),
            make_message(
                alice,
                me,
                subject="Invoice",
                date=datetime(2026, 3, 3, 9),
                message_id="<b1@acme.example.com>",
                text="Where do we send the invoice?\n",
            ),
        ]
        sent = [
            make_message(
                me,
                alice,
                subject="Re: Robots?",
                date=datetime(2026, 3, 2, 9),
                message_id="<s2@ourcompany.example.com>",
                in_reply_to="<a1@acme.example.com>",
                text="We do, how many?\n",
            ),
        ]
        for raw in inbox:
            self.mail.append(login, "INBOX", raw)
        for raw in sent:
            self.mail.append(login, "Sent", raw)
        self.connected_account(
            self.salesman, imap_host=self.mail.host, imap_port=self.mail.ssl_port
        )
        self.env["mail.sync.scheduler"]._cron_sync()

    @contextlib.contextmanager
    def live(self):
        """Let Odoo send for real (only the test-mode switch, see test_smart_mail)."""
        with patch.object(modules.module, "current_test", False):
            yield

    def test_headers_are_stored_at_sync(self):
        row = self.env["mail.sync.message"].search(
            [("message_id", "=", "<a3@acme.example.com>")]
        )
        self.assertEqual(row.email_to, self.salesman.email)
        self.assertEqual(row.email_cc, BOB)
        self.assertEqual(row.in_reply_to, "<s2@ourcompany.example.com>")
        self.assertEqual(
            row.references, "<a1@acme.example.com> <s2@ourcompany.example.com>"
        )

    def test_threads_newest_first_emails_in_date_order(self):
        data = self.lead.with_user(self.salesman).mail_sync_conversation()
        threads = data["threads"]
        self.assertEqual([t["subject"] for t in threads], ["Robots?", "Invoice"])
        robots = threads[0]["emails"]
        owner = self.salesman.name
        self.assertEqual(
            [(e["sender"], e["direction"], e["owners"]) for e in robots],
            [
                ("Alice Martin", "in", [owner]),
                (owner, "out", [owner]),
                ("Alice Martin", "in", [owner]),
            ],
        )
        self.assertEqual(
            [e["own_subject"] for e in robots], [False] * 3, "Re: is no new subject"
        )
        self.assertEqual(robots[2]["cc"], BOB)
        self.assertEqual([a["name"] for a in robots[2]["attachments"]], ["specs.txt"])
        self.assertIn("data-o-mail-quote", robots[2]["body"], "the quote is marked")
        self.assertEqual(threads[0]["reply_subject"], "Re: Robots?")

    def test_reply_continues_the_thread_in_the_mail_client(self):
        data = self.lead.with_user(self.salesman).mail_sync_conversation()
        last = data["threads"][0]["last_message_id"]
        action = self.lead.with_user(self.salesman).action_mail_sync_reply(last)
        composer = Form(
            self.env["mail.compose.message"]
            .with_user(self.salesman)
            .with_context(**action["context"])
        )
        self.assertEqual(composer.subject, "Re: Robots?")
        composer.body = "<p>Forty it is.</p>"
        wizard = composer.save()
        self.assertEqual(wizard.partner_ids.email_normalized, ALICE)
        self.smtp.clear_messages()
        with self.live():
            wizard.action_send_mail()
        [received] = self.smtp.messages
        self.assertEqual(received.message["Subject"], "Re: Robots?")
        self.assertEqual(received.message["In-Reply-To"], "<a3@acme.example.com>")
        self.assertEqual(
            received.message["References"].split(),
            [
                "<a1@acme.example.com>",
                "<s2@ourcompany.example.com>",
                "<a3@acme.example.com>",
            ],
        )
        self.assertEqual(received.rcpt_tos, [ALICE])

    def test_a_reply_shows_in_its_thread_at_once_and_once_after_the_sync(self):
        lead = self.lead.with_user(self.salesman)
        last = lead.mail_sync_conversation()["threads"][0]["last_message_id"]
        action = lead.action_mail_sync_reply(last)
        composer = Form(
            self.env["mail.compose.message"]
            .with_user(self.salesman)
            .with_context(**action["context"])
        )
        composer.body = "<p>Forty it is.</p>"
        self.smtp.clear_messages()
        with self.live():
            composer.save().action_send_mail()
        [received] = self.smtp.messages
        sent_id = received.message["Message-ID"]

        def entries(data):
            return [
                email
                for thread in data["threads"]
                for email in thread["emails"]
                if "Forty it is" in email["body"]
            ]

        # at once, in the thread it answers, as sent from Odoo
        data = lead.mail_sync_conversation()
        [email] = entries(data)
        self.assertEqual(email["direction_label"], "Sent from Odoo")
        self.assertIn(email, data["threads"][0]["emails"], "in the thread of Robots?")
        # the provider files the sent mail in Sent; the sync finds it: one
        # entry still, now the mailbox's record of it
        self.mail.append(self.salesman.login, "Sent", received.data)
        self.env["mail.sync.scheduler"]._cron_sync()
        [email] = entries(lead.mail_sync_conversation())
        self.assertFalse(email["from_odoo"])
        self.assertEqual(email["direction"], "out")
        rows = self.env["mail.sync.message"].search([("lead_id", "=", self.lead.id)])
        self.assertEqual(len(rows.filtered(lambda r: r.message_id == sent_id)), 1)
        self.assertEqual(
            self.env["mail.message"].search_count([("message_id", "=", sent_id)]),
            1,
            "one chatter entry",
        )

    def test_emails_view_in_the_browser(self):
        self.start_tour(
            f"/odoo/crm/{self.lead.id}",
            "mail_sync_crm_conversation_tour",
            login=self.salesman.login,
            timeout=180,
        )
