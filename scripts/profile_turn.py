#!/usr/bin/env python3
"""What one mailbox's work costs among fleets of different sizes (issue #23).

Usage (from the repository root; at 1,000 or more, with no other benchmark running)::

    .venv/bin/python scripts/profile_turn.py \\
        [--sizes 10,1000,10000] [--skip-install] [--run] [--explain]

In the database ``mail_sync_profile_turn`` (installed or updated first, the
previous run's mailboxes removed), a real Dovecot and SMTP server: one
mailbox is connected and synced for real (20 messages, 5 from its lead), then
copied in SQL until the fleet has each size of ``--sizes``
(``mail_sync_testing.fleet.clone_mailbox``: owners, folders, checkpoints,
ledger, leads, chatter; the copies log in as the template on the server). At
each size a new mailbox of the same shape is measured, with the scheduled
run's commits (``mail_sync_crm/tests/fleet_common.py``): its Connect, its
first turn (and the claim around it), its check for news after one new
message from its lead, and that message's turn. Per step it prints the
statements, rows and milliseconds, the statements whose count or rows
differ from the smallest size, and with ``--explain`` each statement's Seq
Scans. ``--run`` also measures one whole scheduled run (``_cron_sync``) at
each size: every copy checked for news on the server, the new mailbox's turn.
"""

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import sys
import time

from benchkit.addon_lib import import_testing
from benchkit.mailboxes import allow_loopback
from benchkit.odoo_db import configure_odoo, install
from benchkit.report import out

DB = "mail_sync_profile_turn"
ODOO_LOG = "/tmp/profile-turn-odoo.log"
INSTALL_LOG = "/tmp/profile-turn-install.log"
PASSWORD = "Pr0file-pa55word!"


def open_env(stack):
    import odoo
    from odoo import SUPERUSER_ID, api
    from odoo.tools import config

    config["limit_time_real_cron"] = 0
    registry = odoo.modules.registry.Registry(DB)
    cr = stack.enter_context(registry.cursor())
    return api.Environment(cr, SUPERUSER_ID, {})


def make_user(env, name):
    from odoo import Command

    groups = env.ref("base.group_user") | env.ref("sales_team.group_sale_salesman")
    user = env["res.users"].search([("login", "=", name)])
    return user or env["res.users"].with_context(no_reset_password=True).create(
        {
            "name": name,
            "login": name,
            "email": f"{name}@sales.example",
            "groups_id": [Command.set(groups.ids)],
        }
    )


