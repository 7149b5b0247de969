# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from datetime import datetime, timedelta

from freezegun import freeze_time

from odoo.tests import tagged

from ..lib import errors
from .common import MailSyncCase


@tagged("post_install", "-at_install")
class TestStatus(MailSyncCase):
    def test_pending_at_limit_and_promotion_on_disable(self):
        self.company.mail_sync_user_limit = 1
        first = self.connected_account(self.salesman)
        second = self.connected_account(self.salesman_all)
        self.assertEqual(first.state, "enabled")
        self.assertEqual(second.state, "pending")
        self.assertFalse(second.connected_date)
        self.assertEqual(self.billable(), 1)
        first.action_disable(keep_history=True)
        self.assertEqual(first.state, "draft")
        self.assertEqual(second.state, "enabled", "the oldest pending took the place")
        self.assertTrue(second.connected_date)
        self.assertEqual(self.billable(), 1)

    def test_promotion_when_limit_raised_oldest_first(self):
        self.company.mail_sync_user_limit = 1
        self.connected_account(self.salesman)
        with freeze_time(datetime.now() + timedelta(minutes=1)):
            older = self.connected_account(self.salesman_all)
        with freeze_time(datetime.now() + timedelta(minutes=2)):
            newer = self.connected_account(self.sales_manager)
        self.assertEqual((older.state, newer.state), ("pending", "pending"))
        self.company.with_user(self.admin).mail_sync_user_limit = 2
        self.assertEqual((older.state, newer.state), ("enabled", "pending"))
        self.company.mail_sync_user_limit = 0  # unlimited
        self.assertEqual(newer.state, "enabled")
        self.assertEqual(self.billable(), 3)

    def test_limits_are_per_company(self):
        self.company.mail_sync_user_limit = 1
        self.company_2.mail_sync_user_limit = 1
        self.connected_account(self.salesman)
        other = self.env["mail.sync.account"].with_user(self.other_company_user)
        account = other.with_company(self.company_2).create(
            self.connect_values(self.other_company_user)
        )
        account.action_connect()
        self.assertEqual(account.company_id, self.company_2)
        self.assertEqual(account.state, "enabled")

    def test_error_decays_to_connection_after_48_hours(self):
        account = self.connected_account(self.salesman)
        start = datetime.now()
        with freeze_time(start):
            account.env["mail.sync.turn"]._record_error(
                account, errors.MailSyncError("timeout", side="imap")
            )
        self.assertEqual(account.state, "error")
        self.assertEqual(self.billable(), 1)
        Account = self.env["mail.sync.account"]
        with freeze_time(start + timedelta(hours=47)):
            account.env["mail.sync.turn"]._record_error(
                account, errors.MailSyncError("timeout", side="imap")
            )
            Account.env["mail.sync.status"]._cron_update_status()
        self.assertEqual(account.state, "error", "still retried at 47 h")
        with freeze_time(start + timedelta(hours=49)):
            Account.env["mail.sync.status"]._cron_update_status()
        self.assertEqual(account.state, "connection")
        self.assertEqual(self.billable(), 0, "not billed")
        notified = account.message_ids.filtered(
            lambda m: self.salesman.partner_id in m.partner_ids
        )
        self.assertIn("two days", notified.body)
        # Reconnecting is the way back.
        account.action_connect()
        self.assertEqual(account.state, "enabled")
        self.assertFalse(account.first_error_date)

    def test_success_clears_error(self):
        account = self.connected_account(self.salesman)
        account.env["mail.sync.turn"]._record_error(
            account, errors.MailSyncError("connection_lost", side="imap")
        )
        self.assertEqual(account.state, "error")
        self.assertTrue(account.first_error_date)
        self.assertEqual(account.log_ids.code, "connection_lost")
        account.env["mail.sync.turn"]._record_success(account)
        self.assertEqual(account.state, "enabled")
        self.assertFalse(account.first_error_date)

    def test_errors_count_from_the_last_recovery(self):
        account = self.connected_account(self.salesman)
        account.env["mail.sync.turn"]._record_error(
            account, errors.MailSyncError("timeout", side="imap")
        )
        self.assertEqual((account.log_count, account.log_total), (1, 1))
        account.action_connect()  # Test & Reconnect works
        self.assertEqual(account.state, "enabled")
        self.assertEqual(
            (account.log_count, account.log_total), (0, 1), "no stale Errors 1"
        )
        account.env["mail.sync.turn"]._record_error(
            account, errors.MailSyncError("timeout", side="imap")
        )
        self.assertEqual((account.log_count, account.log_total), (1, 2))
        account.env["mail.sync.turn"]._record_success(account)  # the next sync works
        self.assertEqual((account.log_count, account.log_total), (0, 2))

    def test_decay_frees_a_place_for_pending(self):
        self.company.mail_sync_user_limit = 1
        failing = self.connected_account(self.salesman)
        waiting = self.connected_account(self.salesman_all)
        start = datetime.now()
        with freeze_time(start):
            failing.env["mail.sync.turn"]._record_error(
                failing, errors.MailSyncError("timeout", side="imap")
            )
        with freeze_time(start + timedelta(hours=49)):
            self.env["mail.sync.status"]._cron_update_status()
        self.assertEqual(failing.state, "connection")
        self.assertEqual(waiting.state, "enabled")

    def test_log_vacuum_after_30_days(self):
        account = self.connected_account(self.salesman)
        account.env["mail.sync.turn"]._record_error(
            account, errors.MailSyncError("timeout", side="imap")
        )
        old = account.log_ids
        account.env["mail.sync.turn"]._record_error(
            account, errors.MailSyncError("timeout", side="imap")
        )
        recent = account.log_ids - old
        self.env.cr.execute(
            "UPDATE mail_sync_log SET create_date = %s WHERE id = %s",
            [datetime.now() - timedelta(days=31), old.id],
        )
        self.env["mail.sync.log"]._gc_old_entries()
        self.assertFalse(old.exists())
        self.assertTrue(recent.exists())

    def test_configured_flag_for_the_top_bar(self):
        Users = self.env["res.users"]
        self.assertFalse(Users.with_user(self.salesman)._mail_sync_configured())
        self.connected_account(self.salesman)
        self.assertTrue(Users.with_user(self.salesman)._mail_sync_configured())
        self.assertFalse(Users.with_user(self.salesman_all)._mail_sync_configured())

    def test_top_bar_tells_each_status_apart(self):
        """Not configured, Pending, Error and Connection each get their own top-bar
        state (the tours of test_ui show them in the browser)."""
        Users = self.env["res.users"].with_user(self.salesman)
        self.assertEqual(Users._mail_sync_top_bar_state(), "none")
        account = self.make_account(self.salesman)
        self.assertEqual(Users._mail_sync_top_bar_state(), "none")  # not connected
        for state in ("pending", "error", "connection", "enabled"):
            account.sudo().state = state
            self.assertEqual(Users._mail_sync_top_bar_state(), state)
