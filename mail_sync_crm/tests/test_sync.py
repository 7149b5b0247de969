# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import base64
from datetime import datetime, timedelta
from unittest.mock import patch

from freezegun import freeze_time
from markupsafe import Markup

from odoo import sql_db
from odoo.tests import tagged

from mail_sync_testing import DovecotServer, make_message

from ..lib.message.full_message import parse_message
from ..lib.sync.store import SyncStore
from ..models.advisory_locks import MAILBOX_SYNC as SYNC_LOCK_NAMESPACE
from ..store import MailSyncStore
from .common import PASSWORD
from .sync_common import ALICE, BRUNO, SyncCase

STRANGER = "someone@elsewhere.example.com"


@tagged("post_install", "-at_install")
class TestSync(SyncCase):
    def setUp(self):
        super().setUp()
        self.opportunity = self.Lead.create(
            {"name": "Acme phase 2", "type": "opportunity", "email_from": ALICE}
        )

    # -- helpers ----------------------------------------------------------------
    def sent(self, to, subject, **kw):
        return make_message(self.salesman.email, to, subject=subject, **kw)

    # -- tests ------------------------------------------------------------------
    def test_inbox_and_sent_direction_rules(self):
        self.put(
            self.salesman,
            "INBOX",
            self.received(ALICE, "From Alice"),
            make_message(STRANGER, [self.salesman.email, ALICE], subject="Alice in To"),
        )
        self.put(
            self.salesman,
            "Sent",
            self.sent(STRANGER, "Alice in Bcc", bcc=[ALICE]),
            self.sent(BRUNO, "To Bruno", cc=[STRANGER]),
            make_message(ALICE, STRANGER, subject="Alice as sender in Sent"),
        )
        account = self.mailbox(self.salesman)
        self.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(account.state, "enabled")
        self.assertTrue(account.last_sync_date)
        self.assertEqual(
            sorted(self.synced(self.lead).mapped("subject")),
            ["Alice in Bcc", "From Alice"],
        )
        self.assertEqual(
            sorted(self.synced(self.opportunity).mapped("subject")),
            ["Alice in Bcc", "From Alice"],
            "a message matching a lead and an opportunity is on each",
        )
        self.assertEqual(self.synced(self.globex).mapped("subject"), ["To Bruno"])
        inbound = self.synced(self.lead).filtered(lambda m: m.subject == "From Alice")
        self.assertEqual(inbound.message_type, "email")
        self.assertFalse(inbound.notification_ids, "nobody is notified")
        outbound = self.synced(self.globex)
        self.assertEqual(outbound.author_id, self.salesman.partner_id)
        self.assertEqual(self.lead.mail_sync_count, 2)
        self.assertEqual(self.lead.mail_sync_first_user_id, self.salesman)

    def test_original_date_body_message_id_and_encoded_names(self):
        when = datetime(2021, 3, 4, 9, 30)
        raw = make_message(
            ("Chloé Dubois-Martin", "Alice.Martin@ACME.example.com"),
            self.salesman.email,
            subject="Réunion à Zürich",
            date=when,
            message_id="<history-1@acme.example.com>",
            html="<p>Bonjour <b>Sally</b></p><script>alert(1)</script>",
        )
        self.put(self.salesman, "INBOX", raw)
        self.mailbox(self.salesman)
        self.env["mail.sync.scheduler"]._cron_sync()
        message = self.synced(self.lead)
        self.assertEqual(len(message), 1)
        self.assertEqual(message.subject, "Réunion à Zürich")
        self.assertEqual(message.date, when)
        self.assertEqual(message.message_id, "<history-1@acme.example.com>")
        self.assertIn("<b>Sally</b>", message.body)
        self.assertNotIn("<script", message.body)

    def test_historical_sync_only_for_leads_existing_at_connect(self):
        old = datetime.now() - timedelta(days=300)
        self.put(
            self.salesman,
            "INBOX",
            self.received(ALICE, "Old mail with Alice", date=old),
            self.received(
                "new.lead@later.example.com", "Old mail with later lead", date=old
            ),
        )
        account = self.mailbox(self.salesman)
        # The mailbox was connected an hour ago; the lead below is created now.
        account.sudo().connected_date = datetime.now() - timedelta(hours=1)
        self.env.cr.execute(
            "UPDATE crm_lead SET create_date = %s WHERE id IN %s",
            [datetime.now() - timedelta(days=2), tuple(self.lead.ids)],
        )
        later = self.Lead.create(
            {"name": "Later", "email_from": "new.lead@later.example.com"}
        )
        self.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(
            self.synced(self.lead).mapped("subject"), ["Old mail with Alice"]
        )
        self.assertFalse(self.synced(later), "no history for a lead created later")
        self.put(
            self.salesman,
            "INBOX",
            self.received(
                "new.lead@later.example.com", "Fresh mail", date=datetime.now()
            ),
        )
        self.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(self.synced(later).mapped("subject"), ["Fresh mail"])

    def test_a_lead_created_in_the_second_of_connect_gets_its_history(self):
        """Odoo stores the connect time in whole seconds and a lead's creation with
        microseconds: a lead created just before Connect, in the same second,
        existed at connect and gets its history."""
        self.put(
            self.salesman,
            "INBOX",
            self.received(
                ALICE, "Old mail with Alice", date=datetime.now() - timedelta(days=300)
            ),
        )
        account = self.mailbox(self.salesman)
        connected = datetime.now().replace(microsecond=0) - timedelta(hours=1)
        account.sudo().connected_date = connected
        self.env.cr.execute(
            "UPDATE crm_lead SET create_date = %s WHERE id IN %s",
            [connected + timedelta(microseconds=400_000), tuple(self.lead.ids)],
        )
        self.env.invalidate_all()
        self.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(
            self.synced(self.lead).mapped("subject"), ["Old mail with Alice"]
        )

    def test_blocklist_address_domain_and_own_domain(self):
        colleague = "colleague@ourcompany.example.com"
        inside = self.Lead.create({"name": "Internal", "email_from": colleague})
        blocked_domain = self.Lead.create(
            {"name": "Competitor", "email_from": "spy@competitor.example.com"}
        )
        Blocklist = self.env["mail.sync.blocklist"]
        Blocklist.with_user(self.admin).create({"value": "competitor.example.com"})
        Blocklist.with_user(self.salesman).create(
            {"value": BRUNO, "user_id": self.salesman.id}
        )
        self.put(
            self.salesman,
            "INBOX",
            self.received(colleague, "Internal chat"),
            self.received("spy@competitor.example.com", "Competitor"),
            self.received(BRUNO, "Bruno, privately"),
            self.received(ALICE, "Alice"),
        )
        self.mailbox(self.salesman)
        self.env["mail.sync.scheduler"]._cron_sync()
        self.assertFalse(self.synced(inside), "own domain blocked by default")
        self.assertFalse(self.synced(blocked_domain))
        self.assertFalse(self.synced(self.globex), "personal blocklist")
        self.assertEqual(self.synced(self.lead).mapped("subject"), ["Alice"])

    def test_exactly_once_across_folders_mailboxes_and_odoo_sent_mail(self):
        shared = self.received(
            ALICE, "Shared thread", message_id="<shared-1@acme.example.com>"
        )
        self.put(self.salesman, "INBOX", shared)
        self.put(self.salesman, "Sent", shared)  # a copy in Sent too
        self.put(self.salesman_all, "INBOX", shared)  # and in a colleague's box
        # Mail sent from Odoo: already on the chatter with its Message-ID.
        from_odoo = self.lead.message_post(
            body="Sent from Odoo", subject="From Odoo", message_type="email"
        )
        self.put(
            self.salesman,
            "Sent",
            self.sent(ALICE, "From Odoo", message_id=from_odoo.message_id),
        )
        first = self.mailbox(self.salesman)
        second = self.mailbox(self.salesman_all)
        Account = self.env["mail.sync.account"]
        Account.env["mail.sync.scheduler"]._cron_sync()
        Account.env[
            "mail.sync.scheduler"
        ]._cron_sync()  # a second run records nothing new
        self.assertEqual(self.synced(self.lead).mapped("subject"), ["Shared thread"])
        self.assertEqual(
            sorted(self.synced(self.opportunity).mapped("subject")),
            ["From Odoo", "Shared thread"],
            "the opportunity did not have the Odoo-sent mail: it gets it once",
        )
        for lead in (self.lead, self.opportunity):
            self.assertEqual(
                len(lead.message_ids.filtered(lambda m: m.subject == "From Odoo")), 1
            )
        Ledger = self.env["mail.sync.message"]
        rows = Ledger.search([("lead_id", "=", self.lead.id)])
        self.assertEqual(
            sorted((r.account_id.id, r.message_id, r.introduced) for r in rows),
            sorted(
                [
                    (first.id, "<shared-1@acme.example.com>", True),
                    (first.id, from_odoo.message_id, False),
                    (second.id, "<shared-1@acme.example.com>", False),
                ]
            ),
        )

    def test_copies_in_one_folder_are_recorded_once(self):
        """The same message twice in the Inbox (a copy, a list duplicate), in one
        batch or in two: one chatter message per lead, and no error."""
        copy = self.received(ALICE, "Twice", message_id="<twice@acme.example.com>")
        self.put(self.salesman, "INBOX", copy, copy)
        account = self.mailbox(self.salesman)
        self.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(account.state, "enabled", account.last_error)
        self.assertEqual(self.synced(self.lead).mapped("subject"), ["Twice"])
        self.put(self.salesman, "INBOX", copy)  # a third copy, in a later batch
        self.env["mail.sync.scheduler"].with_context(
            mail_sync_batch_size=1
        )._cron_sync()
        self.assertEqual(account.state, "enabled", account.last_error)
        self.assertEqual(self.synced(self.lead).mapped("subject"), ["Twice"])

    def test_uidvalidity_reset_rescans_without_duplicates(self):
        self.put(self.salesman, "INBOX", self.received(ALICE, "Before reset"))
        account = self.mailbox(self.salesman)
        Account = self.env["mail.sync.account"]
        Account.env["mail.sync.scheduler"]._cron_sync()
        inbox = account.folder_ids.filtered(lambda f: f.direction == "in")
        old_validity = inbox.uidvalidity
        self.mail.set_uidvalidity(self.salesman.login, "INBOX", old_validity + 7)
        self.put(self.salesman, "INBOX", self.received(ALICE, "After reset"))
        Account.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(inbox.uidvalidity, old_validity + 7)
        self.assertEqual(
            sorted(self.synced(self.lead).mapped("subject")),
            ["After reset", "Before reset"],
        )

    def test_resume_after_server_killed_mid_sync(self):
        """The connection dies mid-sync and the server refuses to log in again:
        the run fails after the last checkpoint and the next one resumes. (A
        connection that dies while the server still lets the sync in is just
        reopened: ``lib/tests/test_sync_engine.py``.)"""
        for i in range(6):
            self.put(self.salesman, "INBOX", self.received(ALICE, f"Mail {i}"))
        account = self.mailbox(self.salesman)
        original = MailSyncStore.checkpoint
        calls = []

        def checkpoint_then_kill(store, folder, progress):
            original(store, folder, progress)
            calls.append(progress.last_uid)
            if len(calls) == 1:
                self.mail.add_user(self.salesman.login, "changed-" + PASSWORD)
                self.mail.kill_imap_children()  # the connection dies mid-sync

        Account = self.env["mail.sync.account"].with_context(mail_sync_batch_size=2)
        with patch.object(MailSyncStore, "checkpoint", checkpoint_then_kill):
            Account.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(account.state, "error")
        self.assertEqual(account.log_ids[:1].code, "connection_lost")
        self.assertEqual(len(self.synced(self.lead)), 2, "the first batch is kept")
        inbox = account.folder_ids.filtered(lambda f: f.direction == "in")
        self.assertEqual(inbox.last_uid, calls[0])
        self.mail.add_user(self.salesman.login, PASSWORD)
        Account.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(account.state, "enabled")
        self.assertEqual(
            sorted(self.synced(self.lead).mapped("subject")),
            [f"Mail {i}" for i in range(6)],
        )

    def test_malformed_messages_are_logged_and_skipped(self):
        from mail_sync_testing import malformed_messages

        broken = malformed_messages()
        self.mail.fill_maildir(self.salesman.login, "INBOX", list(broken.values()))
        self.put(self.salesman, "INBOX", self.received(ALICE, "Fine"))
        raw_8bit = b"\r\n".join(
            [
                b"From: Alice <%s>" % ALICE.encode(),
                b"To: %s" % self.salesman.email.encode(),
                b"Subject: Caf\xe9 cr\xe8me",
                b"Message-ID: <latin1@acme.example.com>",
                b"",
                b"Caf\xe9",
                b"",
            ]
        )
        self.mail.fill_maildir(self.salesman.login, "INBOX", [raw_8bit])
        account = self.mailbox(self.salesman)
        self.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(account.state, "enabled", "bad messages do not fail the run")
        subjects = self.synced(self.lead).mapped("subject")
        self.assertIn("Fine", subjects)
        self.assertEqual(len(subjects), 2, "the non-UTF-8 message is recorded too")
        malformed = account.log_ids.filtered(
            lambda log: log.code == "message_malformed"
        )
        self.assertTrue(malformed)
        self.assertTrue(all("UID" in log.detail for log in malformed))

    def test_daily_cap_defers_to_the_next_day(self):
        self.company.mail_sync_daily_cap = 2
        for i in range(3):
            self.put(self.salesman, "INBOX", self.received(ALICE, f"Capped {i}"))
        account = self.mailbox(self.salesman)
        Account = self.env["mail.sync.account"]
        Account.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(len(self.synced(self.lead)), 2)
        Account.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(len(self.synced(self.lead)), 2, "still the same day")
        with freeze_time(datetime.now() + timedelta(days=1)):
            Account.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(
            sorted(self.synced(self.lead).mapped("subject")),
            ["Capped 0", "Capped 1", "Capped 2"],
            "deferred, never dropped",
        )
        self.assertEqual(account.state, "enabled")

    def test_attachments_and_size_cap(self):
        self.company.mail_sync_attachment_cap = 1  # MB
        raw = self.received(
            ALICE,
            "With files",
            attachments=[
                ("small.pdf", b"%PDF-1.4 " + b"a" * 600_000, "application/pdf"),
                ("big.zip", b"PK" + b"b" * 700_000, "application/zip"),
            ],
        )
        self.put(self.salesman, "INBOX", raw)
        self.mailbox(self.salesman)
        self.env["mail.sync.scheduler"]._cron_sync()
        message = self.synced(self.lead)
        self.assertEqual(message.attachment_ids.mapped("name"), ["small.pdf"])
        self.assertEqual(
            base64.b64decode(message.attachment_ids.datas)[:9], b"%PDF-1.4 "
        )
        self.assertIn("big.zip", message.body)
        self.assertIn("left out", message.body)

    def test_sync_never_changes_the_mailbox(self):
        self.put(self.salesman, "INBOX", self.received(ALICE, "Unread"))
        self.mailbox(self.salesman)
        self.env["mail.sync.scheduler"]._cron_sync()
        self.assertTrue(self.synced(self.lead))
        client = self.mail.connect(self.salesman.login)
        try:
            client.select_folder("INBOX", readonly=True)
            flags = client.get_flags(client.search("ALL"))
        finally:
            client.logout()
        self.assertEqual(len(flags), 1)
        self.assertNotIn(b"\\Seen", next(iter(flags.values())), "still unread")

    def test_disable_keep_or_remove(self):
        self.put(self.salesman, "INBOX", self.received(ALICE, "Mine"))
        self.put(self.salesman_all, "INBOX", self.received(BRUNO, "Colleague's"))
        shared = self.received(ALICE, "Both", message_id="<both@acme.example.com>")
        self.put(self.salesman, "INBOX", shared)
        self.put(self.salesman_all, "INBOX", shared)
        mine = self.mailbox(self.salesman)
        theirs = self.mailbox(self.salesman_all)
        self.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(
            sorted(self.synced(self.lead).mapped("subject")), ["Both", "Mine"]
        )
        wizard = (
            self.env["mail.sync.disable.wizard"]
            .with_user(self.salesman)
            .create({"account_id": mine.id, "history": "remove"})
        )
        wizard.action_confirm()
        self.assertEqual(mine.state, "draft")
        self.assertFalse(mine.folder_ids, "checkpoints erased")
        self.assertEqual(
            self.synced(self.lead).mapped("subject"),
            ["Both"],
            "kept where a still-connected mailbox recorded it too",
        )
        self.assertEqual(self.synced(self.globex).mapped("subject"), ["Colleague's"])
        theirs.with_user(self.salesman_all).action_disable(keep_history=True)
        self.assertEqual(self.synced(self.lead).mapped("subject"), ["Both"])
        self.assertEqual(self.synced(self.globex).mapped("subject"), ["Colleague's"])

    def test_reconnect_runs_a_fresh_history_without_duplicates(self):
        self.put(self.salesman, "INBOX", self.received(ALICE, "Once"))
        account = self.mailbox(self.salesman)
        Account = self.env["mail.sync.account"]
        Account.env["mail.sync.scheduler"]._cron_sync()
        account.action_disable(keep_history=True)
        account.write({"imap_password": PASSWORD})
        account.action_connect()
        self.assertFalse(account.folder_ids.filtered("last_uid"), "fresh checkpoints")
        Account.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(self.synced(self.lead).mapped("subject"), ["Once"])

    def test_failing_mailbox_does_not_stop_the_others(self):
        self.put(self.salesman_all, "INBOX", self.received(ALICE, "Still synced"))
        failing = self.mailbox(self.salesman)
        working = self.mailbox(self.salesman_all)
        with DovecotServer() as gone:
            closed = gone.ssl_port
        # (a new port erases the password: typed again, as the owner would)
        failing.sudo().write({"imap_port": closed, "imap_password": PASSWORD})
        self.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(failing.state, "error")
        self.assertEqual(failing.log_ids[:1].code, "host_unreachable")
        self.assertEqual(working.state, "enabled")
        self.assertEqual(self.synced(self.lead).mapped("subject"), ["Still synced"])

    def test_a_mailbox_locked_by_another_worker_is_skipped(self):
        self.put(self.salesman, "INBOX", self.received(ALICE, "Locked"))
        account = self.mailbox(self.salesman)
        other = sql_db.db_connect(self.env.cr.dbname).cursor()
        try:
            other.execute(
                "SELECT pg_advisory_lock(%s, %s)", [SYNC_LOCK_NAMESPACE, account.id]
            )
            self.env["mail.sync.scheduler"]._cron_sync()
            self.assertFalse(self.synced(self.lead), "another worker holds it")
            other.execute(
                "SELECT pg_advisory_unlock(%s, %s)", [SYNC_LOCK_NAMESPACE, account.id]
            )
        finally:
            other.close()
        self.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(self.synced(self.lead).mapped("subject"), ["Locked"])

    def test_sync_now_and_progress(self):
        for i in range(5):
            self.put(self.salesman, "INBOX", self.received(ALICE, f"P{i}"))
        account = self.mailbox(self.salesman)
        self.assertFalse(account.sync_historical_done)
        self.env["mail.sync.scheduler"]._cron_sync()
        self.assertTrue(account.sync_historical_done)
        self.assertEqual((account.sync_scanned, account.sync_total), (5, 5))
        self.put(self.salesman, "INBOX", self.received(ALICE, "Now"))
        account.with_user(self.salesman).action_sync_now()
        self.assertIn("Now", self.synced(self.lead).mapped("subject"))

    def test_bulk_writes_store_what_the_orm_would(self):
        """The store writes the ledger in one INSERT and each body through one
        sanitising pass: the rows, bodies, record names and inline images are what
        the ORM would have made of them, and no cached count goes stale."""
        html = '<p>Hi <b>Sally</b></p><script>alert(1)</script><p onclick="x()">x</p>'
        png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 24).decode()
        image = f'<p><img src="data:image/png;base64,{png}"></p>'
        raws = {
            "Rich": self.received(ALICE, "Rich", html=html),
            "Inline image": self.received(BRUNO, "Inline image", html=image),
            "Plain": self.sent(ALICE, "Plain", text="Line\n> quoted\n-- \nSally"),
            # Plain text is stored unsanitised, already in the sanitiser's form.
            "Tricky": self.sent(
                ALICE,
                "Tricky",
                text="  \"Q\" & 's' <b>x</b>\xa0a\x0cb\tc\u2028d\n\n\nΩ €\n\n",
            ),
        }
        self.put(self.salesman, "INBOX", raws["Rich"], raws["Inline image"])
        self.put(self.salesman, "Sent", raws["Plain"], raws["Tricky"])
        self.assertEqual(self.lead.mail_sync_count, 0)  # computed and cached now
        account = self.mailbox(self.salesman)
        self.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(self.lead.mail_sync_count, 3, "no stale cached count")

        ledger = self.env["mail.sync.message"].search([("account_id", "=", account.id)])
        self.assertEqual(len(ledger), 7)
        for row in ledger:
            self.assertEqual(row.user_id, self.salesman)
            self.assertEqual(row.company_id, account.company_id)
            self.assertEqual(row.stage_id, row.lead_id.stage_id)
            self.assertEqual(row.lead_type, row.lead_id.type)
            self.assertEqual(row.create_uid.id, self.env.uid)
            self.assertTrue(row.create_date and row.write_date and row.introduced)
            self.assertEqual(row.mail_message_id.res_id, row.lead_id.id)

        Message = self.env["mail.message"].sudo()
        for row in ledger.filtered(lambda r: r.subject != "Inline image"):
            message = row.mail_message_id
            self.assertEqual(message.record_name, row.lead_id.display_name)
            parsed = parse_message(raws[row.subject], 10 * 1024 * 1024)
            by_orm = Message.create(
                {
                    "model": "crm.lead",
                    "res_id": row.lead_id.id,
                    "body": Markup(parsed.body_html),
                }
            )
            (message | by_orm).invalidate_recordset(["body"])
            self.assertEqual(message.body, by_orm.body)
            self.assertNotIn("<script", message.body)

        inline = ledger.filtered(lambda r: r.subject == "Inline image").mail_message_id
        self.assertEqual(inline.res_id, self.globex.id)
        self.assertEqual(inline.attachment_ids.mapped("mimetype"), ["image/png"])
        self.assertIn("/web/image/", inline.body)
        self.assertNotIn("base64", inline.body)

    def test_lead_index_read_as_needed_matches_the_whole_index(self):
        """A few new messages read only their leads (by the lead's or its
        partner's address); many read the whole index; both give the same."""
        partner = self.env["res.partner"].create(
            {"name": "Dora", "email": "Dora <DORA@Partner.example.com>"}
        )
        dora = self.Lead.create({"name": "Dora's deal", "partner_id": partner.id})
        account = self.mailbox(self.salesman)
        store = MailSyncStore(account, False)
        whole = store._load_lead_index()
        self.assertEqual(whole["dora@partner.example.com"], {dora.id})
        wanted = {ALICE, BRUNO, "dora@partner.example.com", STRANGER}
        index = MailSyncStore(account, False).lead_index()
        index.look_up(wanted)
        self.assertIsNone(index._index, "only the wanted addresses were read")
        for address in wanted:
            self.assertEqual(index.get(address), whole.get(address), address)
        self.assertIsNone(index._index)
        index.get("someone-else@example.com")  # not looked up: read everything
        self.assertEqual(dict(index._index), dict(whole))
        many = MailSyncStore(account, False).lead_index()
        many.look_up({f"x{i}@example.com" for i in range(many.TARGETED_MAX + 1)})
        self.assertEqual(dict(many._index), dict(whole))

    def test_the_odoo_store_implements_the_engine_protocol(self):
        """Every method the sync engine calls exists on the Odoo store with the
        protocol's parameters."""
        self.assertEqual(SyncStore.missing_from(MailSyncStore), [])
        self.assertIsInstance(
            MailSyncStore(self.mailbox(self.salesman), False), SyncStore
        )
