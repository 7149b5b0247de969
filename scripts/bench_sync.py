#!/usr/bin/env python3
"""Benchmark of the historical and incremental mailbox sync, end to end, on loopback.

Usage (from the repository root; ``make bench`` runs it with the defaults)::

    .venv/bin/python scripts/bench_sync.py [--messages 100000] [--leads 50000]
        [--rtt 0.02] [--naive 10000] [--repeat 3] [--html-ratio 0]
        [--skip-install] [--profile] [--check]

``--rtt`` is the round-trip time the proxy adds (each direction is delayed by
half of it); ``--html-ratio`` gives that share of messages an HTML version of
their text (the default corpus is text only); ``--naive 0`` skips the slow
one-by-one fetch (~4 min at full size); ``--profile`` runs the syncs under
cProfile (``bench-results/*.prof``, slower; the first historical sync only);
``--check`` exits with 1 when a target is missed. The full run takes about 6
minutes on 2 cores.

What it does:

1. installs or updates ``mail_sync_crm`` in the throwaway database ``mail_sync_bench``
   (``scripts/lib.sh`` ``install_or_update``) while, in parallel, a real Dovecot gets a
   mailbox of ``--messages`` synthetic messages (75 % Inbox / 25 % Sent, ~14 KiB
   average, 5 % exchanged with lead addresses), written straight into its Maildir by a
   child process (``DovecotServer.fill_maildir``);
2. opens an Odoo registry in this process, removes the previous run's bench data,
   inserts ``--leads`` leads with distinct addresses (one SQL statement, the stored
   computed address fields set as Odoo computes them) and a salesperson, and commits;
3. has the salesperson connect a mailbox (``action_connect()``, real IMAP and SMTP
   checks) pointing at the Dovecot through a latency proxy (a child process adding
   ``--rtt`` seconds per request/response round trip);
4. measures the historical sync (a turn as the cron runs it): wall time, peak
   memory growth of this process (VmHWM reset just before), where the time goes
   (the ImapSession, parser, matcher and store methods are wrapped and timed, the
   header prefetch thread separately, plus the garbage collector), the records
   written, and the ratio to the transfer floor: ``bench_floor.transfer_floor``
   (the same headers and matched bodies through the same proxy, after a warm-up
   pass) with plain imapclient, measured right after it. This pair is taken
   ``--repeat`` times (the synced history is removed in between) and the pair
   with the median ratio is reported, with all pairs listed; the floor with the
   product's own FETCH reader is reported too;
5. incremental runs with nothing new, one after 100 new messages arrived, then
   an idle run right after it and two a few seconds later (Dovecot rescans a
   Maildir directory changed in the last seconds on every EXAMINE, and once more
   on the first EXAMINE after that);
6. the naive one-message-at-a-time ``FETCH RFC822`` of ``--naive`` messages;
7. prints a table and writes ``bench-results/sync.json``.

Dovecot, the proxy and the SMTP server are stopped at the end, whatever happens.
"""

import argparse
import concurrent.futures
import contextlib
import datetime
import gc
import multiprocessing
import os
import re
import statistics
import sys
import time

from benchkit import corpus, crm_data, odoo_db, report
from benchkit.mailboxes import connect_mailbox, written_records
from benchkit.proxy import Proxy, measure_rtt
from benchkit.timers import GcTimer, Timings, memory_kb, reset_peak_memory

DB = "mail_sync_bench"
RESULTS_FILE = os.path.join(odoo_db.RESULTS_DIR, "sync.json")
ODOO_LOG = "/tmp/bench-odoo.log"
INSTALL_LOG = "/tmp/bench-install.log"
PROFILES = tuple(
    os.path.join(odoo_db.RESULTS_DIR, f"sync-{name}.prof")
    for name in ("historical", "incremental-idle", "incremental-new", "idle-after-new")
)

