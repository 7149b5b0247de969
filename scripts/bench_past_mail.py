#!/usr/bin/env python3
"""Benchmark of the past emails of a new lead (#20): how long until the first
of its older emails shows on it, and until all of them do.

Usage (from the repository root; ``make bench-past-mail`` runs it with the
defaults)::

    .venv/bin/python scripts/bench_past_mail.py [--mailboxes 10]
        [--messages 10000] [--history 20] [--rtt 0.02] [--repeat 3]
        [--skip-install] [--check]

What it does: a real Dovecot gets ``--mailboxes`` users of ``--messages``
messages each (the benchmark corpus, ``benchkit.corpus``: 75 % Inbox, 25 %
Sent, ~14 KiB each, written straight into the Maildirs), and in each,
``--history`` more exchanged with the address of the lead to come (half from
it in the Inbox, half to it in Sent), plus 5 messages of one thread that every
mailbox holds (the same bytes: recorded once). Each user connects its mailbox
through a latency proxy (a child process adding ``--rtt`` seconds per round
trip) in the database ``mail_sync_bench_past`` (installed or updated first), as
if an hour ago. Each folder is searched once for another address first, direct
(no latency): a server in use has its indexes built (``--cold``: not).

Then, ``--repeat`` times: a salesperson creates the lead (its create returns
with a request queued: no IMAP work in it), the scheduled action
"Mail Sync: find past emails" runs as Odoo's cron would run it once triggered
(committing each written chunk), and a second database connection polls the
lead's chatter every 10 ms: the time from the create's commit to the first
email on the lead, and to the request's end with all of them. The lead is then
deleted (its emails and ledger rows with it) for the next repetition; the
median repetition is shown. Results: ``bench-results/past_mail.json``.
"""

import argparse
import concurrent.futures
import datetime
import multiprocessing
import os
import sys
import threading
import time

from benchkit import corpus, crm_data, odoo_db, report
from benchkit.mailboxes import connect_mailbox
from benchkit.proxy import Proxy
from benchkit.report import out

DB = "mail_sync_bench_past"
ODOO_LOG = "/tmp/bench-past-mail-odoo.log"
INSTALL_LOG = "/tmp/bench-past-mail-install.log"
RESULTS_FILE = os.path.join(odoo_db.RESULTS_DIR, "past_mail.json")
PASSWORD = "Pa5t-mail-pa55word!"
LEAD_MARKER = "mail_sync_bench_past"
LEAD_ADDRESS = "new.customer@prospect-past.example"
SHARED_THREAD = 5
TARGETS = {"first_email_seconds": 5.0}  # issue 20


def login(n):
    return f"past{n:02d}"


def user_email(n):
    return f"{login(n)}@bench-corp.example"


def history(testing, n, count, shared=True):
    """(folder, raw, date) of mailbox ``n``'s mail with the lead's address."""
    start = datetime.datetime(2024, 6, 1, tzinfo=datetime.timezone.utc)
    me = user_email(n)
    items = []
    for i in range(count):
        date = start + datetime.timedelta(days=i, hours=n)
        inbound = i % 2 == 0
        raw = testing.make_message(
            LEAD_ADDRESS if inbound else me,
            me if inbound else LEAD_ADDRESS,
            subject=f"Mailbox {n}, email {i}",
            date=date,
            message_id=f"<past-{n}-{i}@bench.example>",
            text=f"Hello,\n\nabout the project, part {i}.\n\nRegards\n" * 20,
        )
        items.append(("INBOX" if inbound else "Sent", raw, date))
    if shared:
        for i in range(SHARED_THREAD):
            date = start - datetime.timedelta(days=SHARED_THREAD - i)
            raw = testing.make_message(
                LEAD_ADDRESS,
                [user_email(k) for k in range(3)],
                subject=f"To the whole team, {i}",
                date=date,
                message_id=f"<past-shared-{i}@bench.example>",
            )
            items.append(("INBOX", raw, date))
    return items


