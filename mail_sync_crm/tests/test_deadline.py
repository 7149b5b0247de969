# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import threading
import time
from datetime import datetime, timedelta
from unittest.mock import patch

from odoo.tests import tagged

from mail_sync_testing import LatencyProxy

from ..store import MailSyncStore
from .sync_common import ALICE, SyncCase

DRIP = 0.3  # seconds per byte the server sends: no read ever times out


@tagged("post_install", "-at_install")
class TestDeadline(SyncCase):
    """Every mailbox's turn ends at its deadline, whatever its server does."""

    def turn_seconds(self, seconds):
        self.env["ir.config_parameter"].sudo().set_param(
            "mail_sync_crm.turn_seconds", str(seconds)
        )

    def test_a_dripping_server_does_not_hold_up_the_cron_run(self):
        """Before: a server that starts sending a byte every 0.3 s in the middle
        of a turn (every read well within its 30 s timeout) held the cron run
        for ever, the mailboxes after it were never reached, and the dripping
        one stayed Enabled. Now: its turn ends at the deadline (3 s here), it
        goes to Error with its own code (no progress was made), and the next
        mailbox is synced in the same run."""
        # Plain IMAP: over TLS, a read waits for a whole TLS record, and a
        # record dripped a byte at a time does time out.
        proxy = LatencyProxy(self.mail.host, self.mail.port, delay=0)
        proxy.start()
        self.addCleanup(proxy.stop)
        # The old code would wait for ever: the proxy gives up after a minute.
        safety = threading.Timer(60, proxy.stop)
        safety.start()
        self.addCleanup(safety.cancel)
        self.put(
            self.salesman_all,
            "INBOX",
            self.received(ALICE, "Still synced", user=self.salesman_all),
        )
        dripping = self.mailbox(
            self.salesman,
            imap_port=proxy.port,
            imap_encryption="none",
            imap_allow_self_signed=False,
        )
        working = self.mailbox(self.salesman_all)
        # The dripping mailbox goes first, whatever the run's order.
        dripping.sudo().last_sync_date = datetime.now() - timedelta(days=1)
        working.sudo().last_sync_date = datetime.now() - timedelta(hours=1)
        self.turn_seconds(3)
        original = MailSyncStore.held

        def selected_then_drip(store, folder, uidvalidity):
            if store.account == dripping:
                proxy.drip = DRIP  # the Inbox is selected; what follows drips
            return original(store, folder, uidvalidity)

        started = time.monotonic()
        with patch.object(MailSyncStore, "held", selected_then_drip):
            self.env["mail.sync.scheduler"]._cron_sync()
        elapsed = time.monotonic() - started
        self.assertEqual(self.synced(self.lead).mapped("subject"), ["Still synced"])
        self.assertEqual(working.state, "enabled")
        self.assertEqual(dripping.state, "error")
        self.assertEqual(dripping.log_ids[:1].code, "sync_deadline")
        self.assertIn("time limit", dripping.log_ids[:1].message)
        self.assertLess(elapsed, 45, "the run ended near the deadline")

    def test_a_slow_historical_sync_keeps_its_progress_and_is_no_error(self):
        """A turn cut by its deadline after some batches keeps them (the
        checkpoint moved), stays Enabled and logs nothing; the next turn
        resumes from the checkpoint."""
        for i in range(6):
            self.put(self.salesman, "INBOX", self.received(ALICE, f"Slow {i}"))
        account = self.mailbox(self.salesman)
        self.turn_seconds(4)
        original = MailSyncStore.checkpoint

        def slow_checkpoint(store, folder, progress):
            original(store, folder, progress)
            time.sleep(4.5)  # this batch took the whole turn

        Account = self.env["mail.sync.account"].with_context(mail_sync_batch_size=2)
        with patch.object(MailSyncStore, "checkpoint", slow_checkpoint):
            Account.env["mail.sync.scheduler"]._cron_sync()
        inbox = account.folder_ids.filtered(lambda f: f.direction == "in")
        self.assertEqual(inbox.last_uid, 2)
        self.assertEqual(len(self.synced(self.lead)), 2)
        self.assertEqual(account.state, "enabled")
        self.assertFalse(account.log_ids)
        self.assertFalse(account.sync_historical_done)
        self.turn_seconds(60)
        Account.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(len(self.synced(self.lead)), 6)
        self.assertTrue(account.sync_historical_done)

    def test_a_history_whose_headers_take_the_whole_turn_is_not_stuck(self):
        """Reading every header first (for date order) takes longer than the
        turn: that turn is an Error ("time limit"), and the next one goes
        folder by folder, batch after batch, and makes progress."""
        for i in range(6):
            self.put(self.salesman, "INBOX", self.received(ALICE, f"Big {i}"))
        account = self.mailbox(self.salesman)
        self.turn_seconds(4)
        original = MailSyncStore.known_pairs

        def slow_lookup(store, folder, candidates):
            time.sleep(1.5)  # three batches' lookups outlast the 4 s turn
            return original(store, folder, candidates)

        Account = self.env["mail.sync.account"].with_context(mail_sync_batch_size=2)
        with patch.object(MailSyncStore, "known_pairs", slow_lookup):
            Account.env["mail.sync.scheduler"]._cron_sync()
            self.assertEqual(account.state, "error")
            self.assertEqual(account.log_ids[:1].code, "sync_deadline")
            self.assertFalse(self.synced(self.lead))
            Account.env["mail.sync.scheduler"]._cron_sync()
        self.assertTrue(self.synced(self.lead), "batches were recorded")
        self.assertEqual(account.state, "enabled")
