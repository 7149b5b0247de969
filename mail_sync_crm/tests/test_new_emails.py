# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Open chatters follow the emails a sync writes (#19, "shows on the lead's
chatter without a reload"), against a real Dovecot: when the turn's (or a
past-mail search's) transaction commits, each user who may be looking at a
lead it wrote on gets one bus notification with the ids of those leads, and
no one who may not read the lead does; a turn that wrote nothing costs no
query. What a notified browser then fetches is what the user may read: the
chatter's own route, with their rights (the private email stays private)."""

import gc
import json
import weakref
from datetime import datetime, timedelta
from unittest import mock

from odoo.tests import tagged

from mail_sync_testing import make_message

from ..store import new_emails
from ..store.new_emails import NOTIFICATION
from .common import MailSyncHttpCase, login_password
from .sync_common import ALICE, BRUNO, SyncCase
from .test_past_mail import CAROL, PastMailMixin


class NewEmailsMixin:
    def committed(self):
        """What the bus holds of ``NOTIFICATION`` once the test's transaction
        commits (its pre-commit hooks run, as Odoo's own bus tests do):
        {notified partner: [lead ids]}, failing on two rows for one partner."""
        self.env.cr.precommit.run()
        return self.notified()

    def notified(self):
        Bus = self.env["bus.bus"].sudo()
        found = {}
        for row in Bus.search([("id", ">", self.bus_before)], order="id"):
            message = json.loads(row.message)
            if message["type"] != NOTIFICATION:
                continue
            _db, model, partner = json.loads(row.channel)
            self.assertEqual(model, "res.partner")
            self.assertNotIn(partner, found, "one notification per user")
            self.assertEqual(list(message["payload"]), ["lead_ids"], "ids only")
            found[partner] = message["payload"]["lead_ids"]
        return found

    def mark_bus(self):
        self.env.cr.precommit.run()
        last = self.env["bus.bus"].sudo().search([], order="id desc", limit=1)
        self.bus_before = last.id