LOGIN = "bench_sales"
PASSWORD = "B3nch-pa55word!"
OWNER = ("Sam Seller", "sam.seller@bench-sales.example")
LEAD_MARKER = "mail_sync_bench"  # crm_lead.referred of the leads this script made
NEW_MESSAGES = 100
INCREMENTAL_RUNS = 5
MAILDIR_SETTLE_SECONDS = 5

TARGETS = {
    "historical_seconds": 60.0,
    "memory_growth_mb": 200.0,
    "floor_ratio": 2.0,
    "incremental_idle_seconds": 0.2,
    "incremental_new_seconds": 1.0,
}

out = report.out


# -- what the historical sync is made of ------------------------------------------


def instrument(timings):
    """Time the IMAP session, the parser, the matcher and the Odoo store."""
    from odoo import fields as odoo_fields
    from odoo import sql_db

    from odoo.addons.mail_sync_crm.lib.imap import session as imap_session
    from odoo.addons.mail_sync_crm.lib.message import full_message as message_parser
    from odoo.addons.mail_sync_crm.lib.sync import engine as sync_engine
    from odoo.addons.mail_sync_crm.lib.sync import matcher
    from odoo.addons.mail_sync_crm.store import chatter_store

    session = imap_session.ImapSession
    for name in ("open", "close"):
        timings.patch(session, name, "imap: login/logout")
    for name in ("select_folder", "uids_after", "_fetch"):
        timings.patch(session, name, "imap: commands")
    timings.patch(session, "fetch_bodies", "imap: commands")
    timings.patch(session, "fetch_headers", "parse: header fields")
    # The sync fetches headers ahead in a thread.
    timings.patch(
        sync_engine.NextBatchHeaders, "__call__", "imap: waiting for prefetched headers"
    )
    timings.patch(message_parser, "parse_message", "parse: full messages")
    timings.patch(matcher, "match", "match")
    store = chatter_store.MailSyncStore
    for name in ("lead_index", "allowed_leads", "known_pairs", "record", "checkpoint"):
        timings.patch(store, name, f"odoo: {name}")
    for name in ("skip", "cap_left"):
        timings.patch(store, name, "odoo: skip/cap_left")
    timings.patch(sql_db.Cursor, "commit", "odoo: commit")
    # Inside the store's methods: SQL round trips and body sanitising.
    timings.patch(sql_db.Cursor, "execute", "odoo: SQL statements")
    timings.patch(odoo_fields, "html_sanitize", "odoo: sanitising bodies")


def timed_sync(account, profile=None):
    """Seconds of one turn as the cron runs it (committing, process
    tuned for long runs); with ``profile`` (a path),
    under cProfile, its statistics written there."""
    account.env.invalidate_all()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started = time.perf_counter()
    from odoo.addons.mail_sync_crm.lib.sync import process_tuning

    ok = (
        account.env["mail.sync.scheduler"]._claim_turn(
            account, long_run=process_tuning.long_run
        )
        is None
    )
    seconds = time.perf_counter() - started
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    if not ok:
        raise RuntimeError(f"the sync failed: {account.last_error}")
    return seconds


# -- the benchmark ----------------------------------------------------------------


def reset_synced_history(env, account):
    """Undo a historical sync (chatter messages, attachments, ledger, folder
    checkpoints) so that the next one starts from scratch, as after connect."""
    from odoo.addons.mail_sync_crm.lib.message import headers as parser

    cr = env.cr
    crm_data.delete_synced_chatter(env, LEAD_MARKER)
    cr.execute("DELETE FROM mail_sync_message WHERE account_id = %s", [account.id])
    cr.execute(
        """UPDATE mail_sync_folder
              SET uidvalidity = 0, last_uid = 0, scanned = 0, total = 0,
                  historical_done = FALSE
            WHERE account_id = %s""",
        [account.id],
    )
    cr.commit()  # pylint: disable=invalid-commit  # the bench set-up
    odoo_db.vacuum(env.registry, "mail_message", "ir_attachment", "mail_sync_message")
    env.invalidate_all()
    parser._addresses.cache_clear()  # as cold as in the first run
    gc.collect()


