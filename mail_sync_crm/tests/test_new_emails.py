# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Open chatters follow the emails a sync writes (#19, "shows on the lead's
chatter without a reload"), against a real Dovecot: when the turn's (or a
past-mail search's) transaction commits, each lead it wrote on gets one bus
notification with its id, on its own channel; a turn that wrote nothing costs
no query. A browser hears a lead's channel only if its user may read the lead
when it asks (#23: the sync itself checks no one's rights, so its cost does not
grow with the users), and what it then fetches is what the user may read: the
chatter's own route, with their rights (the private email stays private)."""

import gc
import json
import weakref
from datetime import datetime, timedelta
from unittest import mock

from odoo.tests import get_db_name, tagged

from mail_sync_testing import make_message

from ..store import new_emails
from ..store.new_emails import CHANNEL_PREFIX, NOTIFICATION
from .common import MailSyncHttpCase, login_password
from .sync_common import ALICE, BRUNO, SyncCase
from .test_past_mail import CAROL, PastMailMixin


def lead_channel(lead_id):
    """The lead's channel as the bus stores and a page's answer lists it."""
    return [get_db_name(), "crm.lead", lead_id, NOTIFICATION]


class NewEmailsMixin:
    def committed(self):
        """What the bus holds of ``NOTIFICATION`` once the test's transaction
        commits (its pre-commit hooks run, as Odoo's own bus tests do): the
        ids of the leads told, failing on two rows for one lead."""
        self.env.cr.precommit.run()
        return self.notified()

    def notified(self):
        Bus = self.env["bus.bus"].sudo()
        found = []
        for row in Bus.search([("id", ">", self.bus_before)], order="id"):
            message = json.loads(row.message)
            if message["type"] != NOTIFICATION:
                continue
            self.assertEqual(list(message["payload"]), ["lead_ids"], "ids only")
            (lead,) = message["payload"]["lead_ids"]
            self.assertEqual(json.loads(row.channel), lead_channel(lead))
            self.assertNotIn(lead, found, "one notification per lead")
            found.append(lead)
        return sorted(found)

    def mark_bus(self):
        self.env.cr.precommit.run()
        last = self.env["bus.bus"].sudo().search([], order="id desc", limit=1)
        self.bus_before = last.id


@tagged("post_install", "-at_install")
class TestNewEmails(NewEmailsMixin, PastMailMixin, SyncCase):
    def setUp(self):
        super().setUp()
        # Alice's lead belongs to the salesperson who sees only their own
        # leads; Bruno's opportunity is the sales manager's. Colleagues follow
        # Alice's: the sync no longer looks them up.
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

    def test_a_turn_tells_each_lead_it_wrote_on_once(self):
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
        self.assertEqual(self.notified(), [], "nothing before the commit")
        self.assertEqual(self.committed(), sorted((self.lead | self.globex).ids))

    def test_the_notification_costs_the_same_whoever_follows_the_leads(self):
        """Issue #23: the notification checked the rights of each user who
        follows a lead, as that user, filling Odoo's per-user caches; past
        about 2,000 users a run found them cold, about 10 ms a user. Its cost
        now depends on the leads written only."""
        followers = self.env["res.users"]
        for i in range(5):
            followers |= self.env["res.users"].create(
                {
                    "name": f"Follower {i}",
                    "login": f"follower_{i}",
                    "groups_id": [(6, 0, [self.ref("sales_team.group_sale_manager")])],
                }
            )

        def turn_of_one_email(subject):
            self.env.flush_all()
            self.mark_bus()  # what the set-up sends is not the turn's
            self.put(
                self.salesman_all,
                "INBOX",
                self.received(ALICE, subject, user=self.salesman_all),
            )
            self.turn()
            queries = self.commit_queries()
            self.assertEqual(self.notified(), [self.lead.id])
            return queries

        turn_of_one_email("Robots: the quote")  # Odoo's own caches warm up
        alone = turn_of_one_email("Robots: one more thing")
        # Five more users who may read the lead follow it.
        self.lead.message_subscribe(followers.partner_id.ids)
        self.assertEqual(turn_of_one_email("Robots: the reply"), alone)

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
        self.assertEqual(self.notified(), [])
        # The same turn with an email for a lead pays for its notification.
        self.put(
            self.salesman_all,
            "INBOX",
            self.received(ALICE, "Robots: the quote", user=self.salesman_all),
        )
        self.turn()
        self.assertGreater(self.commit_queries(), 0)
        self.assertEqual(self.notified(), [self.lead.id])

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
        self.assertEqual(self.committed(), [])
        # The next turn records it again, and tells of it once.
        self.turn()
        self.assertEqual(len(self.synced(self.lead)), 1)
        self.assertEqual(self.committed(), [self.lead.id])

    def test_a_past_mail_search_tells_too(self):
        self.set_mode("auto")
        self.history(self.salesman_all)
        self.account.sudo().connected_date = datetime.now() - timedelta(hours=1)
        lead = self.Lead.create(
            {"name": "Carol's deal", "email_from": CAROL, "user_id": self.salesman.id}
        )
        self.find_past_mail()
        self.assertEqual(len(self.synced(lead)), 3)
        self.assertEqual(self.committed(), [lead.id])

    def test_a_run_frees_what_its_turns_leave(self):
        """Issue #23: a scheduled run of thousands of first syncs slowed down
        turn after turn. Each turn's history tuned the process
        (``lib/sync/process_tuning.long_run``: ``gc.freeze``), which froze the
        garbage the turns before it left, the environments of their
        notifications included (Odoo keeps those in reference cycles), and
        every environment Odoo looked up walked all of them. In a run, what a
        turn left is collected while the next turn writes. (The notification
        no longer makes environments; the garbage here is what it left: an
        environment of another user, which Odoo keeps in reference cycles.)"""
        second = self.mailbox(self.salesman)
        self.put(
            self.salesman_all,
            "INBOX",
            self.received(ALICE, "Robots: the quote", user=self.salesman_all),
        )
        self.put(self.salesman, "INBOX", self.received(ALICE, "Robots: my notes"))
        Turn = type(self.env["mail.sync.turn"])
        take, written = Turn._take, new_emails.written
        left = []  # weak references to what each turn left
        checks = []  # while a turn writes: (left before, still alive)

        def turn_then_commit(model, *args, **kwargs):
            outcome = take(model, *args, **kwargs)
            self.env.flush_all()
            self.env.cr.precommit.run()  # the notification, as its commit sends
            leads = self.Lead.with_user(self.salesman).with_context(
                allowed_company_ids=[]
            )
            leads.browse(self.lead.ids)._filtered_access("read")
            left.append(weakref.ref(leads.env))
            # In a run of thousands of turns they outlive the young
            # collections of what follows (aged here while held): their
            # garbage waits for a full one.
            gc.collect(1)
            del leads
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
        self.assertEqual(checks[1], (1, 0), "freed before the run ended")


