# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The claim on a (Message-ID, lead) pair is the database's: one mailbox only
introduces it (the races themselves run in real processes: test_concurrency)."""

import psycopg2

from odoo.tests import tagged
from odoo.tools import SQL, mute_logger
from odoo.tools.sql import index_exists

from mail_sync_testing import DovecotServer, make_message

from ..store import claims
from .common import PASSWORD, MailSyncCase, started

ALICE = "alice.martin@acme.example.com"
SHARED = "<shared-claim@acme.example.com>"


@tagged("post_install", "-at_install")
class TestClaims(MailSyncCase):
    def setUp(self):
        super().setUp()
        self.mail = started(DovecotServer(), self.addCleanup)
        self.lead = self.env["crm.lead"].create(
            {"name": "Acme robots", "type": "lead", "email_from": ALICE}
        )
        raw = make_message(
            ALICE,
            [self.salesman.email, self.salesman_all.email],
            subject="Shared",
            message_id=SHARED,
        )
        self.accounts = self.env["mail.sync.account"]
        for user in (self.salesman, self.salesman_all):
            self.mail.add_user(user.login, PASSWORD)
            self.mail.append(user.login, "INBOX", raw)
            self.accounts |= self.connected_account(
                user, imap_host=self.mail.host, imap_port=self.mail.ssl_port
            ).sudo()
        self.env["mail.sync.scheduler"]._cron_sync()
        self.Ledger = self.env["mail.sync.message"].sudo()

    def on_chatter(self):
        self.lead.invalidate_recordset(["message_ids"])
        return self.lead.message_ids.filtered(lambda m: m.message_id == SHARED)

    def test_the_database_refuses_a_pair_introduced_twice(self):
        rows = self.Ledger.search([("message_id", "=", SHARED)])
        self.assertEqual(sorted(rows.mapped("introduced")), [False, True])
        found = rows.filtered(lambda r: not r.introduced)
        with (
            mute_logger("odoo.sql_db"),
            self.assertRaises(psycopg2.errors.UniqueViolation) as caught,
            self.env.cr.savepoint(),
        ):
            found.introduced = True
            found.flush_recordset()
        self.assertTrue(claims.is_conflict(caught.exception))

    def test_copies_made_by_earlier_versions_are_removed_with_the_index(self):
        """A database where two mailboxes both wrote the pair (before the claim
        existed): updating the addon keeps the first chatter message, points
        both ledger rows at it and creates the claim index."""
        kept = self.on_chatter()
        self.assertEqual(len(kept), 1)
        self.env.cr.execute(SQL("DROP INDEX %s", SQL.identifier(claims.CLAIM_INDEX)))
        copy = (
            self.env["mail.message"]
            .sudo()
            .create(
                {
                    "model": "crm.lead",
                    "res_id": self.lead.id,
                    "message_id": SHARED,
                    "subject": "Shared",
                    "message_type": "email",
                    "subtype_id": kept.subtype_id.id,
                }
            )
        )
        found = self.Ledger.search(
            [("message_id", "=", SHARED), ("introduced", "=", False)]
        )
        found.write({"introduced": True, "mail_message_id": copy.id})
        self.env.flush_all()
        self.assertEqual(len(self.on_chatter()), 2)

        claims.ensure_claim_index(self.env)
        self.env.invalidate_all()
        self.assertEqual(self.on_chatter(), kept)
        self.assertFalse(copy.exists())
        rows = self.Ledger.search([("message_id", "=", SHARED)])
        self.assertEqual(rows.account_id, self.accounts)
        self.assertEqual(rows.mail_message_id, kept)
        self.assertEqual(sorted(rows.mapped("introduced")), [False, True])
        self.assertTrue(index_exists(self.env.cr, claims.CLAIM_INDEX))
