# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A mailbox's Completeness against a real Dovecot: per folder on the server,
scanned, recorded, held, skipped and the lag; the hourly reconciliation; the
administrators' "Falling Behind" filter."""

import time
from datetime import datetime, timedelta

from freezegun import freeze_time
from lxml import etree

from odoo.tests import tagged
from odoo.tools.safe_eval import safe_eval

from mail_sync_testing import damage_message

from ..lib.sync import completeness
from .sync_common import ALICE, BRUNO, SyncCase

STRANGER = "someone@elsewhere.example.com"


@tagged("post_install", "-at_install")
class TestCompleteness(SyncCase):
    def setUp(self):
        super().setUp()
        self.scheduler = self.env["mail.sync.scheduler"]
        self.reconciliation = self.env["mail.sync.completeness"]
        self.cron = self.env.ref("mail_sync_crm.ir_cron_mail_sync")

    def inbox(self, account):
        account.invalidate_recordset()
        account.folder_ids.invalidate_recordset()
        return account.folder_ids.filtered(lambda f: f.direction == "in")

    def figures(self, folder):
        return {
            "on the server": folder.server_count,
            "scanned": folder.scanned_count,
            "recorded": folder.recorded_count,
            "held": folder.held_count,
            "skipped": folder.skipped_count,
        }

    def synced_mailbox(self):
        """Five messages in the Inbox, three of them from leads' addresses
        (K = 3), synced by the scheduled run."""
        self.put(
            self.salesman,
            "INBOX",
            self.received(ALICE, "Robots"),
            self.received(STRANGER, "Newsletter"),
            self.received(BRUNO, "Contract"),
            self.received(STRANGER, "Lunch?"),
            self.received(ALICE, "Robots, again"),
        )
        account = self.mailbox(self.salesman)
        self.scheduler._cron_sync()
        self.assertEqual(account.state, "enabled", account.last_error)
        return account

    def triggers(self):
        return self.env["ir.cron.trigger"].search_count(
            [("cron_id", "=", self.cron.id)]
        )

    def test_after_a_sync_each_folder_adds_up(self):
        """Before: the form said nothing of what the server has. Now: N on the
        server, N scanned, K recorded, N - K skipped with their reason, 100 %,
        no lag, on the form's Completeness page and the list's columns."""
        account = self.synced_mailbox()
        inbox = self.inbox(account)
        self.assertEqual(
            self.figures(inbox),
            {"on the server": 5, "scanned": 5, "recorded": 3, "held": 0, "skipped": 2},
        )
        self.assertEqual(
            inbox.skipped_reasons,
            "No lead or opportunity has one of its addresses: 2",
            "the skip counts' reasons (mail.sync.skip.count)",
        )
        self.assertEqual((inbox.completeness, inbox.lag_seconds), (100.0, 0))
        self.assertEqual(inbox.lag_display, "-")
        sent = account.folder_ids - inbox
        self.assertEqual((sent.server_count, sent.scanned_count), (0, 0))
        # the owner reads the same on the mailbox
        mine = account.with_user(self.salesman)
        self.assertEqual(
            (mine.server_count, mine.scanned_count, mine.recorded_count),
            (5, 5, 3),
        )
        self.assertEqual(
            mine.completeness_summary, "100.0% scanned · 0 held, 2 skipped"
        )
        self.assertFalse(mine.falling_behind)

    def test_mail_after_the_sync_shows_as_lag_until_the_next_turn(self):
        account = self.synced_mailbox()
        self.put(self.salesman, "INBOX", self.received(ALICE, "Any news?"))
        time.sleep(1.1)  # the lag has whole seconds
        before = self.triggers()
        with self.assertLogs(
            "odoo.addons.mail_sync_crm.models.mail_sync_completeness", "INFO"
        ) as logs:
            summary = self.reconciliation._cron_reconcile()
        self.assertEqual((summary["mailboxes"], summary["gaps"]), (1, 1))
        self.assertTrue(
            any(
                f"mailbox {account.id} has a gap: 1 messages not yet scanned" in line
                for line in logs.output
            ),
            logs.output,
        )
        self.assertTrue(
            any("1 with a gap" in line for line in logs.output), logs.output
        )
        self.assertEqual(self.triggers(), before + 1, "the scheduled sync is woken")
        inbox = self.inbox(account)
        self.assertEqual((inbox.server_count, inbox.scanned_count), (6, 5))
        self.assertGreater(inbox.lag_seconds, 0)
        self.assertLess(inbox.completeness, 100.0)
        self.assertGreater(account.lag_seconds, 0)
        self.assertTrue(account.reconciled_date)

        self.scheduler._cron_sync()  # the next turn
        inbox = self.inbox(account)
        self.assertEqual(
            self.figures(inbox),
            {"on the server": 6, "scanned": 6, "recorded": 4, "held": 0, "skipped": 2},
        )
        self.assertEqual((inbox.lag_seconds, account.lag_seconds), (0, 0))
        self.assertFalse(account.waiting_since)

    def test_a_message_appended_with_an_old_date_lags_since_the_last_sync(self):
        """An INTERNALDATE of last year (an import) is not a year of lag."""
        account = self.synced_mailbox()
        self.mail.append(
            self.salesman.login,
            "INBOX",
            self.received(ALICE, "Imported"),
            date=datetime(2025, 1, 1).timestamp(),
        )
        self.reconciliation._cron_reconcile()
        inbox = self.inbox(account)
        self.assertEqual(inbox.unscanned_count, 1)
        self.assertGreaterEqual(inbox.waiting_since, inbox.caught_up_date)
        self.assertLess(inbox.lag_seconds, 3600)

    def test_held_messages_show_and_growing_ones_flag_the_mailbox(self):
        self.mail.fill_maildir(
            self.salesman.login,
            "INBOX",
            [self.received(ALICE, s) for s in ("Before", "Damaged", "After")],
        )
        damage_message(self.mail, self.salesman.login, 2)
        account = self.mailbox(self.salesman)
        self.scheduler._cron_sync()
        inbox = self.inbox(account)
        self.assertEqual(
            self.figures(inbox),
            {"on the server": 3, "scanned": 3, "recorded": 2, "held": 1, "skipped": 0},
        )
        self.assertEqual(
            account.completeness_summary, "100.0% scanned · 1 held, 0 skipped"
        )
        summary = self.reconciliation._cron_reconcile()
        self.assertEqual(summary["gaps"], 1, "a held message is a gap")
        self.assertEqual(
            (account.reconciled_held_count, account.held_growing), (1, False)
        )
        self.assertFalse(account.falling_behind, "held, but not more than before")

        # one more the server cannot deliver: held grows between reconciliations
        self.mail.fill_maildir(
            self.salesman.login, "INBOX", [self.received(ALICE, "Damaged too")]
        )
        damage_message(self.mail, self.salesman.login, 4)
        self.scheduler._cron_sync()
        self.assertEqual(self.inbox(account).held_count, 2)
        summary = self.reconciliation._cron_reconcile()
        self.assertEqual(summary["behind"], 1)
        account.invalidate_recordset()
        self.assertTrue(account.held_growing)
        self.assertTrue(account.falling_behind)

    def test_the_falling_behind_filter_finds_the_lagging_mailbox(self):
        """The administrators' list: its "Falling Behind" filter finds a
        mailbox whose lag passed the threshold, not the one caught up."""
        lagging = self.synced_mailbox()
        self.put(self.salesman, "INBOX", self.received(ALICE, "Waiting"))
        self.reconciliation._cron_reconcile()
        arch = etree.fromstring(
            self.env.ref("mail_sync_crm.mail_sync_account_view_search").arch
        )
        domain = safe_eval(
            arch.xpath("//filter[@name='falling_behind']")[0].get("domain")
        )
        Account = self.env["mail.sync.account"].with_user(self.admin)
        self.assertNotIn(lagging, Account.search(domain), "not yet past 30 minutes")
        threshold = completeness.DEFAULT_LAG_THRESHOLD_MINUTES
        with freeze_time(datetime.now() + timedelta(minutes=threshold + 1)):
            found = Account.search(domain)
            self.assertIn(lagging, found)
            self.assertTrue(found.filtered(lambda a: a == lagging).falling_behind)
            # what a sales manager's list shows of it
            rows = (
                self.env["mail.sync.account"]
                .with_user(self.sales_manager)
                .web_search_read(
                    domain,
                    {
                        name: {}
                        for name in (
                            "server_count",
                            "scanned_count",
                            "recorded_count",
                            "held_count",
                            "skipped_count",
                            "completeness",
                            "lag_display",
                            "falling_behind",
                        )
                    },
                )["records"]
            )
            row = next(r for r in rows if r["id"] == lagging.id)
            self.assertEqual(
                (row["server_count"], row["scanned_count"], row["recorded_count"]),
                (6, 5, 3),
            )
            self.assertEqual(row["completeness"], 83.3)
            self.assertEqual(row["lag_display"], f"{threshold + 1} min")
            self.assertTrue(row["falling_behind"])
            settings = self.env["res.config.settings"].with_user(self.admin).create({})
            self.assertIn("1 falling behind", settings.mail_sync_health)
            self.assertFalse(settings.mail_sync_health_ok)
        self.env["ir.config_parameter"].sudo().set_param(
            "mail_sync_crm.lag_threshold_minutes", str(threshold * 4)
        )
        with freeze_time(datetime.now() + timedelta(minutes=threshold + 1)):
            self.assertNotIn(lagging, Account.search(domain), "the threshold is set")
        self.scheduler._cron_sync()
        with freeze_time(datetime.now() + timedelta(days=1)):
            self.assertNotIn(lagging, Account.search(domain), "caught up")

    def test_a_server_refusing_the_count_changes_nothing_on_the_mailbox(self):
        """The reconciliation only counts: a refused login is reported in its
        summary; the mailbox keeps its status, its figures and its log (its
        next turn says what is wrong)."""
        account = self.synced_mailbox()
        before = self.figures(self.inbox(account))
        self.mail.add_user(self.salesman.login, "changed-elsewhere")
        time.sleep(1.1)  # Dovecot sees a password change the next second
        summary = self.reconciliation._cron_reconcile()
        self.assertEqual((summary["failed"], summary["gaps"]), (1, 0))
        self.assertEqual(account.state, "enabled")
        self.assertFalse(account.log_ids)
        self.assertFalse(account.reconciled_date)
        self.assertEqual(self.figures(self.inbox(account)), before)
