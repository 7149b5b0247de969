# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo.exceptions import UserError
from odoo.tests import tagged

from mail_sync_testing import damage_message, repair_message

from ..lib.imap.session import HEADER_ITEM
from ..lib.sync.held import MAX_ATTEMPTS
from .sync_common import ALICE, SyncCase


@tagged("post_install", "-at_install")
class TestUndeliverable(SyncCase):
    """A message the server cannot deliver (its file unreadable to Dovecot)
    costs itself only."""

    def fill(self, *subjects):
        self.mail.fill_maildir(
            self.salesman.login,
            "INBOX",
            [self.received(ALICE, subject) for subject in subjects],
        )

    def subjects(self):
        return sorted(self.synced(self.lead).mapped("subject"))

    def test_a_message_the_server_cannot_deliver_costs_itself_only(self):
        """Before: the whole batch failed on every run ("connection lost", the
        checkpoint stuck, mail behind it never arriving, the mailbox in Error).
        Now: the others are recorded, new mail arrives, the damaged one is
        tried on the next runs, then skipped with a log entry whose Retry
        fetches it again once it is repaired."""
        self.fill("Before", "Damaged", "After")
        path = damage_message(self.mail, self.salesman.login, 2)
        account = self.mailbox(self.salesman)
        Account = self.env["mail.sync.account"]
        Account.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(account.state, "enabled", account.last_error)
        self.assertEqual(self.subjects(), ["After", "Before"])
        inbox = account.folder_ids.filtered(lambda f: f.direction == "in")
        self.assertEqual(inbox.last_uid, 3, "the checkpoint moved past it")
        failed = self.env["mail.sync.failed.message"].search(
            [("account_id", "=", account.id)]
        )
        self.assertEqual(
            (failed.uid, failed.folder, failed.attempts, failed.state),
            (2, "INBOX", 1, "retry"),
        )
        self.assertFalse(account.log_ids, "nothing to say yet: it is tried again")

        self.put(self.salesman, "INBOX", self.received(ALICE, "Newer"))
        for _run in range(MAX_ATTEMPTS - 1):
            Account.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(self.subjects(), ["After", "Before", "Newer"])
        self.assertEqual((failed.attempts, failed.state), (MAX_ATTEMPTS, "skipped"))
        self.assertEqual(account.state, "enabled")
        log = account.log_ids
        self.assertEqual(log.code, "message_undeliverable")
        self.assertIn("INBOX, UID 2", log.message)
        self.assertIn("Retry", log.hint)
        self.assertTrue(log.can_retry)
        Account.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(len(account.log_ids), 1, "skipped: not tried again")

        with self.assertRaises(UserError):  # not the owner's
            log.with_user(self.sales_manager).action_retry_message()
        repair_message(path)
        log.with_user(self.salesman).action_retry_message()
        Account.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(self.subjects(), ["After", "Before", "Damaged", "Newer"])
        self.assertFalse(failed.exists())
        self.assertFalse(log.can_retry)
        self.assertEqual(account.state, "enabled")

    def test_the_log_entry_names_the_message_when_its_headers_were_read(self):
        """Dovecot still answers the header fields it cached: the entry names
        the message's date, sender and subject, and the others are recorded."""
        self.fill("One", "Two", "Broken")
        client = self.mail.connect(self.salesman.login)
        client.select_folder("INBOX", readonly=True)
        client.fetch([1, 2, 3], [HEADER_ITEM])  # cached by Dovecot from now on
        client.logout()
        damage_message(self.mail, self.salesman.login, 3)
        account = self.mailbox(self.salesman)
        for _run in range(MAX_ATTEMPTS):
            self.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(self.subjects(), ["One", "Two"])
        log = account.log_ids
        self.assertEqual(log.code, "message_undeliverable")
        self.assertIn(f"from {ALICE}: Broken", log.message)
        self.assertEqual(
            (log.failed_folder, log.failed_uid, log.failed_sender, log.failed_subject),
            ("INBOX", 3, ALICE, "Broken"),
        )
        self.assertTrue(log.failed_date)
        self.assertEqual(account.state, "enabled")