def historical(env, account, args, profile=True):
    """The measured historical sync: time, memory, time split, records."""
    timings = Timings()
    instrument(timings)
    rss_before, hwm_before = memory_kb()
    exact_peak = reset_peak_memory()
    heap_objects = len(gc.get_objects())
    try:
        with GcTimer() as gc_timer:
            seconds = timed_sync(
                account, profile=args.profile and profile and PROFILES[0]
            )
    finally:
        timings.restore()
    rss_after, hwm_after = memory_kb()
    peak_growth = (hwm_after - (rss_before if exact_peak else hwm_before)) / 1024
    split = {
        category: {
            "seconds": round(timings.wall[category], 3),
            "cpu_seconds": round(timings.cpu[category], 3),
            "calls": timings.calls[category],
            "share": round(timings.wall[category] / seconds, 4),
        }
        for category in sorted(timings.wall, key=lambda c: (c.startswith("["), c))
    }
    main = {k: v for k, v in timings.wall.items() if not k.startswith("[")}
    main_cpu = {k: v for k, v in timings.cpu.items() if not k.startswith("[")}
    accounted = sum(main.values())
    split["other (engine loop, account, blocklist)"] = {
        "seconds": round(seconds - accounted, 3),
        "share": round((seconds - accounted) / seconds, 4),
    }
    imap = sum(v for k, v in main.items() if k.startswith("imap"))
    imap_cpu = sum(v for k, v in main_cpu.items() if k.startswith("imap"))
    odoo = sum(v for k, v in main.items() if k.startswith("odoo"))
    client = sum(v for k, v in main.items() if k.startswith(("parse", "match")))
    return {
        "seconds": round(seconds, 3),
        "messages_per_second": round(args.messages / seconds),
        "memory": {
            "rss_before_mb": round(rss_before / 1024, 1),
            "rss_after_mb": round(rss_after / 1024, 1),
            "peak_mb": round(hwm_after / 1024, 1),
            "peak_growth_mb": round(peak_growth, 1),
            "peak_reset": exact_peak,
        },
        "time_split": split,
        "garbage_collector": {
            "seconds": round(sum(gc_timer.seconds.values()), 3),
            "full_collections": gc_timer.collections[2],
            "full_collection_seconds": round(gc_timer.seconds[2], 3),
            "objects_before": heap_objects,
            "full_collections_by_thread": dict(gc_timer.full_by_thread),
        },
        "shares": {  # of the main thread's wall time (= the sync's)
            "imap": round(imap / seconds, 4),
            "imap_waiting": round((imap - imap_cpu) / seconds, 4),
            "imap_client_cpu": round(imap_cpu / seconds, 4),
            "parse_and_match": round(client / seconds, 4),
            "odoo": round(odoo / seconds, 4),
            "other": round((seconds - accounted) / seconds, 4),
        },
    }


@contextlib.contextmanager
def plain_imapclient():
    """ImapSession with stock imapclient (its own FETCH parser, public API only),
    as the brief's "plain imapclient" floor and Odoo fetchmail's way use it."""
    from odoo.addons.mail_sync_crm.lib.imap.session import FAST_READER_SWITCH

    before = os.environ.get(FAST_READER_SWITCH)
    os.environ[FAST_READER_SWITCH] = "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(FAST_READER_SWITCH, None)
        else:
            os.environ[FAST_READER_SWITCH] = before


def measure_floor(proxy, settings, folders, predicate):
    from mail_sync_testing import bench_floor

    before = proxy.stats()
    with GcTimer() as gc_timer:
        floor = bench_floor.transfer_floor(settings, folders, predicate)
    after = proxy.stats()
    floor["garbage_collector_seconds"] = round(sum(gc_timer.seconds.values()), 3)
    floor["bytes_down"] = after["bytes_down"] - before["bytes_down"]
    floor["seconds"] = round(floor["seconds"], 3)
    return floor