@tagged("post_install", "-at_install")
class TestNewEmails(NewEmailsMixin, PastMailMixin, SyncCase):
    def setUp(self):
        super().setUp()
        # Alice's lead belongs to the salesperson who sees only their own
        # leads; a sales manager follows it, and so do a user of the other
        # company and a portal user, who may not read it. Bruno's opportunity
        # is the sales manager's.
        self.lead.user_id = self.salesman
        self.globex.user_id = self.sales_manager
        self.lead.message_subscribe(
            (self.sales_manager | self.other_company_user | self.portal).partner_id.ids
        )
        self.account = self.mailbox(self.salesman_all)
        self.mark_bus()

    def commit_queries(self):
        """The queries the commit of the test's transaction runs before its
        COMMIT (its pre-commit hooks): a turn's own writes are flushed first."""
        self.env.flush_all()
        before = self.env.cr.sql_log_count
        self.env.cr.precommit.run()
        return self.env.cr.sql_log_count - before

    def turn(self, account=None):
        Scheduler = self.env["mail.sync.scheduler"]
        self.assertIsNone(Scheduler._claim_turn((account or self.account).sudo()))

    def test_a_turn_tells_each_user_once_which_leads_got_emails(self):
        self.put(
            self.salesman_all,
            "INBOX",
            self.received(ALICE, "Robots: the quote", user=self.salesman_all),
            self.received(ALICE, "Robots: one more thing", user=self.salesman_all),
            self.received(BRUNO, "Globex: the visit", user=self.salesman_all),
        )
        self.turn()
        self.assertEqual(len(self.synced(self.lead)), 2)
        self.assertEqual(len(self.synced(self.globex)), 1)
        self.assertEqual(self.notified(), {}, "nothing before the commit")
        both = sorted((self.lead | self.globex).ids)
        self.assertEqual(
            self.committed(),
            {
                # the mailbox's owner: both leads, in one notification
                self.salesman_all.partner_id.id: both,
                # Alice's lead's salesperson: her lead only
                self.salesman.partner_id.id: [self.lead.id],
                # follower of Alice's lead, salesperson of Bruno's
                self.sales_manager.partner_id.id: both,
            },
            "the other company's user and the portal user, following the lead "
            "but not allowed to read it, are told nothing",
        )

    def test_the_owner_is_not_told_of_a_lead_they_may_not_read(self):
        """The mailbox of a salesperson who sees only their own leads records an
        email on a colleague's lead: the colleague is told, the owner is not."""
        account = self.mailbox(self.salesman)
        self.put(self.salesman, "INBOX", self.received(BRUNO, "Globex: the visit"))
        self.turn(account)
        self.assertEqual(len(self.synced(self.globex)), 1)
        self.assertFalse(self.globex.with_user(self.salesman).has_access("read"))
        self.assertEqual(
            self.committed(), {self.sales_manager.partner_id.id: [self.globex.id]}
        )

    def test_a_turn_that_wrote_nothing_tells_no_one_and_costs_no_query(self):
        self.turn()  # the mailbox's first turn: its empty folders
        self.committed()
        self.put(
            self.salesman_all,
            "INBOX",
            self.received(
                "stranger@elsewhere.example.com", "No lead", user=self.salesman_all
            ),
        )
        self.turn()
        self.assertEqual(self.commit_queries(), 0, "what the commit adds to the turn")
        self.assertEqual(self.notified(), {})
        # The same turn with an email for a lead pays for its notification.
        self.put(
            self.salesman_all,
            "INBOX",
            self.received(ALICE, "Robots: the quote", user=self.salesman_all),
        )
        self.turn()
        self.assertGreater(self.commit_queries(), 0)
        self.assertEqual(len(self.notified()), 3)

    def test_a_batch_rolled_back_tells_no_one_until_recorded_again(self):
        """A batch that does not commit (a claim lost to another process, a
        failed turn) takes its notification with it; the turn that records the
        email again tells of it."""
        self.put(
            self.salesman_all,
            "INBOX",
            self.received(ALICE, "Robots: the quote", user=self.salesman_all),
        )
        with self.assertRaises(RuntimeError), self.env.cr.savepoint():
            self.turn()
            self.assertEqual(len(self.synced(self.lead)), 1)
            raise RuntimeError("the transaction is rolled back")
        self.env.invalidate_all()
        self.assertFalse(self.synced(self.lead))
        self.assertEqual(self.committed(), {})
        # The next turn records it again, and tells of it once.
        self.turn()
        self.assertEqual(len(self.synced(self.lead)), 1)
        told = [self.salesman_all, self.salesman, self.sales_manager]
        self.assertEqual(
            self.committed(), {user.partner_id.id: [self.lead.id] for user in told}
        )

    def test_a_past_mail_search_tells_too(self):
        self.set_mode("auto")
        self.history(self.salesman_all)
        self.account.sudo().connected_date = datetime.now() - timedelta(hours=1)
        lead = self.Lead.create(
            {"name": "Carol's deal", "email_from": CAROL, "user_id": self.salesman.id}
        )
        self.find_past_mail()
        self.assertEqual(len(self.synced(lead)), 3)
        self.assertEqual(
            self.committed(),
            {
                self.salesman_all.partner_id.id: [lead.id],
                self.salesman.partner_id.id: [lead.id],
            },
        )

    def test_a_run_frees_what_its_turns_notifications_leave(self):
        """Issue #23: a scheduled run of thousands of first syncs slowed down
        turn after turn. Each turn's history tuned the process
        (``lib/sync/process_tuning.long_run``: ``gc.freeze``), which froze the
        garbage the turns before it left, the environments of their
        notifications included (Odoo keeps those in reference cycles), and
        every environment Odoo looked up walked all of them. In a run, what a
        turn's notification left is collected while the next turn writes."""
        second = self.mailbox(self.salesman)
        self.put(
            self.salesman_all,
            "INBOX",
            self.received(ALICE, "Robots: the quote", user=self.salesman_all),
        )
        self.put(self.salesman, "INBOX", self.received(ALICE, "Robots: my notes"))
        Turn = type(self.env["mail.sync.turn"])
        take, written = Turn._take, new_emails.written
        left = []  # weak references to what each turn's notification left
        checks = []  # while a turn writes: (left before, still alive)

        def notification_envs():
            return [
                env
                for env in self.env.transaction.envs
                if env.context.get("allowed_company_ids") == []
            ]

        def turn_then_commit(model, *args, **kwargs):
            outcome = take(model, *args, **kwargs)
            self.env.flush_all()
            self.env.cr.precommit.run()  # the notification, as its commit sends
            envs = notification_envs()
            # In a run of thousands of turns they outlive the young
            # collections of what follows: their garbage waits for a full one.
            gc.collect(1)
            left.extend(weakref.ref(env) for env in envs)
            return outcome

        def writing(*args, **kwargs):
            gc.collect()
            checks.append((len(left), sum(ref() is not None for ref in left)))
            return written(*args, **kwargs)

        with (
            mock.patch.object(Turn, "_take", turn_then_commit),
            mock.patch.object(new_emails, "written", writing),
        ):
            self.env["mail.sync.scheduler"]._cron_sync()
        self.assertEqual(len(self.synced(self.lead)), 2, "both turns wrote")
        self.assertTrue(second.sudo().last_sync_date)
        self.assertEqual(len(checks), 2)
        self.assertEqual(checks[0], (0, 0))
        self.assertGreater(checks[1][0], 0, "the first turn notified someone")
        self.assertEqual(
            checks[1][1],
            0,
            "the first notification's environments were freed before the run ended",
        )


@tagged("post_install", "-at_install")
class TestNewEmailsFetched(NewEmailsMixin, MailSyncHttpCase):
    """What a notified browser fetches is the chatter's own route, with the
    user's rights: a colleague told of a private email gets no more of it than
    a reload would give."""

    def test_a_colleague_told_of_a_private_email_fetches_none_of_it(self):
        owner, colleague = self.salesman_all, self.salesman
        lead = self.env["crm.lead"].create(
            {"name": "Acme robots", "email_from": ALICE, "user_id": colleague.id}
        )
        account = self.connected_account(owner, visibility="metadata")
        self.mark_bus()
        self.imap.append(
            owner.login,
            "INBOX",
            make_message(
                ALICE,
                owner.email,
                subject="Secret Zurich price",
                text="The word is Quokka4711.\n",
            ),
        )
        self.assertIsNone(self.env["mail.sync.scheduler"]._claim_turn(account.sudo()))
        told = self.committed()
        self.assertEqual(told.get(colleague.partner_id.id), [lead.id])
        self.assertEqual(told.get(owner.partner_id.id), [lead.id])

        email = lead.message_ids.filtered(lambda m: m.message_type == "email")
        self.assertEqual(len(email), 1)

        def fetched(user):
            """What the chatter open in ``user``'s browser fetches."""
            self.authenticate(user.login, login_password(user.login))
            page = self.make_jsonrpc_request(
                "/mail/thread/messages",
                {"thread_model": "crm.lead", "thread_id": lead.id},
            )
            self.assertIn(email.id, page["messages"])
            return json.dumps(page)

        self.env.flush_all()
        mine = fetched(owner)
        self.assertIn("Quokka4711", mine)
        self.assertIn("Secret Zurich price", mine)
        theirs = fetched(colleague)
        self.assertNotIn("Quokka4711", theirs)
        self.assertNotIn("Zurich", theirs)