@tagged("post_install", "-at_install")
class TestNewEmailsFetched(NewEmailsMixin, MailSyncHttpCase):
    """What a notified browser fetches is the chatter's own route, with the
    user's rights: a colleague told of a private email gets no more of it than
    a reload would give."""

    def heard(self, user, *leads, asked=()):
        """What ``user``'s page gets when it asks for ``leads``' channels (and
        any ``asked`` strings): the websocket's fallback route, which runs the
        same subscription code as the websocket."""
        self.authenticate(user.login, login_password(user.login))
        channels = [f"{CHANNEL_PREFIX}{lead.id}" for lead in leads] + list(asked)
        answer = self.make_jsonrpc_request(
            "/websocket/peek_notifications",
            {"channels": channels, "last": self.bus_before, "is_first_poll": True},
        )
        answer["told"] = sorted(
            lead_id
            for n in answer["notifications"]
            if n["message"]["type"] == NOTIFICATION
            for lead_id in n["message"]["payload"]["lead_ids"]
        )
        return answer

    def test_a_page_hears_only_the_leads_its_user_may_read(self):
        """The salesperson who sees only their own leads asks for a colleague's
        lead too, and for strings made to look like a lead's channel; the
        other company's user asks for both. Each hears what they may read."""
        owner, salesperson = self.salesman_all, self.salesman
        theirs = self.env["crm.lead"].create(
            {"name": "Acme robots", "email_from": ALICE, "user_id": salesperson.id}
        )
        colleagues = self.env["crm.lead"].create(
            {"name": "Globex", "email_from": BRUNO, "user_id": owner.id}
        )
        account = self.connected_account(owner)
        self.mark_bus()
        for sender in (ALICE, BRUNO):
            self.imap.append(
                owner.login, "INBOX", make_message(sender, owner.email, subject="Hi")
            )
        self.assertIsNone(self.env["mail.sync.scheduler"]._claim_turn(account.sudo()))
        both = sorted((theirs | colleagues).ids)
        self.assertEqual(self.committed(), both)
        self.env.flush_all()
        lookalikes = [
            f"{CHANNEL_PREFIX}{colleagues.id} ",
            f"{CHANNEL_PREFIX}0{colleagues.id}",
            f"{CHANNEL_PREFIX}{colleagues.id}.5",
            f"{CHANNEL_PREFIX}-{colleagues.id}",
            f"{CHANNEL_PREFIX}{10**18}",
            f"{CHANNEL_PREFIX}",
            json.dumps(lead_channel(colleagues.id)),
            NOTIFICATION,
            "crm.lead",
        ]
        self.assertEqual(self.heard(owner, theirs, colleagues)["told"], both)
        mine = self.heard(salesperson, theirs, colleagues, asked=lookalikes)
        self.assertEqual(mine["told"], [theirs.id])
        self.assertIn(lead_channel(theirs.id), mine["channels"])
        self.assertNotIn(lead_channel(colleagues.id), mine["channels"])
        for name in lookalikes[:6] + [f"{CHANNEL_PREFIX}{colleagues.id}"]:
            # the strings asked for a lead are never channels of their own
            self.assertNotIn([get_db_name(), name], mine["channels"])
        other = self.heard(self.other_company_user, theirs, colleagues)
        self.assertEqual(other["told"], [])
        # The rights are those of the moment the page asks: the lead given to
        # a colleague is heard no more from the next subscription on.
        theirs.user_id = owner
        self.env.flush_all()
        self.assertEqual(self.heard(salesperson, theirs, colleagues)["told"], [])

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
        self.assertEqual(self.committed(), [lead.id])
        for user in (owner, colleague):
            self.assertIn(lead_channel(lead.id), self.heard(user, lead)["channels"])

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
