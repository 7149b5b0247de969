# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""What a salesperson and an administrator meet in their first hour (issue 22):
the model side of each behaviour; test_first_hour_ui.py shows them in the
browser."""

import re
from datetime import datetime, timedelta
from unittest.mock import patch

from odoo import fields
from odoo.tests import Form, tagged

from odoo.addons.mail.tools.discuss import Store

from mail_sync_testing import make_message

from ..exceptions import MailSyncUserError
from .sync_common import ALICE, SyncCase

TOP_BAR = "mail_sync_crm/top_bar"
QUOTED = "Forty, please.\n\nOn Monday, Sally wrote:\n> We do, how many?\n> Sally\n"


@tagged("post_install", "-at_install")
class TestFirstHour(SyncCase):
    def sent_to_top_bar(self):
        """Record the top-bar notifications sent on the bus: [(partner, state)]."""
        sent = []
        Bus = type(self.env["bus.bus"])
        original = Bus._sendone

        def record(bus, target, notification_type, message):
            if notification_type == TOP_BAR:
                sent.append((target, message["state"]))
            return original(bus, target, notification_type, message)

        patcher = patch.object(Bus, "_sendone", record)
        patcher.start()
        self.addCleanup(patcher.stop)
        return sent

    # 1 & 12 -----------------------------------------------------------------
    def test_each_status_change_reaches_the_owners_top_bar(self):
        sent = self.sent_to_top_bar()
        partner = self.salesman.partner_id
        account = self.mailbox(self.salesman)
        self.assertEqual(sent, [(partner, "enabled")], "Connect: the badge goes")
        sent.clear()
        # the scheduled sync fails (the server refuses the password): Error
        self.mail.add_user(self.salesman.login, "another-password")
        self.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(account.state, "error")
        self.assertEqual(sent, [(partner, "error")])
        sent.clear()
        account.sudo().first_error_date = fields.Datetime.now() - timedelta(days=3)
        self.env["mail.sync.status"]._cron_update_status()
        self.assertEqual(sent, [(partner, "connection")])
        sent.clear()
        account.with_user(self.salesman).action_disable(keep_history=True)
        self.assertEqual(sent, [(partner, "none")], "Disconnect: not configured")

    def test_the_not_configured_badge_is_for_salespeople(self):
        """The "not configured" nudge goes to users with CRM access who are not
        administrators; an administrator without a mailbox has none, but sees
        the status of a mailbox they connected."""
        Users = self.env["res.users"]
        self.assertEqual(
            Users.with_user(self.salesman)._mail_sync_top_bar_state(), "none"
        )
        self.assertEqual(
            Users.with_user(self.sales_manager)._mail_sync_top_bar_state(), "none"
        )
        self.assertEqual(
            Users.with_user(self.admin)._mail_sync_top_bar_state(), "enabled"
        )
        employee = self._user("employee_ms", "base.group_user")
        self.assertEqual(
            Users.with_user(employee)._mail_sync_top_bar_state(), "enabled"
        )
        account = self.make_account(self.admin)
        account.sudo().state = "error"
        self.assertEqual(
            Users.with_user(self.admin)._mail_sync_top_bar_state(), "error"
        )

    # 2 ----------------------------------------------------------------------
    def test_connect_reconnect_and_disconnect_say_what_they_did(self):
        account = self.make_account(
            self.salesman, imap_host=self.mail.host, imap_port=self.mail.ssl_port
        )
        mine = account.with_user(self.salesman)
        params = mine.action_connect()["params"]
        self.assertEqual(
            (params["title"], params["type"]), ("Mailbox connected", "success")
        )
        params = mine.action_connect()["params"]
        self.assertEqual(
            (params["title"], params["type"]), ("Mailbox connected", "success")
        )
        self.assertIn("syncing goes on from where it was", params["message"])
        # Confirm Address said its title as its type (two helpers of one name)
        params = mine.action_confirm_address()["params"]
        self.assertEqual(
            (params["title"], params["type"]), ("Address not confirmed", "warning")
        )
        wizard = (
            self.env["mail.sync.disable.wizard"]
            .with_user(self.salesman)
            .create({"account_id": account.id, "history": "remove"})
        )
        params = wizard.action_confirm()["params"]
        self.assertEqual(
            (params["title"], params["type"]), ("Mailbox disconnected", "success")
        )
        self.assertIn("were removed from the leads", params["message"])
        self.assertEqual(account.state, "draft")
        other = self.mailbox(self.salesman_all)
        wizard = (
            self.env["mail.sync.disable.wizard"]
            .with_user(self.admin)
            .create({"account_id": other.id, "history": "keep"})
        )
        params = wizard.action_confirm()["params"]
        self.assertEqual(
            params["title"], f"{self.salesman_all.name}'s mailbox disconnected"
        )
        self.assertIn("stay on the leads", params["message"])

    # 3 ----------------------------------------------------------------------
    def test_sync_now_counts_the_new_emails(self):
        self.put(self.salesman, "INBOX", self.received(ALICE, "First"))
        account = self.mailbox(self.salesman)
        self.env["mail.sync.scheduler"]._cron_sync()
        mine = account.with_user(self.salesman)
        message = mine.action_sync_now()["params"]["message"]
        self.assertEqual(message, "Synced: no new email (1 recorded in all).")
        self.put(self.salesman, "INBOX", self.received(ALICE, "Second"))
        message = mine.action_sync_now()["params"]["message"]
        self.assertEqual(message, "Synced: 1 new email recorded (2 in all).")
        self.put(
            self.salesman,
            "INBOX",
            self.received(ALICE, "Third"),
            self.received(ALICE, "Fourth"),
        )
        message = mine.action_sync_now()["params"]["message"]
        self.assertEqual(message, "Synced: 2 new emails recorded (4 in all).")

    # 4 ----------------------------------------------------------------------
    def test_quoted_text_is_marked_for_the_chatter_text_unchanged(self):
        self.put(
            self.salesman, "INBOX", self.received(ALICE, "Re: Robots", text=QUOTED)
        )
        self.mailbox(self.salesman)
        self.env["mail.sync.scheduler"]._cron_sync()
        message = self.synced(self.lead)
        stored = (
            "<p>Forty, please.<br>\n<br>\nOn Monday, Sally wrote:<br>\n"
            "&gt; We do, how many?<br>\n&gt; Sally</p>"
        )
        self.assertEqual(str(message.body), stored, "stored as it was")
        data = Store(message, for_current_user=True).get_result()
        [shown] = [m["body"] for m in data["mail.message"] if m["id"] == message.id]
        self.assertIn('<span data-o-mail-quote="1">', shown)
        self.assertNotIn("Forty", shown[shown.index("data-o-mail-quote") :])
        self.assertEqual(
            re.sub(r'<span data-o-mail-quote="1">|</span>', "", shown),
            stored,
            "the chatter shows the same text, the quote marked",
        )

    # 5 ----------------------------------------------------------------------
    def test_a_leads_chatter_pages_in_date_order(self):
        """Messages written in another order than their dates (a history
        synced again after a Disconnect that removed it) page by date."""
        Message = self.env["mail.message"]
        today = self.lead.message_post(body="Called Alice today")
        old = [
            Message.create(
                {
                    "model": "crm.lead",
                    "res_id": self.lead.id,
                    "message_type": "email",
                    "subtype_id": self.subtype.id,
                    "body": f"<p>{day}</p>",
                    "date": datetime(2025, 3, day, 9),
                }
            )
            for day in (3, 1, 2)
        ]
        domain = [
            ("model", "=", "crm.lead"),
            ("res_id", "=", self.lead.id),
            ("id", "in", [today.id] + [m.id for m in old]),
        ]
        by_date = Message.with_context(mail_sync_date_order=True)
        first = by_date._message_fetch(domain, limit=2)["messages"]
        self.assertEqual(first.ids, [today.id, old[0].id])
        rest = by_date._message_fetch(domain, before=old[0].id, limit=5)["messages"]
        self.assertEqual(rest.ids, [old[2].id, old[1].id] + rest.ids[2:])
        newer = by_date._message_fetch(domain, after=old[2].id, limit=5)["messages"]
        self.assertEqual(newer.ids, [today.id, old[0].id])
        around = by_date._message_fetch(domain, around=old[0].id, limit=4)["messages"]
        self.assertEqual(around.ids[:3], [today.id, old[0].id, old[2].id])
        written_since = by_date.with_context(mail_sync_date_order="new")._message_fetch(
            domain, after=today.id, limit=5
        )["messages"]
        self.assertEqual(written_since.ids, [old[0].id, old[2].id, old[1].id])
        # Odoo's own order elsewhere
        self.assertEqual(Message._message_fetch(domain, limit=1)["messages"], old[2])

    # 6 ----------------------------------------------------------------------
    def test_reply_quotes_the_email_and_says_how_it_leaves(self):
        self.put(
            self.salesman,
            "INBOX",
            self.received(
                f"Alice Martin <{ALICE}>",
                "Robots?",
                text="Do you sell robots?\n",
                date=datetime(2026, 3, 1, 9),
            ),
        )
        account = self.mailbox(self.salesman)
        self.env["mail.sync.scheduler"]._cron_sync()
        self.lead.user_id = self.salesman
        lead = self.lead.with_user(self.salesman)
        last = lead.mail_sync_conversation()["threads"][0]["last_message_id"]
        action = lead.action_mail_sync_reply(last)
        composer = Form(
            self.env["mail.compose.message"]
            .with_user(self.salesman)
            .with_context(**action["context"])
        )
        body = str(composer.body)
        self.assertRegex(body, r"^<p><br/?></p>", "a line to write on, above the quote")
        self.assertRegex(body, r"On .*2026.*, Alice Martin &lt;alice.martin@")
        self.assertRegex(body, r'<blockquote data-o-mail-quote="1"[^>]*>.*Do you sell')
        # not confirmed: the company's server, and why
        self.assertIn("through the company's", composer.mail_sync_sending_route)
        self.assertIn("address is not confirmed", composer.mail_sync_sending_route)
        account.sudo().email_proof = "login"
        composer = Form(
            self.env["mail.compose.message"]
            .with_user(self.salesman)
            .with_context(**action["context"])
        )
        self.assertEqual(
            composer.mail_sync_sending_route,
            f"Leaves from {self.salesman.email} through your mailbox's own server "
            f"({self.smtp.host}), within its sending limits.",
        )
        # elsewhere the composer says nothing of it
        plain = Form(
            self.env["mail.compose.message"]
            .with_user(self.salesman)
            .with_context(default_model="crm.lead", default_res_ids=self.lead.ids)
        )
        self.assertFalse(plain.mail_sync_sending_route)

    # 7 ----------------------------------------------------------------------
    def test_the_mailbox_form_offers_no_new_mailbox(self):
        arch = (
            self.env["mail.sync.account"]
            .with_user(self.salesman)
            .get_views([(False, "form")])["views"]["form"]["arch"]
        )
        self.assertIn('create="false"', arch)
        self.assertIn('duplicate="false"', arch)

    # 8 ----------------------------------------------------------------------
    def test_lowering_the_limit_pends_the_most_recently_connected(self):
        users = (self.salesman, self.salesman_all, self.sales_manager)
        accounts = [self.mailbox(user) for user in users]
        for hours, account in zip((3, 2, 1), accounts, strict=True):
            account.sudo().connected_date = fields.Datetime.now() - timedelta(
                hours=hours
            )
        settings = Form(self.env["res.config.settings"].with_user(self.admin))
        with self.assertLogs("odoo.tests.form.onchange", "WARNING") as warned:
            settings.mail_sync_user_limit = 1
        warning = " ".join(warned.output)
        self.assertIn("With a limit of 1, the 2 most recently connected", warning)
        self.assertIn(self.sales_manager.name, warning)
        self.assertIn(self.salesman_all.name, warning)
        self.assertNotIn(self.salesman.name + " <", warning)
        settings.save().execute()
        self.assertEqual([a.state for a in accounts], ["enabled", "pending", "pending"])
        told = accounts[1].message_ids.filtered(
            lambda m: self.salesman_all.partner_id in m.partner_ids
        )
        self.assertIn("now syncs at most 1 mailboxes", told.body)
        self.assertEqual(self.billable(), 1)
        self.company.with_user(self.admin).mail_sync_user_limit = 2
        self.assertEqual([a.state for a in accounts], ["enabled", "enabled", "pending"])

    # 9 ----------------------------------------------------------------------
    def test_the_report_counts_emails_as_the_mailbox_does(self):
        """Alice's email is on her lead and her opportunity: two ledger lines,
        one email; the mailbox's Emails Recorded opens the report whose total
        of Emails it is."""
        self.Lead.create(
            {"name": "Acme phase 2", "type": "opportunity", "email_from": ALICE}
        )
        self.put(
            self.salesman,
            "INBOX",
            self.received(ALICE, "Robots?"),
            self.received(ALICE, "Price?"),
        )
        self.put(self.salesman, "Sent", make_message(self.salesman.email, ALICE))
        account = self.mailbox(self.salesman)
        self.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(account.synced_count, 3)
        action = account.with_user(self.salesman).action_open_synced_emails()
        Ledger = self.env["mail.sync.message"].with_user(self.salesman)
        self.assertEqual(Ledger.search_count(action["domain"]), 6, "lines")
        [[emails]] = Ledger._read_group(
            action["domain"], [], ["message_id:count_distinct"]
        )
        self.assertEqual(emails, account.synced_count)
        by_direction = dict(
            Ledger._read_group(
                action["domain"], ["direction"], ["message_id:count_distinct"]
            )
        )
        self.assertEqual(by_direction, {"in": 2, "out": 1})
        self.assertEqual(action["views"][0][1], "pivot")
        fields_info = Ledger.fields_get(["message_id"])["message_id"]
        self.assertEqual(fields_info["aggregator"], "count_distinct")

    # 10 ---------------------------------------------------------------------
    def test_settings_show_the_key_the_pool_and_the_health(self):
        self.mailbox(self.salesman)
        settings = self.env["res.config.settings"].with_user(self.admin).create({})
        fingerprint = (
            self.env["ir.config_parameter"]
            .sudo()
            .get_param("mail_sync_crm.secret_key_fingerprint")
        )
        self.assertTrue(fingerprint)
        self.assertTrue(settings.mail_sync_key_ok)
        self.assertEqual(settings.mail_sync_key_fingerprint, fingerprint)
        self.assertIn("In use:", settings.mail_sync_key_status)
        self.assertEqual(settings.mail_sync_poll_pool_size, 16)
        settings.mail_sync_poll_pool_size = 8
        settings.execute()
        self.assertEqual(self.env["mail.sync.news"]._pool_size(), 8)
        self.assertRegex(
            settings.mail_sync_health,
            r"^(Last scheduled sync .*, next .*|Scheduled sync not run yet, "
            r"first at .*) · 1 Enabled · 0 errors in the last 24 hours$",
        )
        self.assertTrue(settings.mail_sync_health_ok)

    # 12 ---------------------------------------------------------------------
    def test_validation_dialogs_are_titled(self):
        account = self.make_account(self.salesman, imap_password=False)
        with self.assertRaises(MailSyncUserError) as raised:
            account.with_user(self.salesman).action_connect()
        self.assertEqual(
            raised.exception.context["mail_sync_title"], "Settings missing"
        )
        with self.assertRaises(MailSyncUserError) as raised:
            account.with_user(self.salesman).action_sync_now()
        self.assertEqual(
            raised.exception.context["mail_sync_title"], "Mailbox not connected"
        )
