# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""One mailbox costs the same whatever the size of the fleet (issue #23).

A mailbox's Connect, its first turn, its check for news and an incremental
turn, against a real Dovecot, run the same SQL statements and read or write
the same number of rows with 10 other mailboxes in the database as with
1,000 (copied in SQL from a real synced mailbox: owner, folders, checkpoints,
ledger, leads, chatter). The number of statements alone hid the growth: the
same query re-reading the whole fleet's rows after each cache invalidation.
And no statement of that work reads a fleet-sized table whole."""

from odoo.tests import tagged

from mail_sync_testing import DovecotServer
from mail_sync_testing.fleet import compare, growing_scans

from .common import PASSWORD, MailSyncCase, started
from .fleet_common import FleetScenario

SMALL, LARGE = 10, 1000


@tagged("post_install", "-at_install")
class TestFleetScale(MailSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        crm = "sales_team.group_sale_salesman"
        cls.template_user = cls._user("fleet_template", crm)
        cls.user_small = cls._user("fleet_small", crm)
        cls.user_large = cls._user("fleet_large", crm)
        cls.user_warm = cls._user("fleet_warm", crm)
        cls.user_warm_2 = cls._user("fleet_warm_2", crm)

    def setUp(self):
        super().setUp()
        self.mail = started(DovecotServer(), self.addCleanup)
        for user in (
            self.template_user,
            self.user_small,
            self.user_large,
            self.user_warm,
            self.user_warm_2,
        ):
            self.mail.add_user(user.login, PASSWORD)
        self.fleet = FleetScenario(
            self.env,
            self.mail,
            lambda user: self.connect_values(
                user, imap_host=self.mail.host, imap_port=self.mail.ssl_port
            ),
        )
        self.fleet.make_template(self.template_user, "buyer@template.example")

    def differences(self, small, large):
        lines = []
        for step in small:
            for shape, (few, many) in compare(small[step], large[step]).items():
                lines.append(
                    f"{step}: (statements, rows) {few} with {SMALL} mailboxes, "
                    f"{many} with {LARGE}: {shape[:300]}"
                )
        return lines

    maxDiff = None

    def test_a_mailbox_costs_the_same_with_10_or_1000_others(self):
        self.fleet.grow(SMALL)
        # what is read once per process (registry caches) read before
        self.fleet.measure(self.user_warm, "buyer@warm.example")
        small = self.fleet.measure(self.user_small, "buyer@small.example")
        self.fleet.grow(LARGE)
        self.fleet.measure(self.user_warm_2, "buyer@warm-2.example")
        large = self.fleet.measure(self.user_large, "buyer@large.example")
        # the work itself was done: the history and the new message recorded
        for user in (self.user_small, self.user_large):
            account = self.env["mail.sync.account"].search([("user_id", "=", user.id)])
            self.assertEqual(account.state, "enabled")
            self.assertEqual(account.synced_count, 6)  # 5 of 20, then 1 new
        self.assertEqual(self.differences(small, large), [])

    def test_no_statement_of_a_mailbox_reads_the_fleet_whole(self):
        """Planned as PostgreSQL plans them on a fleet of 1,000 (statistics
        taken), taking any index it can: a Seq Scan left on a table that
        grows with the fleet is a table no index serves."""
        self.fleet.grow(LARGE)
        logs = self.fleet.measure(self.user_large, "buyer@large.example")
        scans = {}
        for step, log in logs.items():
            for shape, tables in growing_scans(
                log.explain(self.env.cr, enable_seqscan=False)
            ).items():
                scans[f"{step}: {shape[:300]}"] = tables
        self.assertEqual(scans, {})

    def test_a_mailbox_read_ahead_is_read_alone(self):
        """A run gives turns while the IMAP reads of the next mailboxes are
        done ahead (a window of ``poll_pool_size``), and each turn drops the
        ORM cache (rows written in SQL; every commit of a scheduled run). The
        read-ahead of a mailbox reads that mailbox and its folders only: read
        among the window's, each read-ahead read them all again."""
        self.fleet.same_login = True  # the copies log in as the template
        self.fleet.grow(SMALL)
        # news for every copy: an email from the template's lead, which each
        # copy records or notes (rows written in SQL: the cache dropped)
        self.fleet.news_for_copies(sender="buyer@template.example")
        self.env["ir.config_parameter"].set_param("mail_sync_crm.poll_pool_size", "8")
        reads = self.fleet.reads_ahead_of_a_run()
        self.assertGreaterEqual(len(reads), SMALL - 1, "the turns were read ahead")
        # one mailbox, its two folders (Inbox, Sent), per statement
        self.assertEqual([r for r in reads if r[0] > 1 or r[1] > 2], [], reads)
