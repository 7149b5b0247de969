# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Private mail stays private: what colleagues read of synced mail is its owner's
choice within the company's rules, and the hidden content is served by no route.

Each test reads the lead's synced mail the way a hostile colleague would, over
Odoo's running HTTP server: XML-RPC ``read`` / ``search_read`` / ``search`` of
``mail.message``, ``ir.attachment``, the ledger and the vault, JSON-RPC
``web_read``, the chatter's own ``/mail/thread/messages`` (with and without a
search term), ``/web/content/<id>`` and the Emails view's
``mail_sync_conversation``, as the owner, a colleague, a sales manager, an
administrator and a portal user."""

import base64
import json
import xmlrpc.client
from datetime import datetime

import requests

from odoo.tests import tagged
from odoo.tests.common import JsonRpcException

from mail_sync_testing import make_message

from .common import MailSyncHttpCase, login_password

ALICE = "alice.martin@acme.example.com"
SUBJECT = "Robots for the Zurich plant"
SUBJECT_WORD = "Zurich"
BODY_WORD = "Quokka4711"  # a word of the email's text, nowhere else
FILE_NAME = "budget-kangaroo.txt"
FILE_WORD = "kangaroo"
FILE_BYTES = b"The budget is Wombat-4711 francs."
FILE_TEXT = "Wombat-4711"
REPLY_WORD = "Platypus4711"
LATER_WORD = "Echidna4711"  # the text of an email synced during a test


@tagged("post_install", "-at_install")
class TestPrivateMail(MailSyncHttpCase):
    """The owner (a salesperson who reads all leads) synced an email from Alice,
    with an attachment, and their reply, onto a lead that belongs to a
    colleague."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.owner = cls.salesman_all
        cls.colleague = cls.salesman
        cls.portal.password = login_password(cls.portal.login)
        cls.lead = cls.env["crm.lead"].create(
            {
                "name": "Acme robots",
                "type": "opportunity",
                "email_from": ALICE,
                "contact_name": "Alice Martin",
                "user_id": cls.colleague.id,
            }
        )
        login = cls.owner.login
        cls.raw_received = make_message(
            f"Alice Martin <{ALICE}>",
            cls.owner.email,
            subject=SUBJECT,
            date=datetime(2026, 3, 1, 9),
            message_id="<a1@acme.example.com>",
            text=f"Hello,\n\nThe word is {BODY_WORD}.\n",
            attachments=[(FILE_NAME, FILE_BYTES, "text/plain")],
        )
        cls.imap.append(login, "INBOX", cls.raw_received)
        cls.imap.append(
            login,
            "Sent",
            make_message(
                cls.owner.email,
                ALICE,
                subject=f"Re: {SUBJECT}",
                date=datetime(2026, 3, 2, 9),
                message_id="<s2@ourcompany.example.com>",
                in_reply_to="<a1@acme.example.com>",
                text=f"Answer: {REPLY_WORD}.\n",
            ),
        )
        cls.account = (
            cls.env["mail.sync.account"]
            .with_user(cls.owner)
            .create(cls.connect_values(cls, cls.owner))
        )
        cls.account.action_connect()
        cls.env["mail.sync.scheduler"]._cron_sync()
        subtype = cls.env.ref("mail_sync_crm.mt_synced_email")
        cls.synced = cls.lead.message_ids.filtered(lambda m: m.subtype_id == subtype)
        cls.received = cls.synced.filtered(lambda m: m.subject == SUBJECT)
        cls.attachment = cls.received.attachment_ids
        cls.original_body = str(cls.received.body)

    def setUp(self):
        super().setUp()
        self.assertEqual(len(self.synced), 2, "the email and the reply are synced")
        self.assertEqual(self.attachment.name, FILE_NAME)
        self.assertIn(BODY_WORD, self.original_body)

    # ------------------------------------------------------------------
    # Reading as a client would
    # ------------------------------------------------------------------
    def call_kw(self, model, method, args, kwargs=None):
        return self.make_jsonrpc_request(
            f"/web/dataset/call_kw/{model}/{method}",
            {"model": model, "method": method, "args": args, "kwargs": kwargs or {}},
        )

    def reads(self, user):
        """Everything ``user`` gets about the lead's synced mail from every
        route: {route: result, or "refused"}."""
        self.env.flush_all()
        out = {}

        def attempt(name, call):
            try:
                out[name] = call()
            except (xmlrpc.client.Fault, JsonRpcException, requests.HTTPError):
                out[name] = "refused"

        def rpc(*args):
            return lambda: self.rpc(user, *args)

        on_lead = [("model", "=", "crm.lead"), ("res_id", "=", self.lead.id)]
        fields = ["body", "subject", "preview", "email_from", "date", "attachment_ids"]
        ids = self.synced.ids
        attempt("search_read", rpc("mail.message", "search_read", on_lead, fields))
        attempt("read", rpc("mail.message", "read", ids, fields))
        attempt(
            "body_search",
            rpc("mail.message", "search", [("body", "ilike", BODY_WORD)]),
        )
        attempt(
            "subject_search",
            rpc("mail.message", "search", [("subject", "ilike", SUBJECT_WORD)]),
        )
        attempt(
            "attachment_search",
            rpc(
                "ir.attachment", "search_read", [("name", "ilike", FILE_WORD)], ["name"]
            ),
        )
        attempt(
            "attachment_read",
            rpc("ir.attachment", "read", self.attachment.ids, ["name", "datas"]),
        )
        attempt(
            "ledger",
            rpc(
                "mail.sync.message",
                "search_read",
                [("lead_id", "=", self.lead.id)],
                ["subject", "email_to", "date", "private"],
            ),
        )
        attempt(
            "vault",
            rpc("mail.sync.content", "search_read", [], ["subject", "body"]),
        )
        attempt(
            "vault_attachments",
            rpc(
                "ir.attachment",
                "search_read",
                [("res_model", "=", "mail.sync.content")],
                ["name"],
            ),
        )
        attempt("emails", rpc("crm.lead", "mail_sync_conversation", [self.lead.id]))
        self.authenticate(user.login, login_password(user.login))
        attempt(
            "web_read",
            lambda: self.call_kw(
                "mail.message",
                "web_read",
                [ids],
                {
                    "specification": {
                        "body": {},
                        "subject": {},
                        "attachment_ids": {"fields": {"name": {}}},
                    }
                },
            ),
        )
        thread = {"thread_model": "crm.lead", "thread_id": self.lead.id}
        attempt(
            "chatter",
            lambda: self.make_jsonrpc_request("/mail/thread/messages", thread),
        )
        attempt(
            "chatter_search",
            lambda: self.make_jsonrpc_request(
                "/mail/thread/messages", {**thread, "search_term": BODY_WORD}
            ),
        )
        response = self.url_open(f"/web/content/{self.attachment.id}")
        out["web_content"] = response.content.decode(errors="replace")
        response = self.url_open(f"/web/content/{self.attachment.id}?download=true")
        out["web_content_download"] = response.content.decode(errors="replace")
        for attachment in out["attachment_read"] or ():
            if isinstance(attachment, dict) and attachment.get("datas"):
                attachment["datas"] = base64.b64decode(attachment["datas"]).decode()
        return out

    def text(self, reads):
        return json.dumps(reads, default=str)

    def chatter_message(self, reads, message):
        data = reads["chatter"]["data"]["mail.message"]
        return next(m for m in data if m["id"] == message.id)

    def assert_sees(self, reads, subject, body, attachment, who=""):
        """What ``reads`` hold of the received email: its subject, its text,
        its attachment (name and content), each present or absent."""
        blob = self.text(reads)
        for present, word, what in (
            (subject, SUBJECT_WORD, "subject"),
            (body, BODY_WORD, "text"),
            (body, REPLY_WORD, "reply's text"),
            (attachment, FILE_WORD, "attachment's name"),
            (attachment, FILE_TEXT, "attachment's content"),
        ):
            with self.subTest(who=who, what=what):
                if present:
                    self.assertIn(word, blob, f"{who} reads the {what}")
                else:
                    self.assertNotIn(word, blob, f"{who} must not read the {what}")
        # searches answer ids and counts: what they find is what they may read
        for key, present, found in (
            ("body_search", body, self.received.ids),
            ("subject_search", subject, sorted(self.synced.ids)),
        ):
            if key in reads:
                with self.subTest(who=who, search=key):
                    if present:
                        self.assertEqual(sorted(reads[key]), found)
                    else:
                        self.assertIn(reads[key], ([], "refused"))
        if "chatter_search" in reads:
            with self.subTest(who=who, search="chatter"):
                result = reads["chatter_search"]
                count = 0 if result == "refused" else result["count"]
                self.assertEqual(count, 1 if body else 0)

    def assert_participants_and_date(self, reads, who=""):
        """The chatter still shows that the email exists, from whom and when."""
        message = self.chatter_message(reads, self.received)
        self.assertIn(ALICE, message["email_from"], who)
        self.assertEqual(message["date"], "2026-03-01 09:00:00", who)

    def set_level(self, level):
        """The owner picks the level over RPC, as the mailbox form does."""
        self.rpc(
            self.owner,
            "mail.sync.account",
            "write",
            [self.account.id],
            {"visibility": level},
        )
        self.env.invalidate_all()

    # ------------------------------------------------------------------
    # 1. Levels
    # ------------------------------------------------------------------
    def test_full_level_everyone_who_reads_the_lead_reads_it(self):
        for user in (self.owner, self.colleague, self.sales_manager, self.admin):
            reads = self.reads(user)
            self.assert_sees(reads, True, True, True, who=user.login)
        self.assert_sees(self.reads(self.portal), False, False, False, who="portal")

    def test_subject_level_colleagues_read_subject_participants_and_date(self):
        self.set_level("subject")
        for user in (self.colleague, self.sales_manager, self.admin):
            reads = self.reads(user)
            self.assert_sees(reads, True, False, False, who=user.login)
            self.assert_participants_and_date(reads, who=user.login)
        self.assert_sees(self.reads(self.portal), False, False, False, who="portal")

    def test_metadata_level_colleagues_read_participants_and_date_only(self):
        self.set_level("metadata")
        for user in (self.colleague, self.sales_manager, self.admin):
            reads = self.reads(user)
            self.assert_sees(reads, False, False, False, who=user.login)
            self.assert_participants_and_date(reads, who=user.login)
            self.assertIn(
                f"only {self.owner.name} sees",
                self.chatter_message(reads, self.received)["body"].lower(),
                "the placeholder says whose email it is",
            )
        self.assert_sees(self.reads(self.portal), False, False, False, who="portal")

    def test_a_colleague_who_writes_the_lead_changes_no_synced_email(self):
        """The lead is the colleague's: stock Odoo lets him rewrite or delete its
        messages and their attachments over RPC. The owner's synced email is
        the record of what was exchanged, whatever its level."""
        for level in ("full", "subject"):
            self.set_level(level)
            for values in (
                {"body": "<p>I never said that</p>"},
                {"subject": "Rewritten"},
                {"email_from": "someone.else@acme.example.com"},
                {"res_id": self.lead.id + 1000},
                {"date": "2020-01-01 00:00:00"},
            ):
                with self.subTest(level=level, values=values), self.attempt():
                    error = self.refused(
                        self.colleague,
                        "mail.message",
                        "write",
                        self.received.ids,
                        values,
                    )
                    self.assertIn("only Mail Sync changes or removes it", error)
            with self.subTest(level=level, unlink=True), self.attempt():
                self.refused(self.colleague, "mail.message", "unlink", self.synced.ids)
        # At full level its attachment is the lead's, the colleague's to write
        # in stock Odoo: not this one.
        self.set_level("full")
        for method, args in (
            (
                "write",
                [self.attachment.ids, {"datas": base64.b64encode(b"x").decode()}],
            ),
            ("unlink", [self.attachment.ids]),
        ):
            with self.subTest(attachment=method), self.attempt():
                self.refused(self.colleague, "ir.attachment", method, *args)
        self.env.invalidate_all()
        self.assertEqual(str(self.received.body), self.original_body)
        self.assertEqual(self.received.subject, SUBJECT)
        self.assertEqual(self.attachment.raw, FILE_BYTES)
        # What is the colleague's own stays his: a note he wrote on his lead.
        note = self.lead.with_user(self.colleague).message_post(body="My note")
        self.rpc(self.colleague, "mail.message", "unlink", note.ids)

    def test_the_owner_reads_their_own_mail_in_full_at_every_level(self):
        for level in ("subject", "metadata"):
            self.set_level(level)
            reads = self.reads(self.owner)
            for route, words in (
                ("chatter", (SUBJECT_WORD, BODY_WORD, REPLY_WORD, FILE_WORD)),
                ("emails", (SUBJECT_WORD, BODY_WORD, REPLY_WORD, FILE_WORD)),
                ("vault", (SUBJECT_WORD, BODY_WORD, REPLY_WORD)),
                ("vault_attachments", (FILE_WORD,)),
                ("web_content", (FILE_TEXT,)),
            ):
                for word in words:
                    with self.subTest(level=level, route=route, word=word):
                        self.assertIn(word, self.text(reads[route]))
            chatter = self.chatter_message(reads, self.received)
            self.assertIn(BODY_WORD, chatter["body"])
            self.assertEqual(chatter["subject"], SUBJECT)
            self.assertEqual(chatter["mail_sync_hidden"], level)

    def test_a_level_change_applies_to_mail_already_synced_and_back(self):
        self.set_level("metadata")
        self.assertNotIn(BODY_WORD, str(self.received.body))
        self.assertFalse(self.received.subject)
        self.assertFalse(self.received.attachment_ids)
        self.set_level("subject")
        self.assertEqual(self.received.subject, SUBJECT)
        self.assertNotIn(BODY_WORD, str(self.received.body))
        self.set_level("full")
        self.assertEqual(str(self.received.body), self.original_body, "restored whole")
        self.assertEqual(self.received.subject, SUBJECT)
        self.assertEqual(self.received.attachment_ids, self.attachment)
        self.assertEqual(self.attachment.res_model, "crm.lead")
        self.assertEqual(self.attachment.res_id, self.lead.id)
        self.assertFalse(self.env["mail.sync.content"].search([]))
        self.assert_sees(self.reads(self.colleague), True, True, True, "colleague")

    def test_only_the_owner_chooses_the_level(self):
        self.set_level("subject")
        self.assertEqual(self.account.visibility, "subject")
        for user in (self.colleague, self.sales_manager, self.admin):
            self.refused(
                user,
                "mail.sync.account",
                "write",
                [self.account.id],
                {"visibility": "full"},
            )
        self.refused(
            self.colleague,
            "mail.sync.content",
            "create",
            {"mail_message_id": self.received.id, "level": "subject"},
        )

    # ------------------------------------------------------------------
    # 2. The company's rules
    # ------------------------------------------------------------------
    def test_a_forced_company_level_applies_whatever_the_owner_chose(self):
        self.rpc(
            self.admin,
            "res.company",
            "write",
            [self.company.id],
            {"mail_sync_visibility": "metadata"},
        )
        self.env.invalidate_all()
        self.assertEqual(self.account.visibility, "full")
        self.assertEqual(self.account.visibility_effective, "metadata")
        self.assert_sees(self.reads(self.colleague), False, False, False, "colleague")
        self.set_level("full")  # the owner's choice changes nothing
        self.assert_sees(self.reads(self.colleague), False, False, False, "colleague")
        self.rpc(
            self.admin,
            "res.company",
            "write",
            [self.company.id],
            {"mail_sync_visibility": False},
        )
        self.env.invalidate_all()
        self.assert_sees(self.reads(self.colleague), True, True, True, "colleague")

    def test_the_owner_shares_at_most_the_company_floor(self):
        self.company.mail_sync_visibility_floor = "subject"
        self.assertEqual(self.account.visibility_effective, "subject")
        self.assert_sees(self.reads(self.colleague), True, False, False, "colleague")
        self.set_level("metadata")  # more private than the floor: allowed
        self.assert_sees(self.reads(self.colleague), False, False, False, "colleague")

    def test_administrators_read_hidden_mail_only_when_the_company_allows(self):
        self.set_level("metadata")
        self.assert_sees(self.reads(self.admin), False, False, False, "admin")
        self.company.mail_sync_admins_read_hidden = True
        self.env.flush_all()
        reads = self.reads(self.admin)
        self.assert_sees(
            {
                k: reads[k]
                for k in ("chatter", "emails", "vault_attachments", "web_content")
            },
            True,
            True,
            True,
            "admin",
        )
        for user in (self.colleague, self.sales_manager):
            self.assert_sees(self.reads(user), False, False, False, user.login)

    # ------------------------------------------------------------------
    # 3. Private threads
    # ------------------------------------------------------------------
    def test_a_private_thread_shows_sender_and_date_only_and_back(self):
        self.assertTrue(
            self.rpc(
                self.owner,
                "crm.lead",
                "action_mail_sync_private",
                [self.lead.id],
                self.received.id,
            )
        )
        self.env.invalidate_all()
        for user in (self.colleague, self.sales_manager, self.admin):
            reads = self.reads(user)
            self.assert_sees(reads, False, False, False, who=user.login)
            self.assert_participants_and_date(reads, who=user.login)
            body = self.chatter_message(reads, self.received)["body"]
            self.assertIn("Private email", body)
        owner = self.reads(self.owner)
        self.assert_sees(
            {k: owner[k] for k in ("chatter", "emails", "web_content")},
            True,
            True,
            True,
            "owner",
        )
        thread = owner["emails"]["threads"][0]
        self.assertTrue(thread["can_private"] and thread["private"])
        self.rpc(
            self.owner,
            "crm.lead",
            "action_mail_sync_private",
            [self.lead.id],
            self.received.id,
            False,
        )
        self.env.invalidate_all()
        self.assert_sees(self.reads(self.colleague), True, True, True, "colleague")

    def test_only_the_owner_makes_a_thread_private(self):
        for user in (self.colleague, self.sales_manager, self.admin):
            error = self.refused(
                user,
                "crm.lead",
                "action_mail_sync_private",
                [self.lead.id],
                self.received.id,
            )
            self.assertIn("Only the owner", error)
        self.refused(
            self.colleague,
            "mail.sync.message",
            "write",
            self.env["mail.sync.message"].search([]).ids,
            {"private": False},
        )

    def test_an_answer_synced_later_in_a_private_thread_is_private(self):
        self.rpc(
            self.owner,
            "crm.lead",
            "action_mail_sync_private",
            [self.lead.id],
            self.received.id,
        )
        later = self.sync_later(
            "<a3-private@acme>", in_reply_to="<s2@ourcompany.example.com>"
        )
        self.assertIn("Private email", str(later.body))
        self.assertNotIn(LATER_WORD, self.text(self.reads(self.colleague)))
        self.assertIn(LATER_WORD, self.text(self.reads(self.owner)["chatter"]))
        # a new thread of the same mailbox is not private
        other = self.sync_later("<a9-other@acme>", subject="Another matter")
        self.assertIn(LATER_WORD, str(other.body))

    # ------------------------------------------------------------------
    # 4. The sync writes what colleagues may see, nothing more
    # ------------------------------------------------------------------
    def sync_later(self, message_id, subject=f"Re: {SUBJECT}", **kw):
        """Alice writes again; the owner's mailbox syncs it; its chatter message.
        (The class's IMAP server keeps what a test appends: each test's own
        Message-ID.)"""
        self.imap.append(
            self.owner.login,
            "INBOX",
            make_message(
                f"Alice Martin <{ALICE}>",
                self.owner.email,
                subject=subject,
                message_id=message_id,
                text=f"Later: {LATER_WORD}.\n",
                **kw,
            ),
        )
        self.env["mail.sync.scheduler"]._cron_sync()
        self.env.invalidate_all()
        return self.lead.message_ids.filtered(lambda m: m.message_id == message_id)

    def test_mail_synced_at_a_hidden_level_is_hidden_from_the_start(self):
        self.set_level("metadata")
        later = self.sync_later("<a5-hidden@acme>")
        self.assertTrue(later)
        self.assertNotIn(LATER_WORD, str(later.body))
        self.assertFalse(later.subject)
        self.assertNotIn(LATER_WORD, self.text(self.reads(self.colleague)))
        self.assertIn(LATER_WORD, self.text(self.reads(self.owner)["chatter"]))

    def test_private_thread_in_the_browser(self):
        self.start_tour(
            f"/odoo/crm/{self.lead.id}",
            "mail_sync_crm_private_owner_tour",
            login=self.owner.login,
            timeout=180,
        )
        self.env.invalidate_all()
        self.assertIn("Private email", str(self.received.body))
        self.start_tour(
            f"/odoo/crm/{self.lead.id}",
            "mail_sync_crm_private_colleague_tour",
            login=self.colleague.login,
            timeout=180,
        )

    def test_an_email_kept_for_a_colleague_on_disconnect_follows_their_level(self):
        self.set_level("metadata")
        # the colleague's mailbox holds a copy of the same email
        self.imap.append(self.colleague.login, "INBOX", self.raw_received)
        theirs = self.connected_account(self.colleague)
        theirs.with_user(self.colleague).visibility = "subject"
        self.env["mail.sync.scheduler"]._cron_sync()
        self.assert_sees(self.reads(self.colleague), False, False, False, "colleague")
        self.account.with_user(self.owner).action_disable(keep_history=False)
        self.env.invalidate_all()
        self.assertTrue(self.received.exists(), "kept: the colleague has it too")
        content = self.env["mail.sync.content"].search(
            [("mail_message_id", "=", self.received.id)]
        )
        self.assertEqual((content.user_id, content.level), (self.colleague, "subject"))
        chatter = self.chatter_message(self.reads(self.colleague), self.received)
        self.assertIn(BODY_WORD, chatter["body"], "now the colleague's own mail")
        former = self.reads(self.owner)
        self.assertEqual(
            self.chatter_message(former, self.received)["subject"], SUBJECT
        )
        self.assertNotIn(BODY_WORD, self.chatter_message(former, self.received)["body"])

    # ------------------------------------------------------------------
    # 5. Counts
    # ------------------------------------------------------------------
    def test_counts_and_the_report_are_the_same_at_every_level(self):
        def counts():
            self.env.invalidate_all()
            report = self.rpc(
                self.sales_manager,
                "mail.sync.message",
                "read_group",
                [],
                ["stage_id"],
                ["stage_id"],
            )
            return (
                self.lead.mail_sync_count,
                self.account.synced_count,
                [(g["stage_id"][0], g["stage_id_count"]) for g in report],
                len(self.reads(self.colleague)["chatter"]["messages"]),
            )

        before = counts()
        self.assertEqual(before[:2], (2, 2))
        for level in ("subject", "metadata", "full"):
            self.set_level(level)
            self.assertEqual(counts(), before, level)
