# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Erasure of everything synced about one address, and the retention that
reduces old synced mail to its participants and date: done by an administrator
over XML-RPC, checked in the database and over the routes a colleague uses."""

import json
from datetime import datetime, timedelta

from odoo.tests import tagged

from mail_sync_testing import make_message

from .common import MailSyncHttpCase, login_password

ALICE = "alice.martin@acme.example.com"
BRUNO = "b.keller@globex.example.com"
ALICE_WORDS = ("Aardvark", "Bison", "Caracal", "Dingo")  # her emails' words
KEPT_WORD = "Gecko"  # an email from Bruno alone: not hers
# Caracal goes to Bruno with a blind copy to Alice: on her leads it is hers (the
# Bcc put it there); on Bruno's lead it names her nowhere and stays.
BCC_WORD = "Caracal"


@tagged("post_install", "-at_install")
class TestErasureAndRetention(MailSyncHttpCase):
    """Alice's mail is on two leads of hers and, through a Cc, on Bruno's lead,
    synced by two mailboxes; the owner's mailbox hides its content (vault)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.owner = cls.salesman_all
        cls.colleague = cls.salesman
        Lead = cls.env["crm.lead"]
        cls.acme = Lead.create({"name": "Acme robots", "email_from": ALICE})
        cls.acme_2 = Lead.create(
            {"name": "Acme phase 2", "type": "opportunity", "email_from": ALICE}
        )
        cls.globex = Lead.create({"name": "Globex", "email_from": BRUNO})
        old = datetime.now() - timedelta(days=400)
        recent = datetime.now() - timedelta(days=2)
        aardvark, bison, caracal, dingo = ALICE_WORDS
        cls.append(
            cls.owner,
            "INBOX",
            f"Alice Martin <{ALICE}>",
            cls.owner.email,
            f"{aardvark} robots",
            old,
            attachments=[(f"{aardvark}.txt", b"specs", "text/plain")],
        )
        cls.append(cls.owner, "Sent", cls.owner.email, ALICE, f"Re: {bison}", recent)
        cls.append(
            cls.owner,
            "Sent",
            cls.owner.email,
            BRUNO,
            f"{caracal} offer",
            recent,
            bcc=[ALICE],
        )
        cls.append(
            cls.colleague,
            "INBOX",
            BRUNO,
            cls.colleague.email,
            f"{dingo} meeting",
            recent,
            cc=[ALICE],
        )
        cls.append(cls.colleague, "INBOX", BRUNO, cls.colleague.email, KEPT_WORD, old)
        cls.boxes = cls.env["mail.sync.account"]
        for user in (cls.owner, cls.colleague):
            box = (
                cls.env["mail.sync.account"]
                .with_user(user)
                .create(cls.connect_values(cls, user))
            )
            box.action_connect()
            cls.boxes |= box
        cls.boxes[0].with_user(cls.owner).visibility = "metadata"
        cls.env["mail.sync.scheduler"]._cron_sync()
        cls.subtype = cls.env.ref("mail_sync_crm.mt_synced_email")

    @classmethod
    def append(cls, user, folder, from_, to, subject, date, **kw):
        cls.imap.append(
            user.login,
            folder,
            make_message(
                from_,
                to,
                subject=subject,
                date=date,
                text=f"About {subject}.\n",
                **kw,
            ),
        )

    def synced(self):
        leads = self.acme | self.acme_2 | self.globex
        return leads.message_ids.filtered(lambda m: m.subtype_id == self.subtype)

    def everything_stored(self):
        """Every trace of synced mail, as text: chatter messages, vault rows,
        attachments, ledger rows, held messages, logs (as superuser)."""
        self.env.invalidate_all()
        env = self.env
        messages = self.synced()
        return json.dumps(
            [
                messages.read(["subject", "body", "email_from"]),
                env["mail.sync.content"].search([]).read(["subject", "body"]),
                env["ir.attachment"]
                .search([("res_model", "in", ("crm.lead", "mail.sync.content"))])
                .read(["name"]),
                env["mail.sync.message"]
                .search([])
                .read(["subject", "email_to", "email_cc"]),
                env["mail.sync.log"].search([]).read(["message", "detail"]),
            ],
            default=str,
        )

    def ledger_subjects(self):
        """(lead, subject) of every synced email, hidden subjects included."""
        self.env.invalidate_all()
        vault = {
            c.mail_message_id: c.ledger_subject
            for c in self.env["mail.sync.content"].search([])
        }
        return {
            (row.lead_id.id, vault.get(row.mail_message_id) or row.subject)
            for row in self.env["mail.sync.message"].search([])
        }

    def erase(self, user, email):
        wizard = self.rpc(user, "mail.sync.erase.wizard", "create", {"email": email})
        return self.rpc(user, "mail.sync.erase.wizard", "action_erase", [wizard])

    def test_everything_synced_about_an_address_is_erased(self):
        stored = self.everything_stored()
        for word in (*ALICE_WORDS, KEPT_WORD, ALICE):
            self.assertIn(word, stored, "synced before the erasure")
        self.assertTrue(self.env["mail.sync.content"].search([]), "a vault row too")
        ledger_before = self.env["mail.sync.message"].search_count([])

        action = self.erase(self.admin, "Alice.Martin@ACME.example.com")

        stored = self.everything_stored()
        for word in (*ALICE_WORDS, ALICE):
            if word != BCC_WORD:
                self.assertNotIn(word, stored, f"{word} erased")
        self.assertIn(KEPT_WORD, stored, "Bruno's own email stays")
        self.assertEqual(
            self.ledger_subjects(),
            {(self.globex.id, KEPT_WORD), (self.globex.id, f"{BCC_WORD} offer")},
        )
        self.assertFalse(
            self.env["ir.attachment"].search([("name", "ilike", ALICE_WORDS[0])])
        )
        self.assertEqual(
            self.env["mail.sync.content"].search([]).mail_message_id.mapped("res_id"),
            [self.globex.id],
            "the hidden content of the erased emails went with them",
        )
        # the log: when, who, what address, how many; nothing of the content
        log = self.env["mail.sync.erasure"].browse(action["res_id"])
        self.assertEqual(log.email, ALICE)
        self.assertEqual(log.user_id, self.admin)
        self.assertEqual(log.message_count, 7, "2 leads x 3 emails, and the Cc")
        self.assertEqual(log.attachment_count, 2, "one per lead")
        self.assertEqual(log.lead_count, 3)
        self.assertEqual(
            log.ledger_count,
            ledger_before - self.env["mail.sync.message"].search_count([]),
        )
        logged = json.dumps(
            self.rpc(self.admin, "mail.sync.erasure", "read", [log.id], []),
            default=str,
        )
        for word in ALICE_WORDS:
            self.assertNotIn(word, logged)
        # blocklisted with the erasure's date in every company
        entries = self.env["mail.sync.blocklist"].search([("value", "=", ALICE)])
        self.assertEqual(entries.company_id, self.company | self.company_2)
        self.assertEqual(set(entries.mapped("erased_date")), {log.date})

    def test_the_sync_never_records_an_erased_address_again(self):
        self.erase(self.admin, ALICE)
        now = datetime.now()
        self.append(self.owner, "INBOX", ALICE, self.owner.email, "Ermine", now)
        self.append(
            self.colleague,
            "INBOX",
            BRUNO,
            self.colleague.email,
            "Fossa",
            now,
            cc=[ALICE],
        )
        self.append(self.colleague, "INBOX", BRUNO, self.colleague.email, "Gnu", now)
        before = self.ledger_subjects()
        self.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(self.ledger_subjects() - before, {(self.globex.id, "Gnu")})

    def test_only_an_administrator_erases(self):
        for user in (self.colleague, self.sales_manager):
            self.refused(user, "mail.sync.erase.wizard", "create", {"email": ALICE})
            self.refused(user, "mail.sync.erasure", "search_read", [], ["email"])
        self.refused(self.admin, "mail.sync.erasure", "_erase", ALICE)
        self.refused(
            self.admin, "mail.sync.erasure", "create", {"email": ALICE, "date": False}
        )
        self.assertIn(ALICE_WORDS[0], self.everything_stored())

    def test_retention_reduces_old_mail_to_participants_and_date(self):
        def reads(user):
            self.authenticate(user.login, login_password(user.login))
            return json.dumps(
                self.make_jsonrpc_request(
                    "/mail/thread/messages",
                    {"thread_model": "crm.lead", "thread_id": self.acme.id},
                )
            )

        self.assertIn(ALICE_WORDS[0], reads(self.owner), "the owner reads it")
        counts = (self.acme.mail_sync_count, self.globex.mail_sync_count)
        self.company.mail_sync_retention_months = 6
        self.env["mail.sync.content"]._cron_retention()
        self.env.invalidate_all()
        stored = self.everything_stored()
        for word in (ALICE_WORDS[0], KEPT_WORD):
            self.assertNotIn(word, stored, f"{word}: older than 6 months")
        for word in ALICE_WORDS[1:]:
            self.assertIn(word, stored, f"{word}: recent")
        year_ago = datetime.now() - timedelta(days=300)
        old = self.acme.message_ids.filtered(lambda m: m.date < year_ago)
        self.assertEqual(len(old), 1)
        self.assertIn(ALICE, old.email_from, "its participants stay")
        self.assertIn("retention", str(old.body))
        self.assertNotIn(ALICE_WORDS[0], reads(self.owner), "for its owner too")
        # a level change later brings nothing back
        self.boxes[0].with_user(self.owner).visibility = "full"
        self.assertNotIn(ALICE_WORDS[0], self.everything_stored())
        self.assertEqual(
            (self.acme.mail_sync_count, self.globex.mail_sync_count), counts
        )
        self.assertFalse(
            self.env["ir.attachment"].search([("name", "ilike", "Aardvark")])
        )
