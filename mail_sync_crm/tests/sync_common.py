# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Set-up shared by the sync tests that need a mail server of their own per
test: a fresh Dovecot, the three salespeople as its users, leads to match."""

from mail_sync_testing import DovecotServer, make_message

from .common import PASSWORD, MailSyncCase, started

ALICE = "alice.martin@acme.example.com"
BRUNO = "b.keller@globex.example.com"


class SyncCase(MailSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Lead = cls.env["crm.lead"]
        cls.subtype = cls.env.ref("mail_sync_crm.mt_synced_email")

    def setUp(self):
        super().setUp()
        # A fresh mail server per test: mailbox contents do not leak between tests.
        self.mail = started(DovecotServer(), self.addCleanup)
        for user in (self.salesman, self.salesman_all, self.sales_manager):
            self.mail.add_user(user.login, PASSWORD)
        self.lead = self.Lead.create(
            {"name": "Acme robots", "type": "lead", "email_from": ALICE}
        )
        self.globex = self.Lead.create(
            {"name": "Globex", "type": "opportunity", "email_from": BRUNO}
        )

    def put(self, user, folder, *messages):
        """Deliver raw messages into ``user``'s folder on the real IMAP server."""
        return [self.mail.append(user.login, folder, raw) for raw in messages]

    def mailbox(self, user, **overrides):
        values = {"imap_port": self.mail.ssl_port, "imap_host": self.mail.host}
        values.update(overrides)
        return self.connected_account(user, **values)

    def synced(self, lead):
        return lead.message_ids.filtered(lambda m: m.subtype_id == self.subtype)

    def received(self, sender, subject, user=None, **kw):
        to = (user or self.salesman).email
        return make_message(sender, to, subject=subject, **kw)
