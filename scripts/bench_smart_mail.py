#!/usr/bin/env python3
# A command-line benchmark reports on stdout.
# pylint: disable=print-used
"""Benchmark of Smart Mail's sending overhead: routing + quota governor per mail,
against stock Odoo 18 sending the same mails to the same SMTP server.

Usage (from the repository root)::

    .venv/bin/python scripts/bench_smart_mail.py [--mails 1000] [--rounds 3]
        [--database mail_sync_bench_smart] [--skip-install]

What it does:

1. installs or updates ``mail_sync_crm`` in ``--database`` (``scripts/lib.sh``
   ``install_or_update``), unless ``--skip-install``;
2. in one transaction that is rolled back at the end (nothing is committed):
   starts a real SMTP server (``mail_sync_testing.SmtpServer``, implicit TLS + AUTH,
   self-signed certificate), creates a salesperson with an enabled mailbox
   pointing at it (certificate pinned; its personal server made by the same
   ``_mail_sync_upsert`` as a real connection), a company ``ir.mail_server`` pointing
   at the same listener with the same login (stock Odoo authenticates with the
   password stored on it), and a company override of the ``custom`` profile with
   every limit set but none binding, so that the governor computes every window;
3. per round and per variant, in a savepoint rolled back afterwards: creates
   ``--mails`` outgoing mails written by the salesperson to one lead contact, then
   times ``mail.mail.send()`` on them:

   * ``stock``: the mailbox's personal server removed (Odoo 18's own path: server
     choice, one SMTP session per batch, ``_send``);
   * ``smart``: the owner's mail routed to the personal server and sent through
     the governed session (entitlement check, quota plan per mail, usage events
     written, pinned TLS, encrypted password);

4. checks that every mail is sent and that the server received each once, counts
   the SMTP connections per run, and prints the median wall times and the
   overhead (target: < 5 %, one connection per batch).

The SMTP server runs in a child process, so that its work does not compete with
the measured process for the interpreter lock; rounds alternate the order of
the two variants.
"""

import argparse
import gc
import os
import statistics
import sys
import time

from benchkit import odoo_db
from benchkit.smtp import RemoteSmtp

ODOO_LOG = "/tmp/bench-smart-mail-odoo.log"
INSTALL_LOG = "/tmp/bench-smart-mail-install.log"

LOGIN = "bench_smart_owner"
PASSWORD = "B3nch-Sm4rt-pa55!"
OWNER_EMAIL = "sam.seller@bench-smart.example"
CUSTOMER_EMAIL = "ceo@prospect-bench.example"
BODY = "<p>Hello,</p>" + "<p>Here is our proposal for the coming quarter.</p>" * 30
TARGET_OVERHEAD = 0.05
# Every limit of the profile set, none reached by the benchmark.
NON_BINDING = {
    "recipients_per_email": 100,
    "recipients_per_connection": 100_000,
    "max_size_mb": 25,
    "emails_per_day": 100_000,
    "recipients_per_day": 100_000,
    "messages_per_minute": 100_000,
}


def install(database):
    odoo_db.install(database, INSTALL_LOG)


def configure_odoo(database):
    odoo_db.configure_odoo(database, ODOO_LOG)


def setup(env, smtp):
    """The owner, their enabled mailbox and personal server, the company server."""
    from odoo import Command

    from odoo.addons.mail_sync_crm.lib.net import tls

    env["ir.mail_server"].search([]).write({"active": False})
    # The bench's SMTP server is on loopback, which an administrator allows.
    env["ir.config_parameter"].sudo().set_param(
        "mail_sync_crm.allowed_hosts", "127.0.0.1"
    )
    company = env.company
    owner = (
        env["res.users"]
        .with_context(no_reset_password=True)
        .create(
            {
                "name": "Sam Seller",
                "login": LOGIN,
                "email": OWNER_EMAIL,
                "groups_id": [
                    Command.link(env.ref("base.group_user").id),
                    Command.link(env.ref("sales_team.group_sale_salesman").id),
                ],
            }
        )
    )
    customer = env["res.partner"].create({"name": "ACME CEO", "email": CUSTOMER_EMAIL})
    lead = env["crm.lead"].create(
        {"name": "Bench deal", "partner_id": customer.id, "user_id": owner.id}
    )
    company_server = env["ir.mail_server"].create(
        {
            "name": "Company SMTP (bench)",
            "smtp_host": smtp.host,
            "smtp_port": smtp.ssl_port,
            "smtp_encryption": "ssl",
            "smtp_user": LOGIN,
            "smtp_pass": PASSWORD,
            # The company's own domain: stock Odoo sends From the owner too.
            "from_filter": OWNER_EMAIL.split("@")[1],
            "sequence": 1,
        }
    )
    account = (
        env["mail.sync.account"]
        .with_user(owner)
        .create(
            {
                "provider": "custom",
                "email": OWNER_EMAIL,
                "imap_host": smtp.host,
                "imap_login": LOGIN,
                "imap_password": PASSWORD,
                "smtp_host": smtp.host,
                "smtp_port": smtp.ssl_port,
                "smtp_encryption": "ssl",
                "smtp_allow_self_signed": True,
            }
        )
    )
    # What action_connect() writes after its real IMAP and SMTP checks (no IMAP
    # server here), then its hook.
    account.sudo().write(
        {
            "state": "enabled",
            "email_proof": "login",
            "smtp_cert_fingerprint": tls.normalize_fingerprint(smtp.cert_fingerprint),
        }
    )
    env["ir.mail_server"]._mail_sync_upsert(account)
    env["mail.sync.quota.override"].create(
        {"company_id": company.id, "profile": "custom", **NON_BINDING}
    )
    return owner, lead, company_server, account