def floor_predicate(matched_ids):
    pattern = re.compile(rb"^message-id:\s*(<[^>\r\n]*>)", re.IGNORECASE | re.MULTILINE)
    wanted = {m.encode() for m in matched_ids}

    def predicate(_folder, _uid, header):
        found = pattern.search(header)
        return bool(found) and found.group(1) in wanted

    return predicate


def run(args, context, install):
    from mail_sync_testing import DovecotServer, SmtpServer

    results = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "parameters": {
            "messages": args.messages,
            "leads": args.leads,
            "rtt": args.rtt,
            "proxy_delay_one_way": args.rtt / 2,
            "naive_messages": args.naive,
            "html_ratio": args.html_ratio,
            "match_ratio": corpus.MATCH_RATIO,
            "cpus": os.cpu_count(),
        },
        "targets": TARGETS,
    }
    started = time.perf_counter()
    dovecot, smtp, proxy = DovecotServer(), SmtpServer(), None
    pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=context)
    try:
        dovecot.start()
        dovecot.add_user(LOGIN, PASSWORD)
        smtp.start()
        smtp.add_user(LOGIN, PASSWORD)
        filling = pool.submit(
            corpus.fill_mailbox,
            dovecot.dir,
            LOGIN,
            PASSWORD,
            OWNER,
            args.messages,
            args.leads,
            args.html_ratio,
        )
        proxy = Proxy(context, dovecot.host, dovecot.ssl_port, args.rtt / 2)
        if install is not None:
            output, _ = install.communicate()
            results["install_seconds"] = round(time.perf_counter() - started, 1)
            if install.returncode:
                raise RuntimeError(f"install_or_update failed:\n{output}")
        return _run(args, results, dovecot, smtp, proxy, filling, started)
    finally:
        pool.shutdown(cancel_futures=True)
        if proxy is not None:
            proxy.stop()
        smtp.stop()
        dovecot.stop()


