# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Round 3 of the hostile colleague (#19): what a salesperson, a sales manager
of another company, a portal user and an internal user without CRM rights try
with an XML-RPC client (and the browser's own JSON routes) against the
completeness figures, the skip counts, the listener and its leases, the turns
and the reconciliation, and the bus notification that tells open chatters of
new emails."""

import json
import xmlrpc.client

from odoo.tests import JsonRpcException, get_db_name, new_test_user, tagged

from mail_sync_testing import make_message

from ..models.mail_sync_account import OWNER_FIELDS
from ..store.new_emails import CHANNEL_PREFIX, NOTIFICATION
from .common import MailSyncHttpCase, login_password

DIANA = "diana.secret@client.example.com"
VICTOR = "victor.victim@client.example.com"
SECRET_WORD = "Confidential-Merger-Xylophone"
SECRET_SUBJECT = "Zurich takeover numbers"
SECRET_FILE = "takeover-plan-Quokka.txt"
VICTIM_SUBJECT = "Victor's counter-offer"

# What the turns and the reconciliation write on a mailbox, and what is
# computed from it: no client writes any of it.
ACCOUNT_FIGURES = (
    "waiting_since",
    "reconciled_date",
    "reconciled_held_count",
    "held_growing",
    "server_count",
    "scanned_count",
    "recorded_count",
    "held_count",
    "skipped_count",
    "completeness",
    "completeness_summary",
    "lag_seconds",
    "lag_display",
    "falling_behind",
    "last_sync_date",
    "last_attempt_date",
    "sync_round",
    "sync_scanned",
    "sync_total",
    "synced_count",
    "synced_lead_count",
    "folder_ids",
    "skip_count_ids",
    "log_cleared_id",
    "state",
)
FOLDER_FIGURES = (
    "server_count",
    "unscanned_count",
    "server_checked_date",
    "caught_up_date",
    "waiting_since",
    "scanned_count",
    "recorded_count",
    "held_count",
    "skipped_count",
    "lag_seconds",
    "completeness",
    "last_uid",
    "uidvalidity",
    "scanned",
    "total",
)
# Context keys a client adds hoping to pass a guard.
# Odoo's XML-RPC fault codes (odoo/addons/base/controllers/rpc.py)
USER_ERROR, ACCESS_ERROR = 2, 4
HOSTILE_CONTEXT = {
    "mail_sync_tested_write": True,
    "install_mode": True,
    "module": "mail_sync_crm",
    "tracking_disable": True,
    "active_test": False,
    "mail_sync_batch_size": 1,
    "su": True,
    "superuser": True,
}


@tagged("post_install", "-at_install")
class TestRound3Rpc(MailSyncHttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.attacker = cls.salesman
        cls.victim = cls.salesman_all
        # an internal user without CRM rights, a sales manager of the other company
        cls.plain = cls._user("plain_ms", "base.group_user")
        cls.manager_2 = cls._user(
            "manager_co2", "sales_team.group_sale_manager", company=cls.company_2
        )
        # a portal user who can log in over XML-RPC
        cls.portal3 = new_test_user(
            cls.env,
            login="portal3_ms",
            password=login_password("portal3_ms"),
            groups="base.group_portal",
        )
        Lead = cls.env["crm.lead"]
        # the attacker's own lead: the victim's mailbox records Diana's
        # private email on it
        cls.own_lead = Lead.create(
            {
                "name": "Mine",
                "email_from": DIANA,
                "user_id": cls.attacker.id,
                "company_id": cls.company.id,
            }
        )
        # the victim's lead, which the attacker still follows from the time it
        # was theirs (so do the user without CRM rights and the other company's
        # manager): none of them may read it
        cls.victim_lead = Lead.create(
            {
                "name": "Victor's deal",
                "email_from": VICTOR,
                "user_id": cls.victim.id,
                "company_id": cls.company.id,
            }
        )
        cls.victim_lead.message_subscribe(
            (cls.attacker | cls.plain | cls.manager_2 | cls.portal3).partner_id.ids
        )
        cls.imap.append(
            cls.victim.login,
            "INBOX",
            make_message(
                DIANA,
                cls.victim.email,
                subject=SECRET_SUBJECT,
                text=f"Between us: {SECRET_WORD}.\n",
                attachments=[(SECRET_FILE, b"the plan\n", "text/plain")],
            ),
        )
        cls.imap.append(
            cls.victim.login,
            "INBOX",
            make_message(VICTOR, cls.victim.email, subject=VICTIM_SUBJECT),
        )
        cls.imap.append(
            cls.attacker.login,
            "INBOX",
            make_message(DIANA, cls.attacker.email, subject="Diana to the attacker"),
        )
        boxes = []
        for user in (cls.victim, cls.attacker):
            box = (
                cls.env["mail.sync.account"]
                .with_user(user)
                .create(cls.connect_values(cls, user))
            )
            box.action_connect()
            boxes.append(box)
        cls.victim_box, cls.attacker_box = boxes
        cls.env.cr.precommit.run()
        cls.bus_before = (
            cls.env["bus.bus"].sudo().search([], order="id desc", limit=1).id
        )
        cls.env["mail.sync.scheduler"]._cron_sync()
        # the sync's transaction commits: the bus notifications are written
        cls.env.cr.precommit.run()
        cls.env["mail.sync.completeness"]._cron_reconcile()
        cls.listener_leases = cls.env["mail.sync.listener"]._heartbeat("victims-own")
        cls.env.flush_all()
        cls.secret = cls.own_lead.message_ids.filtered(
            lambda m: (
                m.subject == SECRET_SUBJECT
                or SECRET_WORD in str(m.body)
                or "Private" in str(m.body)
            )
        )
        cls.env.invalidate_all()

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------
    def refused(self, user, model, method, *args):
        return self.refused_kw(user, model, method, args, {})

    def refused_kw(self, user, model, method, args, kwargs, codes=(ACCESS_ERROR,)):
        """The call (keyword arguments: a context, fields) fails over XML-RPC
        with an access error (``codes``), not a bug or a failed login; returns
        the server's error text."""
        with self.assertRaises(xmlrpc.client.Fault) as caught:
            self.rpc(user, model, method, *args, **kwargs)
        fault = caught.exception
        self.assertIn(fault.faultCode, codes, fault.faultString[-1500:])
        return fault.faultString

    def refused_or_empty(self, user, model, method, *args, **kwargs):
        """The call fails, or answers nothing (no record, no figure)."""
        try:
            answer = self.rpc(user, model, method, *args, **kwargs)
        except xmlrpc.client.Fault as fault:
            self.assertEqual(fault.faultCode, ACCESS_ERROR, fault.faultString[-1500:])
            return
        if isinstance(answer, dict) and "records" in answer:  # web_search_read
            answer = answer["records"]
        if isinstance(answer, dict) and "datas" in answer:  # export_data
            answer = answer["datas"]
        self.assertFalse(answer, f"{model}.{method} answered {answer!r}")

    def snapshot(self):
        """What the turns, the reconciliation and the listener wrote, as the
        database holds it."""
        self.env.flush_all()
        cr = self.env.cr
        cr.execute(
            """SELECT id, state, waiting_since, reconciled_date,
                      reconciled_held_count, held_growing, last_sync_date,
                      last_attempt_date, sync_round
                 FROM mail_sync_account ORDER BY id"""
        )
        accounts = cr.fetchall()
        cr.execute(
            """SELECT id, account_id, server_count, unscanned_count,
                      server_checked_date, caught_up_date, waiting_since, last_uid
                 FROM mail_sync_folder ORDER BY id"""
        )
        folders = cr.fetchall()
        cr.execute("SELECT id, folder_id, reason, count FROM mail_sync_skip_count")
        skips = sorted(cr.fetchall())
        cr.execute(
            """SELECT id, account_id, listener_id, expires, synced_at
                 FROM mail_sync_listener_lease ORDER BY id"""
        )
        leases = cr.fetchall()
        cr.execute("SELECT id, name, expires FROM mail_sync_listener ORDER BY id")
        listeners = cr.fetchall()
        cr.execute("SELECT count(*) FROM mail_sync_failed_message")
        held = cr.fetchall()
        cr.execute("SELECT count(*) FROM mail_sync_message")
        ledger = cr.fetchall()
        return accounts, folders, skips, leases, listeners, held, ledger

    def victim_folder(self):
        return self.env["mail.sync.folder"].search(
            [("account_id", "=", self.victim_box.id)], limit=1
        )

    def bus_rows(self):
        """[lead id] of the notifications the sync wrote, each on its lead's
        own channel."""
        found = []
        for row in (
            self.env["bus.bus"]
            .sudo()
            .search([("id", ">", self.bus_before)], order="id")
        ):
            message = json.loads(row.message)
            if message["type"] != NOTIFICATION:
                continue
            (lead,) = message["payload"]["lead_ids"]
            self.assertEqual(
                json.loads(row.channel), [get_db_name(), "crm.lead", lead, NOTIFICATION]
            )
            found.append(lead)
        return found

    def peek(self, user, channels, last=None):
        """What ``user``'s browser receives from the bus (the websocket's
        fallback route, which runs the same subscription code)."""
        self.authenticate(user.login, login_password(user.login))
        return self.make_jsonrpc_request(
            "/websocket/peek_notifications",
            {
                "channels": channels,
                "last": self.bus_before if last is None else last,
                "is_first_poll": True,
            },
        )

    def told(self, answer):
        return [
            n["message"]["payload"]
            for n in answer["notifications"]
            if n["message"]["type"] == NOTIFICATION
        ]

    # ------------------------------------------------------------------
    # Reading others' figures
    # ------------------------------------------------------------------
    def test_a_colleagues_figures_are_not_read(self):
        figures = ["server_count", "waiting_since", "falling_behind", "lag_seconds"]
        victim_box = self.victim_box.ids
        folder = self.victim_folder()
        self.assertTrue(folder)
        skips = self.env["mail.sync.skip.count"].search(
            [("account_id", "=", self.victim_box.id)]
        )
        # the victim's own figures are there to steal (the sales manager of
        # the same company reads them: the attacks below would see them)
        self.assertEqual(
            len(
                self.rpc(
                    self.sales_manager,
                    "mail.sync.folder",
                    "search_read",
                    [("account_id", "=", self.victim_box.id)],
                    ["server_count"],
                )
            ),
            len(self.victim_box.folder_ids),
        )
        self.assertTrue(
            self.rpc(self.sales_manager, "mail.sync.account", "read", victim_box)
        )
        for user in (self.attacker, self.plain, self.manager_2, self.portal3):
            with self.subTest(user=user.login):
                for model, ids, domain in (
                    ("mail.sync.account", victim_box, [("id", "=", victim_box[0])]),
                    ("mail.sync.folder", folder.ids, [("id", "=", folder.id)]),
                    ("mail.sync.skip.count", skips.ids, [("id", "in", skips.ids)]),
                ):
                    self.refused_or_empty(user, model, "search_read", domain)
                    self.refused_or_empty(user, model, "search", domain)
                    self.refused_or_empty(
                        user, model, "search_read", domain, context=HOSTILE_CONTEXT
                    )
                    self.refused_or_empty(
                        user,
                        model,
                        "web_search_read",
                        domain,
                        {"display_name": {}, "id": {}},
                    )
                    for name in (self.victim.email, self.victim.name, "no_lead"):
                        self.refused_or_empty(
                            user, model, "name_search", name, domain, "ilike", 100
                        )
                    self.refused_or_empty(user, model, "search_count", domain)
                    if ids:
                        self.refused(user, model, "read", ids)
                        self.refused(user, model, "web_read", ids, {"display_name": {}})
                        self.refused_kw(
                            user,
                            model,
                            "export_data",
                            [ids, ["display_name"]],
                            {},
                            codes=(USER_ERROR, ACCESS_ERROR),
                        )
                        self.refused(user, model, "copy", ids)
                        self.refused(user, model, "copy_data", ids)
                self.refused(
                    user,
                    "mail.sync.account",
                    "web_read",
                    victim_box,
                    {
                        "folder_ids": {"fields": {f: {} for f in figures[:2]}},
                        "skip_count_ids": {"fields": {"count": {}}},
                    },
                )
                self.refused_or_empty(
                    user,
                    "mail.sync.account",
                    "search_read",
                    [("falling_behind", "=", False)],
                    figures,
                )
                groups = self.refused_or_empty_group(user)
                self.assertFalse(groups)
        # the other company's manager asks for this company in the context
        self.refused_kw(
            self.manager_2,
            "mail.sync.account",
            "search_read",
            [[]],
            {"context": {"allowed_company_ids": [self.company.id]}},
        )

    def refused_or_empty_group(self, user):
        """read_group of the figures of every mailbox but the caller's."""
        try:
            groups = self.rpc(
                user,
                "mail.sync.folder",
                "read_group",
                [("account_id.user_id", "!=", user.id)],
                ["server_count:sum", "unscanned_count:sum"],
                ["account_id"],
            )
        except xmlrpc.client.Fault as fault:
            self.assertEqual(fault.faultCode, ACCESS_ERROR, fault.faultString[-1500:])
            return []
        return [g for g in groups if g.get("server_count")]

    # ------------------------------------------------------------------
    # Writing the figures the turns and the reconciliation own
    # ------------------------------------------------------------------
    def test_the_figures_are_written_by_the_addon_only(self):
        before = self.snapshot()
        folder = self.victim_folder()
        own_folder = self.env["mail.sync.folder"].search(
            [("account_id", "=", self.attacker_box.id)], limit=1
        )
        for user, box, its_folder in (
            (self.attacker, self.attacker_box, own_folder),  # their own
            (self.attacker, self.victim_box, folder),  # a colleague's
            (self.sales_manager, self.victim_box, folder),  # reads, writes not
            (self.admin, self.victim_box, folder),  # administers, writes not
        ):
            for field in ACCOUNT_FIGURES:
                self.assertNotIn(field, OWNER_FIELDS)
                with self.subTest(user=user.login, field=field):
                    for context in ({}, HOSTILE_CONTEXT):
                        self.refused_kw(
                            user,
                            "mail.sync.account",
                            "write",
                            [box.ids, {field: False}],
                            {"context": context},
                        )
                    self.refused_kw(
                        user,
                        "mail.sync.account",
                        "web_save",
                        [box.ids, {field: False}],
                        {"specification": {"id": {}}},
                    )
            # the folders through the mailbox's x2many, and directly
            self.refused(
                user,
                "mail.sync.account",
                "write",
                box.ids,
                {"folder_ids": [(1, its_folder.id, {"server_count": 0})]},
            )
            self.refused(
                user,
                "mail.sync.account",
                "write",
                box.ids,
                {"skip_count_ids": [(5, 0, 0)]},
            )
            for field in FOLDER_FIGURES:
                with self.subTest(user=user.login, folder_field=field):
                    self.refused_kw(
                        user,
                        "mail.sync.folder",
                        "write",
                        [its_folder.ids, {field: 0}],
                        {"context": HOSTILE_CONTEXT},
                    )
            self.refused(user, "mail.sync.folder", "unlink", its_folder.ids)
            self.refused(user, "mail.sync.folder", "copy", its_folder.ids)
            self.refused(
                user,
                "mail.sync.folder",
                "create",
                {"account_id": box.id, "name": "Archive", "direction": "in"},
            )
            # the inputs of the figures: skip counts, held messages, the ledger
            skips = self.env["mail.sync.skip.count"].search(
                [("account_id", "=", box.id)]
            )
            self.refused(
                user,
                "mail.sync.skip.count",
                "create",
                {
                    "account_id": box.id,
                    "folder_id": its_folder.id,
                    "reason": "no_lead",
                    "count": 1000,
                },
            )
            if skips:
                self.refused(
                    user, "mail.sync.skip.count", "write", skips.ids, {"count": 0}
                )
                self.refused(user, "mail.sync.skip.count", "unlink", skips.ids)
                self.refused(user, "mail.sync.skip.count", "copy", skips.ids[:1])
            self.refused(
                user,
                "mail.sync.failed.message",
                "create",
                {
                    "account_id": box.id,
                    "folder_id": its_folder.id,
                    "uid": 99999,
                    "state": "retry",
                },
            )
            self.refused(
                user,
                "mail.sync.message",
                "create",
                {"account_id": box.id, "message_id": "<forged@x>", "uid": 1},
            )
        self.assertEqual(self.snapshot(), before)

    def test_a_new_mailbox_says_nothing_of_its_figures(self):
        """The user without a mailbox creates one claiming figures, in the
        values or in the context's defaults."""
        user = self.plain
        values = self.connect_values(user)
        for field in ("held_growing", "waiting_since", "reconciled_date", "state"):
            with self.subTest(field=field):
                value = "enabled" if field == "state" else "2020-01-01 00:00:00"
                if field == "held_growing":
                    value = True
                self.refused(
                    user, "mail.sync.account", "create", {**values, field: value}
                )
        with self.attempt():
            box = self.rpc(
                user,
                "mail.sync.account",
                "create",
                values,
                context={
                    "default_held_growing": True,
                    "default_waiting_since": "2020-01-01 00:00:00",
                    "default_reconciled_date": "2020-01-01 00:00:00",
                    "default_reconciled_held_count": 7,
                    "default_state": "enabled",
                    "default_folder_ids": [
                        (0, 0, {"name": "INBOX", "direction": "in"})
                    ],
                    "default_skip_count_ids": [(0, 0, {"reason": "no_lead"})],
                },
            )
            read = self.rpc(
                user,
                "mail.sync.account",
                "read",
                [box],
                ["held_growing", "waiting_since", "reconciled_date", "state"],
            )[0]
            self.assertEqual(
                (
                    read["held_growing"],
                    read["waiting_since"],
                    read["reconciled_date"],
                    read["state"],
                ),
                (False, False, False, "draft"),
            )
            self.assertFalse(self.env["mail.sync.account"].browse(box).folder_ids)

    # ------------------------------------------------------------------
    # The listener and its leases
    # ------------------------------------------------------------------
    def test_no_client_steals_or_hides_a_mailbox_from_the_listener(self):
        self.assertEqual(
            sorted(self.listener_leases),
            sorted((self.victim_box | self.attacker_box).ids),
        )
        before = self.snapshot()
        Lease = self.env["mail.sync.listener.lease"]
        lease = Lease.search([("account_id", "=", self.victim_box.id)])
        listener = lease.listener_id
        self.assertTrue(lease)
        # an administrator reads who watches what (and nothing more)
        self.assertEqual(
            self.rpc(self.admin, "mail.sync.listener.lease", "search_count", []),
            2,
        )
        for user in (
            self.attacker,
            self.plain,
            self.portal3,
            self.manager_2,
            self.sales_manager,
            self.admin,
        ):
            with self.subTest(user=user.login):
                # a listener of one's own, and a lease that takes the mailbox
                # from the real listener (or hides it: a lease with a recent
                # turn makes the scheduled run leave the mailbox out)
                self.refused(
                    user,
                    "mail.sync.listener",
                    "create",
                    {"name": "mine", "expires": "2999-01-01 00:00:00"},
                )
                for account in (self.attacker_box, self.victim_box):
                    self.refused(
                        user,
                        "mail.sync.listener.lease",
                        "create",
                        {
                            "account_id": account.id,
                            "listener_id": listener.id,
                            "expires": "2999-01-01 00:00:00",
                            "synced_at": "2999-01-01 00:00:00",
                        },
                    )
                for values in (
                    {"expires": "2999-01-01 00:00:00"},
                    {"expires": "2000-01-01 00:00:00"},
                    {"synced_at": "2999-01-01 00:00:00"},
                    {"account_id": self.attacker_box.id},
                    {"listener_id": listener.id},
                ):
                    self.refused(
                        user, "mail.sync.listener.lease", "write", lease.ids, values
                    )
                self.refused(user, "mail.sync.listener.lease", "unlink", lease.ids)
                self.refused(user, "mail.sync.listener.lease", "copy", lease.ids)
                self.refused(
                    user,
                    "mail.sync.listener",
                    "write",
                    listener.ids,
                    {"expires": "2000-01-01 00:00:00"},
                )
                self.refused(
                    user,
                    "mail.sync.listener",
                    "write",
                    listener.ids,
                    {"lease_ids": [(5, 0, 0)]},
                )
                self.refused(user, "mail.sync.listener", "unlink", listener.ids)
                self.refused(user, "mail.sync.listener", "copy", listener.ids)
                for method, args in (
                    ("_heartbeat", ("thief",)),
                    ("_leave", (listener.name,)),
                    ("_synced", (listener.name, self.victim_box.id)),
                    ("_watched_recently", ("2000-01-01 00:00:00",)),
                ):
                    self.refused(user, "mail.sync.listener", method, *args)
                # through the mailbox
                self.refused(
                    user,
                    "mail.sync.account",
                    "write",
                    self.attacker_box.ids,
                    {"state": "draft"},
                )
                if user != self.admin:
                    for model in ("mail.sync.listener", "mail.sync.listener.lease"):
                        self.refused_or_empty(user, model, "search_read", [])
                        self.refused_or_empty(user, model, "read", lease.ids)
                        self.refused_or_empty(
                            user, model, "web_search_read", [], {"id": {}}
                        )
                        self.refused_or_empty(
                            user, model, "name_search", "", [], "ilike", 100
                        )
                        self.refused_or_empty(
                            user, model, "read_group", [], ["id:count"], []
                        )
                        self.refused_kw(
                            user,
                            model,
                            "export_data",
                            [lease.ids, ["expires"]],
                            {},
                            codes=(USER_ERROR, ACCESS_ERROR),
                        )
        self.assertEqual(self.snapshot(), before)
        # the real listener still holds both, and the scheduled run still
        # leaves out only what a listener gave a turn
        self.assertEqual(
            sorted(self.env["mail.sync.listener"]._heartbeat("victims-own")),
            sorted((self.victim_box | self.attacker_box).ids),
        )
        self.assertFalse(
            self.env["mail.sync.listener"]._watched_recently("2000-01-01 00:00:00")
        )

    # ------------------------------------------------------------------
    # Turns and reconciliations of a colleague's mailbox
    # ------------------------------------------------------------------
    def test_no_turn_or_reconciliation_of_a_colleagues_mailbox(self):
        before = self.snapshot()
        for user in (self.attacker, self.plain, self.sales_manager, self.manager_2):
            with self.subTest(user=user.login):
                self.refused(
                    user, "mail.sync.account", "action_sync_now", self.victim_box.ids
                )
                self.refused_kw(
                    user,
                    "mail.sync.account",
                    "action_sync_now",
                    [self.victim_box.ids],
                    {"context": HOSTILE_CONTEXT},
                )
                for method in (
                    "action_connect",
                    "action_confirm_address",
                    "action_disable",
                    "action_open_disable_wizard",
                    "action_connect_oauth",
                    "action_dismiss_oauth_notice",
                    # (the sales manager reads every mailbox's recorded emails)
                    *(
                        ["action_open_synced_emails"]
                        if user != self.sales_manager
                        else []
                    ),
                ):
                    self.refused(user, "mail.sync.account", method, self.victim_box.ids)
                for model, method, args in (
                    ("mail.sync.completeness", "_cron_reconcile", ()),
                    ("mail.sync.completeness", "_to_reconcile", ()),
                    ("mail.sync.completeness", "_lag_threshold", ()),
                    (
                        "mail.sync.completeness",
                        "_write_account",
                        (self.victim_box.id,),
                    ),
                    ("mail.sync.scheduler", "_claim_turn", (self.victim_box.id,)),
                    ("mail.sync.scheduler", "_sync_now", (self.victim_box.id, True)),
                    ("mail.sync.scheduler", "_due_mailboxes", ("2999-01-01",)),
                    ("mail.sync.scheduler", "_try_locks", (self.victim_box.ids,)),
                    ("mail.sync.turn", "_take", (self.victim_box.id,)),
                    ("mail.sync.news", "_pool_size", ()),
                    ("mail.sync.skip.count", "_add", ({}, {"no_lead": 5})),
                    ("mail.sync.skip.count", "_reset", ({},)),
                    ("mail.sync.folder", "_ensure_for", (self.victim_box.id,)),
                    ("mail.sync.folder", "_duration", (5,)),
                ):
                    self.refused(user, model, method, *args)
                # the scheduled actions themselves
                cron = self.env.ref("mail_sync_crm.ir_cron_mail_sync_reconcile")
                self.refused(user, "ir.cron", "method_direct_trigger", cron.ids)
                self.refused(user, "ir.cron", "_trigger", cron.ids)
                self.refused(user, "ir.cron", "write", cron.ids, {"active": False})
        # the owner's own Sync Now leaves their colleague's mailbox alone
        self.rpc(
            self.attacker, "mail.sync.account", "action_sync_now", self.attacker_box.ids
        )
        after = self.snapshot()
        accounts = {row[0]: row for row in after[0]}
        self.assertEqual(
            accounts[self.victim_box.id],
            {row[0]: row for row in before[0]}[self.victim_box.id],
        )
        self.assertEqual(
            [f for f in after[1] if f[1] == self.victim_box.id],
            [f for f in before[1] if f[1] == self.victim_box.id],
        )

    def test_the_settings_are_the_administrators(self):
        """Falling Behind hidden by raising its threshold, the settings' health
        line (the company's mailboxes falling behind) read; and through the
        settings' own public methods, which Odoo runs as superuser: the OAuth
        client secrets read (default_get, onchange, get_values), the settings
        written with no record (set_values)."""
        Param = self.env["ir.config_parameter"].sudo()
        Param.set_param("google_gmail_client_secret", "GOCSPX-the-company-secret")
        Param.set_param("microsoft_outlook_client_secret", "outlook-company-secret")
        secrets = [
            "google_gmail_client_secret",
            "microsoft_outlook_client_secret",
            "mail_sync_allowed_hosts",
            "mail_sync_health",
        ]

        def params():
            self.env.flush_all()
            self.env.cr.execute("SELECT key, value FROM ir_config_parameter")
            return sorted(self.env.cr.fetchall())

        # an administrator's settings, not saved yet
        settings = self.env["res.config.settings"].with_user(self.admin).create({})
        before = params()
        groups = self.env.ref("base.group_user").implied_ids
        for user in (self.attacker, self.plain, self.sales_manager, self.portal3):
            with self.subTest(user=user.login):
                self.refused(
                    user,
                    "ir.config_parameter",
                    "set_param",
                    "mail_sync_crm.lag_threshold_minutes",
                    "999999",
                )
                self.refused(
                    user,
                    "ir.config_parameter",
                    "get_param",
                    "google_gmail_client_secret",
                )
                self.refused(user, "res.config.settings", "default_get", secrets)
                self.refused(
                    user,
                    "res.config.settings",
                    "onchange",
                    [],
                    {},
                    [],
                    {name: {} for name in secrets},
                )
                self.refused(user, "res.config.settings", "get_values")
                self.refused(user, "res.config.settings", "set_values", [])
                self.refused(user, "res.config.settings", "execute", settings.ids)
                self.refused(user, "res.config.settings", "set_values", settings.ids)
                self.refused(user, "res.config.settings", "read", settings.ids)
                self.refused(user, "res.config.settings", "create", {})
        self.assertEqual(params(), before)
        self.assertEqual(self.env.ref("base.group_user").implied_ids, groups)
        # the administrator's settings screen still works
        values = self.rpc(self.admin, "res.config.settings", "default_get", secrets)
        self.assertEqual(
            values["google_gmail_client_secret"], "GOCSPX-the-company-secret"
        )

    def test_services_of_the_round_reveal_nothing(self):
        """Every public method Odoo gives the new models, as the salesperson."""
        lease = self.env["mail.sync.listener.lease"].search([], limit=1)
        calls = (
            ("search_read", ([],)),
            ("read", (lease.ids,)),
            ("create", ({},)),
            ("write", (lease.ids, {})),
            ("unlink", (lease.ids,)),
            ("copy", (lease.ids,)),
            ("web_read", (lease.ids, {"display_name": {}})),
            ("web_save", ([], {}, {"id": {}})),
            ("read_group", ([], ["id:count"], [])),
            ("search_count", ([],)),
        )
        self.refused(self.attacker, "mail.sync.listener", "name_create", "thief")
        # (no name to create a lease or a service from: Odoo answers False)
        for model in ("mail.sync.listener.lease", "mail.sync.completeness"):
            self.assertIs(self.rpc(self.attacker, model, "name_create", "x"), False)
        for model in ("mail.sync.listener", "mail.sync.listener.lease"):
            for method, args in calls:
                with self.subTest(model=model, method=method):
                    self.refused(self.attacker, model, method, *args)
            loaded = self.rpc(self.attacker, model, "load", ["expires"], [["x"]])
            self.assertFalse(loaded["ids"])
        # the service (an abstract model): no record to read, nothing to call
        for method, args in calls:
            with (
                self.subTest(model="mail.sync.completeness", method=method),
                self.assertRaises(xmlrpc.client.Fault),
            ):
                self.rpc(self.attacker, "mail.sync.completeness", method, *args)
        # field descriptions only: no record, no value, and not the secrets
        described = self.rpc(self.attacker, "mail.sync.account", "fields_get", [])
        self.assertNotIn("imap_secret", described)
        self.assertNotIn("smtp_secret", described)
        for model in ("mail.sync.listener.lease", "mail.sync.skip.count"):
            self.assertEqual(self.rpc(self.attacker, model, "default_get", []), {})

    # ------------------------------------------------------------------
    # The bus notification
    # ------------------------------------------------------------------
    def test_the_notification_tells_lead_ids_to_readers_only(self):
        # the victim's mailbox recorded on both leads: one notification each,
        # on the lead's own channel
        self.assertEqual(
            sorted(self.bus_rows()), sorted((self.own_lead | self.victim_lead).ids)
        )
        asked = [
            f"{CHANNEL_PREFIX}{lead.id}" for lead in self.own_lead | self.victim_lead
        ]
        # the victim hears both; the attacker (salesperson of their own lead)
        # theirs only, not the victim's lead they follow but may no longer
        # read; the follower without CRM rights, the other company's manager
        # and the portal follower nothing
        heard = {
            user: sorted(
                i for p in self.told(self.peek(user, asked)) for i in p["lead_ids"]
            )
            for user in (
                self.victim,
                self.attacker,
                self.plain,
                self.manager_2,
                self.portal3,
            )
        }
        self.assertEqual(
            heard.pop(self.victim), sorted((self.own_lead | self.victim_lead).ids)
        )
        self.assertEqual(heard.pop(self.attacker), [self.own_lead.id])
        self.assertEqual(set(map(tuple, heard.values())), {()})
        # nothing of the emails: no subject, sender, body, file name
        for row in self.env["bus.bus"].sudo().search([("id", ">", self.bus_before)]):
            message = json.loads(row.message)
            if message["type"] != NOTIFICATION:
                continue
            self.assertEqual(list(message["payload"]), ["lead_ids"])
            for secret in (
                SECRET_WORD,
                SECRET_SUBJECT,
                SECRET_FILE,
                VICTIM_SUBJECT,
                DIANA,
                VICTOR,
                "Victor",
                "Diana",
            ):
                self.assertNotIn(secret, row.message)

    def test_no_one_receives_a_colleagues_notification(self):
        victim = self.victim.partner_id
        db = get_db_name()
        # the victim receives theirs (the attacks below would see them)
        mine = self.told(
            self.peek(self.victim, [f"{CHANNEL_PREFIX}{self.victim_lead.id}"])
        )
        self.assertIn(self.victim_lead.id, [i for p in mine for i in p["lead_ids"]])
        hostile_channels = [
            f"res.partner_{victim.id}",
            str(victim.id),
            "res.partner",
            "crm.lead",
            f"crm.lead_{self.victim_lead.id}",
            f"{CHANNEL_PREFIX}{self.victim_lead.id}",
            f"{CHANNEL_PREFIX}{self.victim_lead.id}\n",
            f"{CHANNEL_PREFIX}{self.victim_lead.id},{self.own_lead.id}",
            f"{CHANNEL_PREFIX}0x{self.victim_lead.id:x}",
            json.dumps([db, "crm.lead", self.victim_lead.id, NOTIFICATION]),
            NOTIFICATION,
            json.dumps([db, "res.partner", victim.id]),
            json.dumps(["res.partner", victim.id]),
            f"odoo-presence-res.partner_{victim.id}",
            f"mail.sync.account_{self.victim_box.id}",
            "broadcast",
        ]
        for user in (self.attacker, self.plain, self.manager_2, self.portal3):
            with self.subTest(user=user.login):
                answer = self.peek(user, hostile_channels)
                self.assertNotIn([db, "res.partner", victim.id], answer["channels"])
                self.assertNotIn(
                    [db, "crm.lead", self.victim_lead.id, NOTIFICATION],
                    answer["channels"],
                )
                leads = [i for p in self.told(answer) for i in p["lead_ids"]]
                self.assertEqual(leads, [])
                # a channel that is not a string (a partner's own) is refused
                with self.assertRaises(JsonRpcException):
                    self.peek(user, [[db, "res.partner", victim.id]])
                with self.assertRaises(JsonRpcException):
                    self.peek(user, [["res.partner", victim.id]])
                with self.assertRaises(JsonRpcException):
                    self.peek(
                        user, [[db, "crm.lead", self.victim_lead.id, NOTIFICATION]]
                    )
                # the bus and the subscription code over XML-RPC
                self.refused(user, "bus.bus", "search_read", [], ["message"])
                self.refused(user, "bus.bus", "read", [self.bus_before + 1])
                self.refused(user, "bus.bus", "_poll", [f"res.partner_{victim.id}"], 0)
                self.refused(user, "bus.bus", "_sendone", victim.id, NOTIFICATION, {})
                self.refused(
                    user,
                    "ir.websocket",
                    "_build_bus_channel_list",
                    [[db, "res.partner", victim.id], "crm.lead"],
                )
                self.refused(
                    user,
                    "ir.websocket",
                    "_prepare_subscribe_data",
                    [f"res.partner_{victim.id}"],
                    0,
                )
                # following the lead again, to be told of it (Odoo answers
                # False to a reader-less self-subscription)
                try:
                    answer = self.rpc(
                        user,
                        "crm.lead",
                        "message_subscribe",
                        self.victim_lead.ids,
                        user.partner_id.ids,
                    )
                except xmlrpc.client.Fault as fault:
                    self.assertEqual(fault.faultCode, ACCESS_ERROR)
                else:
                    self.assertIs(answer, False)
                # or by subscribing the victim's partner with oneself
                self.refused(
                    user,
                    "crm.lead",
                    "message_subscribe",
                    self.victim_lead.ids,
                    (user | self.victim).partner_id.ids,
                )

    def test_a_private_email_stays_private_through_the_chatters_fetch(self):
        """The attacker is told that their lead got the victim's email, which
        the victim made private (participants only): the chatter's fetch, with
        every parameter the route takes, shows it is there and nothing of it."""
        self.assertEqual(len(self.secret), 1)
        self.env["crm.lead"].browse(self.own_lead.id).with_user(
            self.victim
        ).action_mail_sync_private(self.secret.id)
        self.env.flush_all()
        # the attacker cannot share it again to read it
        self.assertIn(
            "Only the owner",
            self.refused_kw(
                self.attacker,
                "crm.lead",
                "action_mail_sync_private",
                [self.own_lead.ids, self.secret.id, False],
                {},
                codes=(USER_ERROR,),
            ),
        )

        def fetched(user, **params):
            self.authenticate(user.login, login_password(user.login))
            return self.make_jsonrpc_request(
                "/mail/thread/messages",
                {"thread_model": "crm.lead", "thread_id": self.own_lead.id, **params},
            )

        secrets = (SECRET_WORD, SECRET_SUBJECT, SECRET_FILE, "Zurich", "Quokka")
        # its owner still reads it all (what the attacker is after)
        page = fetched(self.victim)
        self.assertIn(self.secret.id, page["messages"])
        self.assertIn(SECRET_WORD, json.dumps(page))
        self.assertIn(SECRET_FILE, json.dumps(page))
        for params in (
            {},
            {"mail_sync_new": True, "after": 0},
            {"after": 0},
            {"around": self.secret.id},
            {"before": self.secret.id + 1000},
            {"limit": 1000},
        ):
            with self.subTest(params=params):
                page = fetched(self.attacker, **params)
                self.assertIn(self.secret.id, page["messages"])
                text = json.dumps(page)
                for secret in secrets:
                    self.assertNotIn(secret, text)
        # searching the chatter for its words does not find it (no oracle)
        for term in (SECRET_WORD, "Xylophone", "Zurich", "takeover", "Quokka"):
            with self.subTest(term=term):
                page = fetched(self.attacker, search_term=term)
                self.assertNotIn(self.secret.id, page["messages"])
                self.assertFalse(page.get("count"))
        # nor over XML-RPC: the message, the vault, the attachment
        body = self.rpc(
            self.attacker, "mail.message", "read", self.secret.ids, ["body", "subject"]
        )[0]
        self.assertNotIn(SECRET_WORD, str(body))
        self.assertNotIn("Zurich", str(body))
        self.assertFalse(
            self.rpc(
                self.attacker,
                "mail.message",
                "search",
                [("body", "ilike", "Xylophone")],
            )
        )
        self.assertFalse(
            self.rpc(self.attacker, "mail.sync.content", "search_read", [], ["body"])
        )
        self.assertFalse(
            self.rpc(
                self.attacker,
                "ir.attachment",
                "search_read",
                [("name", "ilike", "Quokka")],
                ["name"],
            )
        )
        # the victim's lead's chatter is not the attacker's to fetch
        self.authenticate(self.attacker.login, login_password(self.attacker.login))
        page = self.make_jsonrpc_request(
            "/mail/thread/messages",
            {"thread_model": "crm.lead", "thread_id": self.victim_lead.id},
        )
        self.assertEqual(page["messages"], [])
        self.assertNotIn(VICTIM_SUBJECT, json.dumps(page))
