# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import base64
import random

from odoo.tests import tagged

from .sync_common import ALICE, SyncCase

MB = 1024 * 1024


@tagged("post_install", "-at_install")
class TestLargeMessage(SyncCase):
    def test_an_email_over_50_mb_lands_with_its_text_and_a_note(self):
        """A 57 MB email (a 42 MB video, a small PDF): on the lead's chatter with
        its subject, author, text and the PDF; the note says the email was too
        large to sync whole and lists the video as left out. No error logged."""
        video = random.Random(57).randbytes(42 * MB)
        raw = self.received(
            ALICE,
            "Demo video",
            text="Here is the video of the demo.",
            attachments=[
                ("figures.pdf", b"%PDF-1.4 " + b"f" * 50_000, "application/pdf"),
                ("demo.mp4", video, "video/mp4"),
            ],
        )
        del video
        self.assertGreater(len(raw), 55 * MB)
        self.mail.fill_maildir(self.salesman.login, "INBOX", [raw])
        account = self.mailbox(self.salesman)
        self.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(account.state, "enabled", account.last_error)
        message = self.synced(self.lead)
        self.assertEqual(message.mapped("subject"), ["Demo video"])
        self.assertEqual(message.email_from, ALICE)
        self.assertIn("Here is the video of the demo.", message.body)
        self.assertIn("too large to sync whole", message.body)
        self.assertIn("demo.mp4", message.body)
        self.assertIn("left out", message.body)
        self.assertEqual(message.attachment_ids.mapped("name"), ["figures.pdf"])
        self.assertEqual(
            base64.b64decode(message.attachment_ids.datas),
            b"%PDF-1.4 " + b"f" * 50_000,
        )
        self.assertFalse(account.log_ids, "nothing to report: the email is there")
