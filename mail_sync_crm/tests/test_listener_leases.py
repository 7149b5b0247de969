# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""How listeners divide the mailboxes (``mail.sync.listener._heartbeat``), and
the scheduled run as their safety net: it leaves out a mailbox a live listener
gave a turn within its interval, and takes it again when the listener dies or
stayed silent about it. (Real listener processes: test_listener_processes.py.)"""

from odoo import fields
from odoo.tests import tagged

from .schedule_common import ScheduledSyncCase


@tagged("post_install", "-at_install")
class TestListenerLeases(ScheduledSyncCase):
    def setUp(self):
        super().setUp()
        self.accounts = self.Account.browse()
        for user in self.users:
            self.accounts |= self.mailbox(user)
        self.Listener = self.env["mail.sync.listener"]

    def expire(self, name):
        """Listener ``name`` died: its heartbeat and its leases ran out."""
        self.env.cr.execute(
            """UPDATE mail_sync_listener SET expires = expires - interval '1 hour'
                WHERE name = %s""",
            [name],
        )
        self.env.cr.execute(
            """UPDATE mail_sync_listener_lease l SET expires = s.expires
                 FROM mail_sync_listener s
                WHERE s.id = l.listener_id AND s.name = %s""",
            [name],
        )

    def test_listeners_divide_the_mailboxes_and_take_a_dead_one_s(self):
        alone = self.Listener._heartbeat("a")
        self.assertEqual(sorted(alone), sorted(self.accounts.ids), "one takes all")
        # A second listener: its fair share (2 of 3) is taken as the first
        # gives up what is above its own at its next heartbeat.
        self.assertEqual(self.Listener._heartbeat("b"), [], "nothing free yet")
        first = self.Listener._heartbeat("a")
        second = self.Listener._heartbeat("b")
        self.assertEqual(len(first), 2)
        self.assertEqual(len(second), 1)
        self.assertFalse(set(first) & set(second), "no mailbox held twice")
        # "a" dies: "b" takes everything at its next heartbeat.
        self.expire("a")
        self.assertEqual(
            sorted(self.Listener._heartbeat("b")), sorted(self.accounts.ids)
        )
        # A disconnected mailbox is let go.
        self.accounts[0].state = "draft"
        self.assertEqual(
            sorted(self.Listener._heartbeat("b")), sorted(self.accounts[1:].ids)
        )

    def test_the_run_leaves_out_what_a_live_listener_just_synced(self):
        now = fields.Datetime.now()
        self.accounts.write({"last_attempt_date": now, "next_attempt_date": False})
        Scheduler = self.env["mail.sync.scheduler"]
        self.assertEqual(Scheduler._due_mailboxes(now), self.accounts)
        self.Listener._heartbeat("a")
        # Held, but given no turn by the listener (its watch heard nothing, or
        # fails): the run still checks them.
        self.assertEqual(Scheduler._due_mailboxes(now), self.accounts)
        for account in self.accounts:
            self.Listener._synced("a", account.id)
        self.assertEqual(Scheduler._due_mailboxes(now), self.Account.browse())
        # The listener dies: the run takes them again.
        self.expire("a")
        self.assertEqual(Scheduler._due_mailboxes(now), self.accounts)
        # Its last turn older than the scheduled sync's interval: the run's too.
        self.Listener._heartbeat("b")
        self.Listener._synced("b", self.accounts[1].id)
        self.env.cr.execute(
            """UPDATE mail_sync_listener_lease SET synced_at = %s
                WHERE account_id = %s""",
            [now.replace(year=now.year - 1), self.accounts[1].id],
        )
        self.assertEqual(Scheduler._due_mailboxes(now), self.accounts)
        self.Listener._synced("b", self.accounts[2].id)
        self.assertEqual(Scheduler._due_mailboxes(now), self.accounts[:2])
