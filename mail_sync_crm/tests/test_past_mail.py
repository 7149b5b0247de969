# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Past mail for leads added later (#20, item 1), against a real Dovecot: the
request queued by the lead, found by the scheduled action, exactly once."""

import threading
import time
from datetime import datetime, timedelta

from odoo import SUPERUSER_ID, api, sql_db
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from odoo.addons.bus.models.bus import channel_with_db, dispatch, hashable

from mail_sync_testing import make_message

from ..models.advisory_locks import MAILBOX_SYNC as MAILBOX_LOCK
from . import test_first_hour_ui
from .common import MailSyncHttpCase
from .sync_common import SyncCase

CAROL = "carol.past@client.example.com"
DAYS_AGO = datetime.now() - timedelta(days=30)


def _day(n):
    return DAYS_AGO + timedelta(days=n)


class PastMailMixin:
    def history(self, *users, message_ids=None):
        """Carol's older conversation with the first of ``users``, written out
        of date order (and a message of someone else), the same messages in the
        Inbox and Sent of each of ``users``."""
        ids = message_ids or {}
        me = users[0].email
        inbox = [
            make_message(
                CAROL, me, subject="C3 her reply", date=_day(3), message_id=ids.get(3)
            ),
            make_message(
                CAROL, me, subject="C1 first", date=_day(1), message_id=ids.get(1)
            ),
            make_message(
                "other@elsewhere.example.com", me, subject="Not hers", date=_day(2)
            ),
        ]
        sent = make_message(
            me, CAROL, subject="C2 my answer", date=_day(2), message_id=ids.get(2)
        )
        for user in users:
            self.put(user, "INBOX", *inbox)
            self.put(user, "Sent", sent)

    @staticmethod
    def older_mail(user):
        """(folder, raw) of Carol's older conversation with ``user``."""
        return [
            (
                "INBOX",
                make_message(CAROL, user.email, subject="C1 first", date=_day(1)),
            ),
            (
                "Sent",
                make_message(user.email, CAROL, subject="C2 my answer", date=_day(2)),
            ),
            (
                "INBOX",
                make_message(CAROL, user.email, subject="C3 reply", date=_day(3)),
            ),
        ]

    def connected_earlier(self, user):
        account = self.mailbox(user)
        # Connected an hour ago: a lead created now is "added later".
        account.sudo().connected_date = datetime.now() - timedelta(hours=1)
        return account

    def run_turns(self):
        """Every mailbox's normal turn (the scheduled sync)."""
        self.env["mail.sync.scheduler"]._cron_sync()

    def find_past_mail(self):
        self.env["mail.sync.history.request"]._cron_find_past_mail()

    def requests(self, lead):
        return self.env["mail.sync.history.request"].search([("lead_id", "=", lead.id)])

    def set_mode(self, mode):
        self.env.company.mail_sync_past_mail = mode