def run(args, context, install):
    # The harness takes the addon's lib as Odoo loads it (mail_sync_testing._lib).
    import odoo.addons.mail_sync_crm.lib.net.host_policy  # noqa: F401  # pylint: disable=unused-import

    from mail_sync_testing import DovecotServer, SmtpServer

    results = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "parameters": {
            "mailboxes": args.mailboxes,
            "messages_per_mailbox": args.messages,
            "history_per_mailbox": args.history,
            "shared_thread": SHARED_THREAD,
            "rtt": args.rtt,
            "repeat": args.repeat,
            "cold": args.cold,
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg()[0],
        },
        "targets": TARGETS,
    }
    started = time.perf_counter()
    dovecot, smtp, proxy = DovecotServer(), SmtpServer(), None
    pool = concurrent.futures.ProcessPoolExecutor(args.workers, mp_context=context)
    try:
        dovecot.start()
        smtp.start()
        fills = []
        for n in range(args.mailboxes):
            dovecot.add_user(login(n), PASSWORD)
            smtp.add_user(login(n), PASSWORD)
            fills.append(
                pool.submit(
                    corpus.fill_mailbox,
                    dovecot.dir,
                    login(n),
                    PASSWORD,
                    (f"Seller {n}", user_email(n)),
                    args.messages,
                    2000,
                    0.0,
                    n + 1,
                )
            )
        proxy = Proxy(context, dovecot.host, dovecot.ssl_port, args.rtt / 2)
        if install is not None:
            output, _ = install.communicate()
            results["install_seconds"] = round(time.perf_counter() - started, 1)
            if install.returncode:
                raise RuntimeError(f"install_or_update failed:\n{output}")
        out("[bench] filling the mailboxes")
        t = time.perf_counter()
        filled = [fill.result() for fill in fills]
        results["fill_seconds"] = round(time.perf_counter() - t, 1)
        results["mailbox_messages"] = sum(sum(f["folders"].values()) for f in filled)
        return _run(args, results, dovecot, smtp, proxy, started)
    finally:
        pool.shutdown(cancel_futures=True)
        if proxy is not None:
            proxy.stop()
        smtp.stop()
        dovecot.stop()


def _warm(dovecot, n):
    """One search per folder for another address, direct: Dovecot builds the
    folder's index and caches the searched headers, as a server in use has."""
    from odoo.addons.mail_sync_crm.lib.imap.session import ImapSession
    from odoo.addons.mail_sync_crm.lib.net.settings import ImapSettings

    from mail_sync_testing import LOOPBACK_POLICY

    settings = ImapSettings(
        dovecot.host,
        dovecot.ssl_port,
        "ssl",
        True,
        None,
        login(n),
        PASSWORD,
        host_policy=LOOPBACK_POLICY,
    )
    with ImapSession(settings) as session:
        for folder, key in (("INBOX", "FROM"), ("Sent", "TO")):
            session.select_folder(folder)
            session.search(f'OR OR {key} "warm@up.example" CC "x" BCC "x"')


