# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The first hour of a salesperson and an administrator, in Chromium (issue 22;
the tours are in static/tests/tours/mail_sync_first_hour_tours.js)."""

from datetime import datetime
from unittest.mock import patch

from odoo.tests import tagged

from odoo.addons.bus.models.bus import channel_with_db, dispatch, hashable
from odoo.addons.bus.websocket import WebsocketConnectionHandler

from mail_sync_testing import DovecotServer, make_message

from .common import PASSWORD, MailSyncHttpCase, login_password, started

ALICE = "alice.martin@acme.example.com"
QUOTED = "Forty, please.\n\nOn Monday, you wrote:\n> We do, how many?\n> Sally\n"


@tagged("post_install", "-at_install")
class TestFirstHourUi(MailSyncHttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tour_user = cls._user("tour_sales", "sales_team.group_sale_salesman")

    def relay_bus(self):
        """Let the browser's bus receive what the server sends it. Odoo's test
        mode refuses websockets, and a test's commits never notify the bus
        dispatcher (post-commit hooks are dropped): the websocket is allowed,
        and each notification is handed to the subscribed websockets once
        written, as the dispatcher does on a real commit."""
        self.startPatcher(
            patch.object(
                WebsocketConnectionHandler, "websocket_allowed", return_value=True
            )
        )
        Bus = type(self.env["bus.bus"])
        original = Bus._sendone
        dbname = self.env.cr.dbname

        def sendone(bus, target, notification_type, message):
            result = original(bus, target, notification_type, message)
            channel = hashable(channel_with_db(dbname, target))

            def relay():
                for websocket in list(dispatch._channels_to_ws.get(channel, ())):
                    websocket.trigger_notification_dispatching()

            bus.env.cr.precommit.add(relay)  # after the bus writes its row
            return result

        self.startPatcher(patch.object(Bus, "_sendone", sendone))

    # 1, 2, 12 ---------------------------------------------------------------
    def test_connect_and_disconnect_in_the_browser(self):
        self.relay_bus()
        account = self.make_account(self.tour_user, imap_password=False)
        self.start_tour(
            "/odoo",
            "mail_sync_crm_first_hour_connect_tour",
            login=self.tour_user.login,
            timeout=180,
        )
        self.assertEqual(account.state, "draft")

    # 7 ----------------------------------------------------------------------
    def test_a_new_mailbox_from_my_mail_sync(self):
        user = self._user("tour_new", "sales_team.group_sale_salesman")
        self.start_tour(
            "/odoo/action-mail_sync_crm.mail_sync_account_action_my",
            "mail_sync_crm_first_hour_new_mailbox_tour",
            login=user.login,
            timeout=180,
        )
        account = self.env["mail.sync.account"].search([("user_id", "=", user.id)])
        self.assertEqual(account.imap_host, "imap.example.com")

    # 4, 5, 6, 9 -------------------------------------------------------------
    def test_a_history_synced_again_in_the_chatter(self):
        """Disconnect (remove history), then connect again: the emails of 2025
        are written again after today's note, and still read below it."""
        user = self.tour_user
        mail = started(DovecotServer(), self.addCleanup)
        mail.add_user(user.login, PASSWORD)
        lead = self.env["crm.lead"].create(
            {
                "name": "Acme robots",
                "type": "opportunity",
                "email_from": ALICE,
                "contact_name": "Alice Martin",
                "user_id": user.id,
            }
        )
        alice = f"Alice Martin <{ALICE}>"
        mail.append(
            user.login,
            "INBOX",
            make_message(
                alice, user.email, subject="Robots?", date=datetime(2025, 3, 1, 9)
            ),
        )
        mail.append(
            user.login,
            "INBOX",
            make_message(
                alice,
                user.email,
                subject="Re: Robots?",
                date=datetime(2025, 3, 5, 9),
                text=QUOTED,
            ),
        )
        mail.append(
            user.login,
            "Sent",
            make_message(
                user.email, ALICE, subject="Re: Robots?", date=datetime(2025, 3, 2, 9)
            ),
        )
        Account = self.env["mail.sync.account"]
        account = self.connected_account(
            user, imap_host=mail.host, imap_port=mail.ssl_port
        )
        Account.env["mail.sync.scheduler"]._cron_sync()
        note = lead.with_user(user).message_post(body="Called Alice today")
        account.with_user(user).action_disable(keep_history=False)
        self.assertFalse(lead.message_ids.filtered(lambda m: m.message_type == "email"))
        mine = account.with_user(user)
        mine.write({"imap_password": PASSWORD})
        mine.action_connect()
        Account.env["mail.sync.scheduler"]._cron_sync()
        emails = lead.message_ids.filtered(lambda m: m.message_type == "email")
        self.assertEqual(len(emails), 3)
        self.assertGreater(min(emails.ids), note.id, "written again after the note")
        # the chatter's own route pages by date
        self.authenticate(user.login, login_password(user.login))
        page = self.make_jsonrpc_request(
            "/mail/thread/messages",
            {"thread_model": "crm.lead", "thread_id": lead.id, "limit": 30},
        )
        ids = page["messages"]
        self.assertEqual(ids[0], note.id, "today's note first")
        self.assertEqual(
            [i for i in ids if i in emails.ids],
            emails.sorted(lambda m: m.date, reverse=True).ids,
        )
        account.sudo().email_proof = "login"  # Reply then leaves through it
        self.start_tour(
            f"/odoo/crm/{lead.id}",
            "mail_sync_crm_first_hour_lead_tour",
            login=user.login,
            timeout=180,
        )
        self.start_tour(
            "/odoo/action-mail_sync_crm.mail_sync_message_action_report",
            "mail_sync_crm_first_hour_report_tour",
            login=user.login,
            timeout=180,
        )

    # 10, 12 -----------------------------------------------------------------
    def test_settings_in_the_browser(self):
        self.connected_account(self.salesman)  # a key and a mailbox to tell of
        self.start_tour(
            "/odoo/action-crm.crm_config_settings_action",
            "mail_sync_crm_first_hour_settings_tour",
            login=self.admin.login,
            timeout=180,
        )