def reset(env):
    """No mailbox, chatter, lead or owner of an earlier profile left."""
    cr = env.cr
    cr.execute("DELETE FROM mail_sync_account")
    cr.execute("DELETE FROM mail_message WHERE message_id LIKE '%%@fleet.example>'")
    cr.execute("DELETE FROM crm_lead WHERE email_from LIKE '%%profile.example'")
    cr.execute(
        "DELETE FROM res_users WHERE login LIKE 'f%%.profile_%%' RETURNING partner_id"
    )
    partners = [row[0] for row in cr.fetchall()]
    if partners:
        cr.execute("DELETE FROM res_partner WHERE id = ANY(%s)", [partners])
    env["ir.config_parameter"].set_param("mail_sync_crm.cron_budget_seconds", "3600")
    env["ir.config_parameter"].set_param("mail_sync_crm.address_proof_seconds", "0")
    allow_loopback(env)
    cr.commit()  # pylint: disable=invalid-commit


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10,1000")
    parser.add_argument("--skip-install", action="store_true")
    parser.add_argument("--run", action="store_true")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--limit", type=int, default=25)
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    out(f"load average at start: {os.getloadavg()[0]:.2f} (1 min)")
    testing = import_testing()
    if not args.skip_install:
        install(DB, INSTALL_LOG)
    configure_odoo(DB, ODOO_LOG)
    from odoo.addons.mail_sync_crm.tests.fleet_common import FleetScenario

    from mail_sync_testing.fleet import compare

    with contextlib.ExitStack() as stack:
        mail = stack.enter_context(testing.DovecotServer())
        smtp = stack.enter_context(testing.SmtpServer())
        env = open_env(stack)
        reset(env)

        def values(user):
            return {
                "provider": "custom",
                "email": user.email,
                "imap_host": mail.host,
                "imap_port": mail.ssl_port,
                "imap_encryption": "ssl",
                "imap_allow_self_signed": True,
                "imap_login": user.login,
                "imap_password": PASSWORD,
                "smtp_host": smtp.host,
                "smtp_port": smtp.ssl_port,
                "smtp_encryption": "ssl",
                "smtp_allow_self_signed": True,
                "smtp_same_credentials": True,
            }

        def user(name):
            found = make_user(env, name)
            mail.add_user(name, PASSWORD)
            smtp.add_user(name, PASSWORD)
            env.cr.commit()  # pylint: disable=invalid-commit
            return found

        fleet = FleetScenario(env, mail, values, same_login=True)
        fleet.make_template(user("profile_template"), "buyer@t.profile.example")
        fleet.measure(user("profile_warm"), "buyer@w.profile.example")  # warm-up
        env.cr.commit()  # pylint: disable=invalid-commit
        measured, runs = {}, {}
        for size in sizes:
            started = time.perf_counter()
            fleet.grow(size)
            env.cr.commit()  # pylint: disable=invalid-commit
            copied = time.perf_counter() - started
            out(f"\n#### {size} mailboxes (copied in {copied:.1f} s)")
            name = f"profile_{size}"
            logs = fleet.measure(user(name), f"buyer@{size}.profile.example")
            env.cr.commit()  # pylint: disable=invalid-commit
            measured[size] = logs
            for step, log in logs.items():
                out(
                    log.report(
                        f"{step}, {size} mailboxes",
                        env.cr if args.explain else None,
                        args.limit,
                    )
                )
            if args.run:
                env.cr.execute(
                    "SELECT count(*) FROM mail_sync_account WHERE state = 'enabled'"
                )
                due = env.cr.fetchone()[0]
                time.sleep(2)  # Dovecot rescans a Maildir changed in the last seconds
                run = fleet.measure_run()
                env.cr.commit()  # pylint: disable=invalid-commit
                runs[size] = (run, due)
                out(run.report(f"a whole idle run, {size} mailboxes", None, args.limit))
                # one new message for every copy (they share the template's
                # server mailbox): a run of that many incremental turns
                fleet.news_for_copies()
                profiler = cProfile.Profile()
                profiler.enable()
                busy = fleet.measure_run()
                profiler.disable()
                env.cr.commit()  # pylint: disable=invalid-commit
                out(
                    busy.report(
                        f"a run of {due} turns, {size} mailboxes", None, args.limit
                    )
                )
                out(
                    f"per turn: {busy.seconds / due * 1000:.1f} ms, "
                    f"{busy.count / due:.1f} statements, {busy.rows / due:.1f} rows"
                )
                stream = io.StringIO()
                pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(
                    25
                )
                out(stream.getvalue())
        smallest = sizes[0]
        for size in sizes[1:]:
            out(f"\n#### what differs between {smallest} and {size} mailboxes")
            for step in measured[smallest]:
                for shape, (few, many) in compare(
                    measured[smallest][step], measured[size][step]
                ).items():
                    out(f"{step}: {few} -> {many}: {shape[:200]}")
            if runs:
                (few, due_few), (many, due_many) = runs[smallest], runs[size]
                out(f"a whole run: per due mailbox ({due_few} -> {due_many})")
                a, b = few.by_shape(), many.by_shape()
                for shape in dict.fromkeys([*a, *b]):
                    x, y = a.get(shape, (0, 0, 0)), b.get(shape, (0, 0, 0))
                    per = [v / due_few for v in x[:2]], [v / due_many for v in y[:2]]
                    if per[0] != per[1]:
                        out(
                            f"  statements {per[0][0]:.2f} -> {per[1][0]:.2f}, rows "
                            f"{per[0][1]:.2f} -> {per[1][1]:.2f}, ms "
                            f"{x[2] * 1000:.1f} -> {y[2] * 1000:.1f}: {shape[:160]}"
                        )
            for step in measured[smallest]:
                a, b = measured[smallest][step], measured[size][step]
                out(
                    f"{step:<20} statements {a.count:>4} -> {b.count:>4}, rows "
                    f"{a.rows:>6} -> {b.rows:>6}, ms {a.seconds * 1000:8.1f} -> "
                    f"{b.seconds * 1000:8.1f}"
                )


if __name__ == "__main__":
    sys.exit(main())