def make_mails(env, owner, lead, count):
    # Created in the owner's session (create_uid): only the owner's own mail
    # leaves through their mailbox.
    mails = (
        env["mail.mail"]
        .with_user(owner)
        .sudo()
        .create(
            [
                {
                    "subject": f"Proposal {i}",
                    "body_html": BODY,
                    "email_to": CUSTOMER_EMAIL,
                    "email_from": owner.email_formatted,
                    "author_id": owner.partner_id.id,
                    "model": "crm.lead",
                    "res_id": lead.id,
                }
                for i in range(count)
            ]
        )
    )
    return env["mail.mail"].browse(mails.ids)


def cpu_seconds(pid):
    """User + system CPU time of process ``pid`` (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_once(env, smtp, variant, owner, lead, account, count):
    """Wall time of send() for ``count`` fresh mails, in a rolled-back savepoint."""
    with env.cr.savepoint(flush=True) as savepoint:
        if variant == "stock":
            env["ir.mail_server"]._mail_sync_remove(account)
        mails = make_mails(env, owner, lead, count)
        env.flush_all()
        received, connections = smtp.received, smtp.connection_count
        env.cr.execute("SELECT pg_backend_pid()")
        backend = env.cr.fetchone()[0]
        gc.collect()
        cpu = time.process_time() + cpu_seconds(backend)
        started = time.perf_counter()
        mails.send()
        env.flush_all()
        elapsed = time.perf_counter() - started
        cpu = time.process_time() + cpu_seconds(backend) - cpu
        mails.invalidate_recordset()
        states = set(mails.mapped("state"))
        arrived = smtp.received - received
        opened = smtp.connection_count - connections
        events = env["mail.sync.send.event"].search_count(
            [("account_id", "=", account.id)]
        )
        savepoint.rollback()
    if states != {"sent"} or arrived != count:
        raise SystemExit(f"{variant}: states {states}, {arrived}/{count} received")
    if variant == "smart" and events != count:
        raise SystemExit(f"smart: {events} usage events for {count} mails")
    return elapsed, cpu, opened


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mails", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--database", default="mail_sync_bench_smart")
    parser.add_argument("--skip-install", action="store_true")
    args = parser.parse_args()

    if not args.skip_install:
        install(args.database)
    smtp = RemoteSmtp(LOGIN, PASSWORD)
    try:
        return measure(args, smtp)
    finally:
        smtp.stop()


def measure(args, smtp):
    configure_odoo(args.database)

    import odoo
    from odoo import SUPERUSER_ID, api

    registry = odoo.modules.registry.Registry(args.database)
    times = {"stock": [], "smart": []}
    cpus = {"stock": [], "smart": []}
    connections = {"stock": set(), "smart": set()}
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        try:
            owner, lead, _company_server, account = setup(env, smtp)
            # Warm-up (imports, caches, TLS), not measured.
            for variant in ("stock", "smart"):
                run_once(env, smtp, variant, owner, lead, account, 50)
            for round_ in range(args.rounds):
                order = ("stock", "smart") if round_ % 2 == 0 else ("smart", "stock")
                for variant in order:
                    elapsed, cpu, opened = run_once(
                        env, smtp, variant, owner, lead, account, args.mails
                    )
                    times[variant].append(elapsed)
                    cpus[variant].append(cpu)
                    connections[variant].add(opened)
                    smtp.clear_messages()
                    print(
                        f"round {round_ + 1} {variant:5}: {elapsed:7.3f} s "
                        f"({elapsed / args.mails * 1000:.2f} ms/mail, "
                        f"CPU {cpu:.3f} s, {opened} connection(s))",
                        flush=True,
                    )
        finally:
            cr.rollback()  # nothing of the benchmark is kept

    stock = statistics.median(times["stock"])
    smart = statistics.median(times["smart"])
    # Each round runs both variants back to back: their ratio cancels most of the
    # machine's own load, which shifts from round to round.
    paired = statistics.median(
        b / a - 1 for a, b in zip(times["stock"], times["smart"], strict=True)
    )
    paired_cpu = statistics.median(
        b / a - 1 for a, b in zip(cpus["stock"], cpus["smart"], strict=True)
    )
    print()
    print(f"mails per run            {args.mails}, {args.rounds} rounds")
    for label, value in (("stock Odoo", stock), ("Smart Mail", smart)):
        per_mail = value / args.mails * 1000
        print(f"{label + ' (median)':25}{value:.3f} s  {per_mail:.2f} ms/mail")
    print(
        f"overhead, per round      {paired * 100:+.1f} % wall time (median), "
        f"{paired_cpu * 100:+.1f} % CPU of Odoo + PostgreSQL; "
        f"target < {TARGET_OVERHEAD * 100:.0f} %"
    )
    print(
        f"overhead, medians        {(smart / stock - 1) * 100:+.1f} %; fastest runs "
        f"{(min(times['smart']) / min(times['stock']) - 1) * 100:+.1f} %"
    )
    print(
        f"SMTP connections per run stock {sorted(connections['stock'])}, "
        f"smart {sorted(connections['smart'])}"
    )
    ok = paired < TARGET_OVERHEAD and connections["smart"] == {1}
    print("result                   " + ("OK" if ok else "OVER TARGET"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
