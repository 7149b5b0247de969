# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The chatter of an open lead follows the mail (#19, "shows on the lead's
chatter in the browser without a reload"), in Chromium against a real Dovecot:
an email appended to the mailbox while the salesperson types on the lead is
recorded by the mailbox's turn, as the listener gives it (another thread, its
own cursor, committed), and appears in the chatter; the unsaved edit stays."""

import threading
import time

from odoo import SUPERUSER_ID, api
from odoo.tests import tagged

from odoo.addons.bus.models.bus import channel_with_db, dispatch, hashable

from mail_sync_testing import make_message

from . import test_first_hour_ui
from .common import MailSyncHttpCase
from .sync_common import ALICE

# static/tests/tours/mail_sync_new_emails_tour.js
TYPED_CHANNEL = "mail_sync_crm_tour_new_email_typed"
SUBJECT = "Robots: the live quote"


@tagged("post_install", "-at_install")
class TestNewEmailsUi(MailSyncHttpCase):
    def test_the_open_chatter_shows_a_new_email_and_keeps_the_edit(self):
        test_first_hour_ui.TestFirstHourUi.relay_bus(self)
        owner, salesperson = self.salesman_all, self.salesman
        lead = self.env["crm.lead"].create(
            {
                "name": "Acme robots",
                "type": "opportunity",
                "email_from": ALICE,
                "user_id": salesperson.id,
            }
        )
        account = self.connected_account(owner)
        self.env["mail.sync.scheduler"]._claim_turn(account.sudo())  # its history
        typed = hashable(channel_with_db(self.env.cr.dbname, TYPED_CHANNEL))
        # The thread reads no record of the test's own environment: the tour
        # clears its cache, and a read would run on the test's cursor without
        # the test lock, beside a request or the websocket's poll.
        login, email, account_id = owner.login, owner.email, account.id
        failures = []

        def listener_turn():
            """The email arrives once the salesperson has typed; the listener
            gives the mailbox its turn."""
            try:
                for _i in range(1200):
                    if dispatch._channels_to_ws.get(typed):
                        break
                    time.sleep(0.1)
                else:
                    raise AssertionError("the tour never got to typing")
                self.imap.append(
                    login, "INBOX", make_message(ALICE, email, subject=SUBJECT)
                )
                with self.registry.cursor() as cr:
                    env = api.Environment(cr, SUPERUSER_ID, {})
                    outcome = env["mail.sync.scheduler"]._claim_turn(
                        env["mail.sync.account"].browse(account_id)
                    )
                    if outcome is not None:
                        raise AssertionError(f"the turn ended with {outcome}")
            except Exception as exc:  # noqa: BLE001 - reported by the test
                failures.append(exc)

        worker = threading.Thread(target=listener_turn, name="listener-turn")
        worker.start()
        try:
            self.start_tour(
                f"/odoo/crm/{lead.id}",
                "mail_sync_crm_new_email_live_tour",
                login=salesperson.login,
                timeout=180,
            )
        finally:
            worker.join(120)
            # first: the thread's failure is why a tour would wait in vain
            self.assertFalse(failures)
        self.assertIn(SUBJECT, lead.message_ids.mapped("subject"))
