# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A lead's synced history reads in the order the mail was sent, across the
Inbox and the Sent folder: the chatter lists messages by id, so the sync
writes them in date order."""

from datetime import datetime, timedelta
from unittest.mock import patch

from odoo.tests import tagged

from mail_sync_testing import make_message

from ..store import MailSyncStore
from .common import PASSWORD
from .sync_common import ALICE, SyncCase

DAY = datetime(2025, 10, 1, 9, 0)


@tagged("post_install", "-at_install")
class TestChronology(SyncCase):
    def sent(self, to, subject, date):
        return make_message(self.salesman.email, to, subject=subject, date=date)

    def on_chatter(self, lead):
        """The synced subjects as the chatter serves them (its own fetch: by
        id, newest first), oldest first."""
        domain = [
            ("res_id", "=", lead.id),
            ("model", "=", "crm.lead"),
            ("message_type", "!=", "user_notification"),
            ("subtype_id", "=", self.subtype.id),
        ]
        fetched = self.env["mail.message"]._message_fetch(domain, limit=100)
        return fetched["messages"].mapped("subject")[::-1]

    def fill_interleaved(self):
        # Arrival (UID) order differs from date order in each folder, and the
        # two folders interleave in time.
        self.put(
            self.salesman,
            "INBOX",
            self.received(ALICE, "Day 5 reply", date=DAY + timedelta(days=5)),
            self.received(ALICE, "Day 1 question", date=DAY + timedelta(days=1)),
            self.received(ALICE, "Day 3 order", date=DAY + timedelta(days=3)),
        )
        self.put(
            self.salesman,
            "Sent",
            self.sent(ALICE, "Day 4 invoice", DAY + timedelta(days=4)),
            self.sent(ALICE, "Day 2 answer", DAY + timedelta(days=2)),
            self.sent(ALICE, "Day 6 thanks", DAY + timedelta(days=6)),
        )

    def test_history_across_inbox_and_sent_reads_in_date_order(self):
        self.fill_interleaved()
        self.mailbox(self.salesman)
        self.env["mail.sync.scheduler"]._cron_sync()
        expected = [
            "Day 1 question",
            "Day 2 answer",
            "Day 3 order",
            "Day 4 invoice",
            "Day 5 reply",
            "Day 6 thanks",
        ]
        self.assertEqual(self.on_chatter(self.lead), expected)
        # later mail arriving in both folders at once keeps the order too
        self.put(
            self.salesman,
            "Sent",
            self.sent(ALICE, "Day 9 follow-up", DAY + timedelta(days=9)),
        )
        self.put(
            self.salesman,
            "INBOX",
            self.received(ALICE, "Day 8 question", date=DAY + timedelta(days=8)),
        )
        self.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(
            self.on_chatter(self.lead),
            [*expected, "Day 8 question", "Day 9 follow-up"],
        )

    def test_a_history_cut_midway_resumes_in_date_order(self):
        """A run that stops after its first chunk (the connection dies) keeps
        what it wrote; the next run writes the rest after it, still in order,
        each message once."""
        self.fill_interleaved()
        account = self.mailbox(self.salesman)
        original = MailSyncStore.checkpoint
        calls = []

        def checkpoint_then_kill(store, folder, progress):
            original(store, folder, progress)
            calls.append(progress.last_uid)
            if len(calls) == 2:  # both folders checkpointed after one chunk
                self.mail.add_user(self.salesman.login, "changed-password")
                self.mail.kill_imap_children()

        Account = self.env["mail.sync.account"].with_context(mail_sync_batch_size=2)
        with patch.object(MailSyncStore, "checkpoint", checkpoint_then_kill):
            Account.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(account.state, "error")
        self.assertEqual(self.on_chatter(self.lead), ["Day 1 question", "Day 2 answer"])
        # the mailbox's banner: "2 of 6 messages, 2 emails on 1 leads so far"
        self.assertFalse(account.sync_historical_done)
        self.assertEqual((account.sync_scanned, account.sync_total), (2, 6))
        self.assertEqual((account.synced_count, account.synced_lead_count), (2, 1))

        self.mail.add_user(self.salesman.login, PASSWORD)
        Account.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(account.state, "enabled")
        self.assertEqual(
            self.on_chatter(self.lead),
            [
                "Day 1 question",
                "Day 2 answer",
                "Day 3 order",
                "Day 4 invoice",
                "Day 5 reply",
                "Day 6 thanks",
            ],
        )
        self.assertTrue(account.sync_historical_done)
        # the summary: "6 emails recorded on 1 leads"
        self.assertEqual((account.synced_count, account.synced_lead_count), (6, 1))
