# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Shared set-up of the tests of the scheduled sync, this addon's
(``test_cron_schedule.py``) and the queue_job glue's: three salespeople with a
mailbox each on a fresh Dovecot, holding one email from a lead's address."""

from freezegun import freeze_time

from mail_sync_testing import DovecotServer, make_message

from .common import PASSWORD, MailSyncCase, started

ALICE = "alice.martin@acme.example.com"


def frozen_at(moment):
    """Frozen time, except for the test servers' harness (it waits for Dovecot
    on the real clock)."""
    return freeze_time(moment, ignore=["mail_sync_testing"])


class ScheduledSyncCase(MailSyncCase):
    def setUp(self):
        super().setUp()
        self.mail = started(DovecotServer(), self.addCleanup)
        self.users = self.salesman | self.salesman_all | self.sales_manager
        for user in self.users:
            self.mail.add_user(user.login, PASSWORD)
        self.lead = self.env["crm.lead"].create(
            {"name": "Acme robots", "type": "lead", "email_from": ALICE}
        )
        self.subtype = self.env.ref("mail_sync_crm.mt_synced_email")
        self.Account = self.env["mail.sync.account"]

    def mailbox(self, user):
        """``user``'s connected mailbox, holding "Hello <login>" from Alice."""
        self.mail.append(
            user.login,
            "INBOX",
            make_message(ALICE, user.email, subject=f"Hello {user.login}"),
        )
        return self.connected_account(
            user, imap_host=self.mail.host, imap_port=self.mail.ssl_port
        ).sudo()

    def synced(self):
        """The synced emails on Alice's lead."""
        return self.lead.message_ids.filtered(lambda m: m.subtype_id == self.subtype)