@tagged("post_install", "-at_install")
class TestPastMail(PastMailMixin, SyncCase):
    def test_a_new_lead_gets_its_past_mail_once_in_the_background(self):
        self.history(self.salesman)
        self.connected_earlier(self.salesman)
        cron = self.env.ref("mail_sync_crm.ir_cron_mail_sync_past_mail")
        triggers = self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])
        lead = self.Lead.create({"name": "Carol's deal", "email_from": CAROL})
        # create() returned with the request queued and nothing read yet.
        request = self.requests(lead)
        self.assertEqual(
            (request.state, request.address, request.trigger),
            ("queued", CAROL, "auto"),
        )
        self.assertFalse(self.synced(lead))
        self.assertEqual(lead.mail_sync_past_state, "looking")
        self.assertEqual(
            self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]),
            triggers + 1,
            "the scheduled action is triggered, for after the commit",
        )
        self.run_turns()
        self.assertFalse(self.synced(lead), "the turn keeps the seed's rule")

        self.find_past_mail()
        self.assertEqual(
            self.synced(lead).sorted("id").mapped("subject"),
            ["C1 first", "C2 my answer", "C3 her reply"],
            "Inbox and Sent together, in the order it was written",
        )
        self.assertEqual(
            (request.state, request.recorded_count, request.found_count),
            ("done", 3, 3),
        )
        lead.invalidate_recordset()
        self.assertEqual(
            (lead.mail_sync_past_state, lead.mail_sync_past_count), ("done", 3)
        )

        # The turn, a second search: nothing twice.
        self.run_turns()
        lead.action_mail_sync_find_past_emails()
        self.assertEqual(len(self.requests(lead)), 2)
        self.find_past_mail()
        self.assertEqual(len(self.synced(lead)), 3)
        self.assertEqual(self.requests(lead).mapped("recorded_count"), [3, 0])

    def test_two_mailboxes_holding_the_same_thread(self):
        ids = {n: f"<carol-thread-{n}@client.example.com>" for n in (1, 2, 3)}
        self.history(self.salesman, self.salesman_all, message_ids=ids)
        first = self.connected_earlier(self.salesman)
        second = self.connected_earlier(self.salesman_all)
        lead = self.Lead.create({"name": "Carol's deal", "email_from": CAROL})
        self.find_past_mail()
        self.assertEqual(
            self.synced(lead).sorted("id").mapped("subject"),
            ["C1 first", "C2 my answer", "C3 her reply"],
        )
        request = self.requests(lead)
        self.assertEqual(request.done_account_ids, first | second)
        self.assertEqual(request.recorded_count, 3, "each email counted once")
        rows = self.env["mail.sync.message"].search([("lead_id", "=", lead.id)])
        self.assertEqual(len(rows.filtered("introduced")), 3)
        self.assertEqual(set(rows.mapped("account_id")), {first, second})

    def test_never_while_the_mailbox_is_being_synced(self):
        """A mailbox whose turn holds its lock (another worker) is left for the
        next run, triggered half a minute later; the lead waits, then gets it."""
        self.history(self.salesman)
        account = self.connected_earlier(self.salesman)
        lead = self.Lead.create({"name": "Carol's deal", "email_from": CAROL})
        cron = self.env.ref("mail_sync_crm.ir_cron_mail_sync_past_mail")
        other = sql_db.db_connect(self.env.cr.dbname).cursor()
        try:
            other.execute("SELECT pg_advisory_lock(%s, %s)", [MAILBOX_LOCK, account.id])
            self.find_past_mail()
            request = self.requests(lead)
            self.assertEqual(request.state, "queued")
            self.assertFalse(request.done_account_ids)
            self.assertFalse(self.synced(lead))
            later = self.env["ir.cron.trigger"].search(
                [("cron_id", "=", cron.id)], order="id desc", limit=1
            )
            self.assertGreater(later.call_at, datetime.now() + timedelta(seconds=20))
            other.execute(
                "SELECT pg_advisory_unlock(%s, %s)", [MAILBOX_LOCK, account.id]
            )
        finally:
            other.close()
        self.find_past_mail()
        self.assertEqual(request.state, "done")
        self.assertEqual(len(self.synced(lead)), 3)

    def test_a_blocked_address_gets_nothing(self):
        """The company's own domain is never recorded: a lead with a colleague's
        address gets none of their mail, and the search says it found none."""
        colleague = "pat@ourcompany.example.com"
        self.put(
            self.salesman,
            "INBOX",
            make_message(colleague, self.salesman.email, subject="Lunch", date=_day(1)),
        )
        self.connected_earlier(self.salesman)
        lead = self.Lead.create({"name": "Internal", "email_from": colleague})
        self.find_past_mail()
        request = self.requests(lead)
        self.assertEqual((request.state, request.recorded_count), ("done", 0))
        self.assertFalse(self.synced(lead))

    def test_off_gives_the_seeds_rule(self):
        self.set_mode("off")
        self.history(self.salesman)
        self.connected_earlier(self.salesman)
        lead = self.Lead.create({"name": "Carol's deal", "email_from": CAROL})
        self.assertFalse(self.requests(lead))
        self.assertEqual(lead.mail_sync_past_mode, "off")
        self.run_turns()
        self.find_past_mail()
        self.assertFalse(self.synced(lead))
        with self.assertRaises(UserError):
            lead.action_mail_sync_find_past_emails()
        self.assertFalse(self.requests(lead))

    def test_on_request_waits_for_the_button(self):
        self.set_mode("on_request")
        self.history(self.salesman)
        self.connected_earlier(self.salesman)
        lead = self.Lead.with_user(self.salesman).create(
            {"name": "Carol's deal", "email_from": CAROL}
        )
        self.assertFalse(self.requests(lead))
        self.find_past_mail()
        self.assertFalse(self.synced(lead))
        self.assertEqual(lead.mail_sync_past_state, "none")
        self.assertTrue(lead.with_user(self.salesman).mail_sync_past_can_search)

        lead.with_user(self.salesman).action_mail_sync_find_past_emails()
        request = self.requests(lead)
        self.assertEqual(
            (request.state, request.trigger, request.requested_by),
            ("queued", "button", self.salesman),
        )
        self.find_past_mail()
        self.assertEqual(len(self.synced(lead)), 3)

    def test_a_new_address_is_searched(self):
        self.history(self.salesman)
        self.connected_earlier(self.salesman)
        lead = self.Lead.create(
            {"name": "Someone", "email_from": "first@client.example.com"}
        )
        self.find_past_mail()
        self.assertFalse(self.synced(lead))
        lead.email_from = CAROL
        self.assertEqual(self.requests(lead).sorted("id")[-1].address, CAROL)
        self.find_past_mail()
        self.assertEqual(len(self.synced(lead)), 3)

    def test_salesperson_cannot_search_for_a_lead_they_cannot_write(self):
        self.history(self.salesman)
        self.connected_earlier(self.salesman)
        self.set_mode("on_request")
        theirs = self.Lead.create(
            {"name": "Not mine", "email_from": CAROL, "user_id": self.sales_manager.id}
        )
        with self.assertRaises(AccessError):
            theirs.with_user(self.salesman).action_mail_sync_find_past_emails()
        self.assertFalse(self.requests(theirs))
        other = self.Lead.create(
            {
                "name": "Other company's",
                "email_from": CAROL,
                "company_id": self.company_2.id,
            }
        )
        with self.assertRaises(AccessError):
            other.with_user(self.salesman).action_mail_sync_find_past_emails()
        self.assertFalse(self.requests(other))