def _run(args, results, dovecot, smtp, proxy, filling, started):
    from odoo import SUPERUSER_ID, api

    from odoo.addons.mail_sync_crm.lib.net.settings import ImapSettings

    from mail_sync_testing import (
        LOOPBACK_POLICY,
        bench_floor,
        make_corpus,
    )

    say = out
    registry = odoo_db.open_registry(DB)
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        say(f"[bench] resetting {DB} and creating {args.leads} leads")
        t = time.perf_counter()
        crm_data.reset_bench_data(env, LEAD_MARKER)
        user = crm_data.bench_user(env, LOGIN, *OWNER)
        env.company.email = "office@bench-corp.example"
        lead_rows, distinct = crm_data.create_leads(env, user, args.leads, LEAD_MARKER)
        cr.commit()  # pylint: disable=invalid-commit  # the bench set-up
        # Vacuumed, with planner statistics, as a database that has lived with its
        # leads is (autovacuum would get there on its own, possibly in the middle
        # of the first measured sync).
        odoo_db.vacuum(
            registry, "crm_lead", "res_partner", "mail_message", "ir_attachment"
        )
        results["setup"] = {
            "leads": lead_rows,
            "distinct_lead_emails": distinct,
            "lead_seconds": round(time.perf_counter() - t, 2),
        }
        say(f"[bench] {lead_rows} leads in {results['setup']['lead_seconds']} s")
        say("[bench] waiting for the mailbox to be filled")
        fill = filling.result()
        matched_ids = fill.pop("matched_message_ids")
        results["setup"]["mailbox"] = fill
        results["setup"]["mailbox"]["matched_messages"] = len(matched_ids)
        say(
            f"[bench] mailbox: {fill['folders']}, {fill['bytes'] / 2**20:.0f} MiB,"
            f" {len(matched_ids)} matching, in {fill['seconds']:.1f} s"
        )
        direct = ImapSettings(
            dovecot.host,
            dovecot.ssl_port,
            "ssl",
            True,
            None,
            LOGIN,
            PASSWORD,
            host_policy=LOOPBACK_POLICY,
        )
        proxied = ImapSettings(
            "127.0.0.1",
            proxy.port,
            "ssl",
            True,
            None,
            LOGIN,
            PASSWORD,
            host_policy=LOOPBACK_POLICY,
        )
        results["measured_rtt_ms"] = round(measure_rtt(proxied) * 1000, 1)
        say(f"[bench] proxy round trip: {results['measured_rtt_ms']} ms")

        t = time.perf_counter()
        account = connect_mailbox(
            env, user, proxy.port, smtp, OWNER[1], LOGIN, PASSWORD
        )
        cr.commit()  # pylint: disable=invalid-commit  # the connected mailbox
        results["connect_seconds"] = round(time.perf_counter() - t, 3)
        if account.state != "enabled":
            raise RuntimeError(f"mailbox not enabled: {account.state}")

        # Dovecot builds its index and header cache on the first read of each folder;
        # warm it up (direct, no latency) so the sync and the floor both see it warm.
        say("[bench] warming up Dovecot (transfer floor, no latency)")
        predicate = floor_predicate(matched_ids)
        folders = ("INBOX", "Sent")
        warm = bench_floor.transfer_floor(direct, folders, predicate)
        results["floor_cold_no_rtt_seconds"] = round(warm["seconds"], 3)

        # Each historical sync is paired with a floor measured right after it, so
        # that a pair sees the same machine; the headline is the median pair.
        pairs = []
        for number in range(1, args.repeat + 1):
            if number > 1:
                reset_synced_history(env, account)
            say(f"[bench] historical sync {number}/{args.repeat}")
            before = proxy.stats()
            hist = historical(env, account, args, profile=number == 1)
            after = proxy.stats()
            hist["bytes_down"] = after["bytes_down"] - before["bytes_down"]
            hist["records"] = written_records(env, account)
            hist["expected_pairs"] = fill["pairs"]
            say(f"[bench] historical sync: {hist['seconds']} s; floor through proxy")
            with plain_imapclient():
                floor = measure_floor(proxy, proxied, folders, predicate)
            ratio = round(hist["seconds"] / floor["seconds"], 2)
            say(f"[bench] floor: {floor['seconds']} s, ratio {ratio}")
            pairs.append((ratio, number, hist, floor))
        ratio, _number, results["historical"], results["floor"] = sorted(
            pairs, key=lambda pair: pair[:2]
        )[(len(pairs) - 1) // 2]
        results["floor_ratio"] = ratio
        results["repeats"] = [
            {
                "historical_seconds": hist["seconds"],
                "floor_seconds": floor["seconds"],
                "ratio": ratio,
                "peak_memory_growth_mb": hist["memory"]["peak_growth_mb"],
                "records_as_expected": hist["records"]["ledger_rows"]
                == hist["expected_pairs"],
            }
            for ratio, _number, hist, floor in pairs
        ]
        say("[bench] transfer floor with the product's FETCH reader")
        results["floor_product_fetch"] = measure_floor(
            proxy, proxied, folders, predicate
        )
        results["floor_product_fetch_ratio"] = round(
            results["historical"]["seconds"]
            / results["floor_product_fetch"]["seconds"],
            2,
        )

        say("[bench] incremental syncs")
        idle = [timed_sync(account) for _i in range(INCREMENTAL_RUNS - 1)]
        idle.append(timed_sync(account, profile=args.profile and PROFILES[1]))
        results["incremental_idle"] = {
            "runs": [round(s, 3) for s in idle],
            "median_seconds": round(statistics.median(idle), 3),
            "max_seconds": round(max(idle), 3),
        }
        recorded_before = written_records(env, account)["ledger_rows"]
        new = make_corpus(
            NEW_MESSAGES - 5,
            seed=99,
            owner=OWNER,
            contacts=[corpus.other_contact(i) for i in range(50)],
            start=datetime.datetime.now(datetime.timezone.utc)
            - datetime.timedelta(hours=2),
            span_days=0.05,
        ) + make_corpus(
            5,
            seed=98,
            owner=OWNER,
            contacts=corpus.lead_correspondents(args.leads)[:20],
            start=datetime.datetime.now(datetime.timezone.utc)
            - datetime.timedelta(hours=1),
            span_days=0.02,
        )
        for folder in ("INBOX", "Sent"):
            dovecot.fill_maildir(
                LOGIN, folder, [(m.raw, m.date) for m in new if m.folder == folder]
            )
        seconds = timed_sync(account, profile=args.profile and PROFILES[2])
        recorded = written_records(env, account)["ledger_rows"] - recorded_before
        results["incremental_new"] = {
            "new_messages": len(new),
            "recorded": recorded,
            "seconds": round(seconds, 3),
        }
        idle_after = timed_sync(account, profile=args.profile and PROFILES[3])
        results["incremental_idle"]["after_new_seconds"] = round(idle_after, 3)
        # Dovecot rescans a Maildir directory (75,000 files) on every EXAMINE while
        # the directory's mtime is too recent to be trusted, and once more on the
        # first EXAMINE after that; then it trusts its index again.
        time.sleep(MAILDIR_SETTLE_SECONDS)
        results["incremental_idle"]["after_new_settled_seconds"] = [
            round(timed_sync(account), 3) for _i in range(2)
        ]

    if args.naive:
        say(f"[bench] naive one-by-one FETCH RFC822 of {args.naive} messages")
        with plain_imapclient():
            naive = bench_floor.naive_fetch(proxied, "INBOX", args.naive)
        naive["seconds"] = round(naive["seconds"], 2)
        naive["messages_per_second"] = round(naive["messages"] / naive["seconds"], 1)
        naive["extrapolated_seconds_for_all"] = round(
            naive["seconds"] / naive["messages"] * args.messages, 1
        )
        results["naive"] = naive
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    return results


def verdicts(results):
    hist = results["historical"]
    measured = {
        "historical_seconds": hist["seconds"],
        "memory_growth_mb": max(
            run["peak_memory_growth_mb"] for run in results["repeats"]
        ),
        "floor_ratio": results["floor_ratio"],
        "incremental_idle_seconds": results["incremental_idle"]["median_seconds"],
        "incremental_new_seconds": results["incremental_new"]["seconds"],
    }
    return report.verdicts(measured, TARGETS)


def _rows(results):
    """(label, value) lines of the results table."""
    params, setup, hist = results["parameters"], results["setup"], results["historical"]
    box, rec, mem = setup["mailbox"], hist["records"], hist["memory"]
    idle, new = results["incremental_idle"], results["incremental_new"]
    floor, fast = results["floor"], results["floor_product_fetch"]
    gc_, shares = hist["garbage_collector"], hist["shares"]
    rows = [
        ("mailbox", f"{params['messages']} messages, {box['bytes'] / 2**20:.0f} MiB"),
        ("  folders", f"{box['folders']}, {box['matched_messages']} with leads"),
        ("leads", f"{setup['leads']} ({setup['distinct_lead_emails']} emails)"),
        ("proxy round trip", f"{results['measured_rtt_ms']} ms"),
        ("connect (IMAP+SMTP check)", f"{results['connect_seconds']} s"),
        ("floor, cold server, no RTT", f"{results['floor_cold_no_rtt_seconds']} s"),
        (
            "historical sync",
            f"{hist['seconds']} s ({hist['messages_per_second']} msg/s)",
        ),
        (
            "  records written",
            (
                f"{rec['chatter_messages']} chatter messages, {rec['ledger_rows']} "
                f"ledger rows (expected {hist['expected_pairs']}), "
                f"{rec['attachments']} attachments, {rec['log_entries']} log entries"
            ),
        ),
        (
            "  peak memory growth",
            (
                f"{mem['peak_growth_mb']} MB "
                f"(RSS {mem['rss_before_mb']} -> peak {mem['peak_mb']} MB)"
            ),
        ),
    ]
    for category, value in hist["time_split"].items():
        text = f"{value['seconds']} s ({value['share']:.1%})"
        if "cpu_seconds" in value:
            text += f", cpu {value['cpu_seconds']} s, {value['calls']} calls"
        rows.append(("  " + category, text))
    rows += [
        (
            "  garbage collector",
            (
                f"{gc_['seconds']} s ({gc_['full_collections']} full collections: "
                f"{gc_['full_collection_seconds']} s)"
            ),
        ),
        (
            "  main thread: IMAP / Odoo",
            (
                f"IMAP {shares['imap']:.1%} (waiting {shares['imap_waiting']:.1%}), "
                f"parse+match {shares['parse_and_match']:.1%}, "
                f"Odoo {shares['odoo']:.1%}, other {shares['other']:.1%}"
            ),
        ),
        (
            "transfer floor (plain imapclient)",
            (
                f"{floor['seconds']} s ({floor['headers']} headers, "
                f"{floor['bodies']} bodies)"
            ),
        ),
        ("historical / floor", f"{results['floor_ratio']}x (median pair)"),
        (
            "  all pairs (sync / floor)",
            ", ".join(
                f"{r['historical_seconds']}/{r['floor_seconds']} s = {r['ratio']}x"
                for r in results["repeats"]
            ),
        ),
        ("transfer floor (product's FETCH)", f"{fast['seconds']} s"),
        ("historical / that floor", f"{results['floor_product_fetch_ratio']}x"),
        (
            "incremental, nothing new",
            (
                f"median {idle['median_seconds']} s, runs {idle['runs']}, "
                f"right after new mail {idle['after_new_seconds']} s, "
                f"{MAILDIR_SETTLE_SECONDS} s later "
                f"{' then '.join(map(str, idle['after_new_settled_seconds']))} s"
            ),
        ),
        ("incremental, 100 new", f"{new['seconds']} s ({new['recorded']} recorded)"),
    ]
    if "naive" in results:
        naive = results["naive"]
        rows.append(
            (
                "naive FETCH RFC822 one by one",
                (
                    f"{naive['seconds']} s for {naive['messages']} "
                    f"({naive['messages_per_second']} msg/s; all {params['messages']}: "
                    f"~{naive['extrapolated_seconds_for_all']} s)"
                ),
            )
        )
    return rows


def print_table(results):
    report.print_rows(_rows(results))
    report.print_verdicts(results["verdicts"])
    out(f"\ntotal {results['total_seconds']} s; JSON in {RESULTS_FILE}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--leads", type=int, default=50_000)
    parser.add_argument(
        "--rtt", type=float, default=0.02, help="seconds per round trip"
    )
    parser.add_argument("--naive", type=int, default=10_000, help="0 to skip")
    parser.add_argument(
        "--html-ratio",
        type=float,
        default=0.0,
        help="share of messages with an HTML alternative (default: text only)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="historical syncs, each paired with a floor; the median pair is shown",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run the syncs under cProfile (slower), stats in bench-results/*.prof",
    )
    parser.add_argument(
        "--skip-install", action="store_true", help="do not install/update the addon"
    )
    parser.add_argument(
        "--check", action="store_true", help="exit with 1 when a target is missed"
    )
    args = parser.parse_args(argv)
    context = multiprocessing.get_context("spawn")
    if args.profile:
        os.makedirs(odoo_db.RESULTS_DIR, exist_ok=True)
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