def _run(args, results, dovecot, smtp, proxy, started):
    from odoo import SUPERUSER_ID, api, fields

    import mail_sync_testing as testing

    registry = odoo_db.open_registry(DB)
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        out(f"[bench] resetting {DB}")
        crm_data.reset_bench_data(env, LEAD_MARKER)
        env["mail.sync.history.request"].search([]).unlink()
        env.company.email = "office@bench-corp.example"
        env.company.mail_sync_past_mail = "auto"
        cr.commit()  # pylint: disable=invalid-commit  # the bench set-up
        users, accounts = [], []
        t = time.perf_counter()
        for n in range(args.mailboxes):
            items = history(testing, n, args.history)
            for name in ("INBOX", "Sent"):
                dovecot.fill_maildir(
                    login(n),
                    name,
                    [(raw, date) for folder, raw, date in items if folder == name],
                )
            if not args.cold:
                _warm(dovecot, n)
            user = crm_data.bench_user(env, login(n), f"Seller {n}", user_email(n))
            account = connect_mailbox(
                env, user, proxy.port, smtp, user_email(n), login(n), PASSWORD
            )
            if account.state != "enabled":
                raise RuntimeError(f"mailbox {n} not enabled: {account.state}")
            account.connected_date = fields.Datetime.now() - datetime.timedelta(hours=1)
            users.append(user)
            accounts.append(account)
            cr.commit()  # pylint: disable=invalid-commit  # the connected mailbox
        results["connect_seconds"] = round(time.perf_counter() - t, 1)
        out(f"[bench] {args.mailboxes} mailboxes connected")
        expected = args.mailboxes * args.history + SHARED_THREAD
        runs = []
        for repetition in range(args.repeat):
            runs.append(_measure(env, users[0], expected))
            out(
                f"[bench] run {repetition + 1}: create {runs[-1]['create_seconds']} s,"
                f" first email {runs[-1]['first_email_seconds']} s,"
                f" all {runs[-1]['all_emails_seconds']} s"
                f" ({runs[-1]['emails']} emails)"
            )
        median = sorted(runs, key=lambda r: r["first_email_seconds"])[len(runs) // 2]
        results["runs"] = runs
        results["median"] = median
        results["expected_emails"] = expected
        results["total_seconds"] = round(time.perf_counter() - started, 1)
        return results


def _measure(env, user, expected):
    """One lead created, its past emails found: the times as a user sees them."""
    cr = env.cr
    subtype = env.ref("mail_sync_crm.mt_synced_email").id
    seen = {"first": None, "count": 0}
    stop = threading.Event()
    lead_id = {}

    def poll(t0_holder):
        import odoo

        with odoo.sql_db.db_connect(DB).cursor() as poll_cr:
            while not stop.is_set():
                if "id" in lead_id:
                    poll_cr.execute(
                        """SELECT count(*) FROM mail_message
                            WHERE model = 'crm.lead' AND res_id = %s
                              AND subtype_id = %s""",
                        [lead_id["id"], subtype],
                    )
                    count = poll_cr.fetchone()[0]
                    poll_cr.rollback()  # a fresh snapshot for the next look
                    if count and seen["first"] is None:
                        seen["first"] = time.perf_counter() - t0_holder["t0"]
                    seen["count"] = count
                time.sleep(0.01)

    t0 = {}
    t = time.perf_counter()
    lead = (
        env["crm.lead"]
        .with_user(user)
        .create({"name": "New customer", "email_from": LEAD_ADDRESS})
    )
    lead.sudo().referred = LEAD_MARKER
    cr.commit()  # pylint: disable=invalid-commit  # the user's request ends
    t0["t0"] = time.perf_counter()
    create_seconds = t0["t0"] - t
    request = env["mail.sync.history.request"].search([("lead_id", "=", lead.id)])
    if request.state != "queued":
        raise RuntimeError(f"no request queued by the create: {request.state}")
    lead_id["id"] = lead.id
    poller = threading.Thread(target=poll, args=(t0,), daemon=True)
    poller.start()
    env["mail.sync.history.request"]._cron_find_past_mail()
    all_seconds = time.perf_counter() - t0["t0"]
    time.sleep(0.05)
    stop.set()
    poller.join()
    request.invalidate_recordset()
    emails = len(lead.message_ids.filtered(lambda m: m.subtype_id.id == subtype))
    if emails != expected or request.recorded_count != expected:
        raise RuntimeError(
            f"expected {expected} emails on the lead, found {emails} "
            f"(request: {request.recorded_count})"
        )
    result = {
        "create_seconds": round(create_seconds, 3),
        "first_email_seconds": round(seen["first"] or all_seconds, 3),
        "all_emails_seconds": round(all_seconds, 3),
        "emails": emails,
        "state": request.state,
        "mailboxes_searched": len(request.done_account_ids),
    }
    lead.sudo().unlink()  # its emails, ledger rows and request with it
    cr.commit()  # pylint: disable=invalid-commit  # the next run starts afresh
    return result


def verdicts(results):
    return report.verdicts(
        {"first_email_seconds": results["median"]["first_email_seconds"]}, TARGETS
    )


def print_table(results):
    median = results["median"]
    p = results["parameters"]
    report.print_rows(
        [
            ("mailboxes x messages", f"{p['mailboxes']} x {p['messages_per_mailbox']}"),
            ("round trip (s)", p["rtt"]),
            ("load average at start", p["load_average"]),
            ("lead's past emails", results["expected_emails"]),
            ("create (the user's request), s", median["create_seconds"]),
            ("first email on the lead, s", median["first_email_seconds"]),
            ("all emails on the lead, s", median["all_emails_seconds"]),
            (
                "runs (first / all, s)",
                ", ".join(
                    f"{r['first_email_seconds']} / {r['all_emails_seconds']}"
                    for r in results["runs"]
                ),
            ),
        ]
    )
    report.print_verdicts(results["verdicts"])
    out(f"\ntotal {results['total_seconds']} s; JSON in {RESULTS_FILE}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mailboxes", type=int, default=10)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument(
        "--history", type=int, default=20, help="the lead's emails per mailbox"
    )
    parser.add_argument(
        "--rtt", type=float, default=0.02, help="seconds per round trip"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--workers", type=int, default=1, help="processes filling the mailboxes"
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="no warm-up search: Dovecot builds its indexes during the first run",
    )
    parser.add_argument(
        "--skip-install", action="store_true", help="do not install/update the addon"
    )
    parser.add_argument(
        "--check", action="store_true", help="exit with 1 when a target is missed"
    )
    args = parser.parse_args(argv)
    context = multiprocessing.get_context("spawn")
    install = None if args.skip_install else odoo_db.start_install(DB, INSTALL_LOG)
    odoo_db.configure_odoo(DB, ODOO_LOG, log_level="info")
    results = run(args, context, install)
    results["verdicts"] = verdicts(results)
    report.write_json(RESULTS_FILE, results)
    print_table(results)
    missed = not all(v["met"] for v in results["verdicts"].values())
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