@tagged("post_install", "-at_install")
class TestPastMailRpc(PastMailMixin, MailSyncHttpCase):
    def test_rpc_cannot_queue_for_a_lead_not_writable(self):
        self.env.company.mail_sync_past_mail = "on_request"
        account = self.connected_account(self.salesman)
        self.assertEqual(account.state, "enabled")
        theirs = self.env["crm.lead"].create(
            {"name": "Not mine", "email_from": CAROL, "user_id": self.sales_manager.id}
        )
        mine = self.env["crm.lead"].create(
            {"name": "Mine", "email_from": CAROL, "user_id": self.salesman.id}
        )
        Request = self.env["mail.sync.history.request"]
        self.assertIn(
            "doesn't have 'write' access",
            self.refused(
                self.salesman,
                "crm.lead",
                "action_mail_sync_find_past_emails",
                [theirs.id],
            ),
        )
        self.assertFalse(Request.search([("lead_id", "=", theirs.id)]))
        # The request model itself: not created, not read, its methods private.
        self.refused(
            self.salesman,
            "mail.sync.history.request",
            "create",
            {"lead_id": theirs.id, "address": CAROL, "company_id": self.company.id},
        )
        self.refused(self.salesman, "mail.sync.history.request", "_queue", [theirs.id])
        self.refused(
            self.salesman,
            "mail.sync.history.request",
            "search_read",
            [],
        )
        # A lead they may write: queued, with no IMAP work in the call.
        self.rpc(
            self.salesman, "crm.lead", "action_mail_sync_find_past_emails", [mine.id]
        )
        request = Request.search([("lead_id", "=", mine.id)])
        self.assertEqual(
            (request.state, request.requested_by), ("queued", self.salesman)
        )
        # Another company's salesperson: not on this company's lead, and their
        # own company has no connected mailbox to search.
        self.refused(
            self.other_company_user,
            "crm.lead",
            "action_mail_sync_find_past_emails",
            [theirs.id],
        )
        self.assertFalse(Request.search([("lead_id", "=", theirs.id)]))
        own = self.env["crm.lead"].create(
            {
                "name": "Theirs",
                "email_from": CAROL,
                "company_id": self.company_2.id,
                "user_id": self.other_company_user.id,
            }
        )
        self.company_2.mail_sync_past_mail = "on_request"
        self.rpc(
            self.other_company_user,
            "crm.lead",
            "action_mail_sync_find_past_emails",
            [own.id],
        )
        self.assertFalse(
            Request.search([("lead_id", "=", own.id)]),
            "no mailbox of their company: nothing queued, none of company 1's read",
        )
        self.assertEqual(
            own.with_user(self.other_company_user).mail_sync_past_state, "none"
        )

    def test_find_past_emails_in_the_browser(self):
        """On request only: the salesperson presses Find past emails on the lead,
        which says it is looking; once the search ran, it says what it found and
        the emails are in its history."""
        self.env.company.mail_sync_past_mail = "on_request"
        for raw in self.older_mail(self.salesman):
            self.imap.append(self.salesman.login, *raw)
        account = self.connected_account(self.salesman)
        account.sudo().connected_date = datetime.now() - timedelta(hours=1)
        lead = self.env["crm.lead"].create(
            {"name": "Carol's deal", "email_from": CAROL, "user_id": self.salesman.id}
        )
        self.start_tour(
            f"/odoo/crm/{lead.id}",
            "mail_sync_crm_find_past_emails_tour",
            login=self.salesman.login,
            timeout=180,
        )
        request = self.requests(lead)
        self.assertEqual(
            (request.state, request.requested_by), ("queued", self.salesman)
        )
        self.find_past_mail()
        self.assertEqual(request.recorded_count, 3)
        self.start_tour(
            f"/odoo/crm/{lead.id}",
            "mail_sync_crm_past_emails_found_tour",
            login=self.salesman.login,
            timeout=180,
        )

    def test_the_form_follows_the_search_without_a_reload(self):
        """(A mailbox of its own: the class's Dovecot keeps what other tests
        put.) Automatic: the salesperson's new lead shows "Looking for past
        emails…"; when the scheduled action finds them (another thread, as a
        cron worker), the open form reloads by itself (the bus): the emails,
        then "3 past emails found"."""
        test_first_hour_ui.TestFirstHourUi.relay_bus(self)
        for raw in self.older_mail(self.salesman_all):
            self.imap.append(self.salesman_all.login, *raw)
        account = self.connected_account(self.salesman_all)
        account.sudo().connected_date = datetime.now() - timedelta(hours=1)
        lead = (
            self.env["crm.lead"]
            .with_user(self.salesman_all)
            .create({"name": "Carol's deal", "email_from": CAROL})
        )
        self.assertEqual(self.requests(lead).state, "queued")
        channel = hashable(
            channel_with_db(self.env.cr.dbname, self.salesman_all.partner_id)
        )
        failures = []

        def cron_worker():
            try:
                # the page is open and listening to the salesperson's channel
                for _i in range(600):
                    if dispatch._channels_to_ws.get(channel):
                        break
                    time.sleep(0.1)
                time.sleep(1)
                with self.registry.cursor() as cr:
                    env = api.Environment(cr, SUPERUSER_ID, {})
                    env["mail.sync.history.request"]._cron_find_past_mail()
            except Exception as exc:  # noqa: BLE001 - reported by the test
                failures.append(exc)

        worker = threading.Thread(target=cron_worker, name="past-mail-cron")
        worker.start()
        try:
            self.start_tour(
                f"/odoo/crm/{lead.id}",
                "mail_sync_crm_past_emails_live_tour",
                login=self.salesman_all.login,
                timeout=180,
            )
        finally:
            worker.join(120)
            # first: the thread's failure is why a tour would wait in vain
            self.assertFalse(failures)
        self.assertEqual(self.requests(lead).recorded_count, 3)
