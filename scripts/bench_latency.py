#!/usr/bin/env python3
"""Benchmark of the listener: from an email's arrival to its chatter row.

Usage (from the repository root; ``make bench-latency`` runs it with the
defaults)::

    .venv/bin/python scripts/bench_latency.py [--mailboxes 1000] [--rate 1.0]
        [--seconds 120] [--rtt 0.02] [--skip-takeover]

What it does: a real Dovecot gets ``--mailboxes`` empty users, behind a latency
proxy (a child process adding ``--rtt`` seconds per round trip); in the
database ``mail_sync_bench_latency`` (installed or updated first) each user
connects its mailbox through the proxy. Then a listener
(``odoo-bin mail_sync_listener``) starts, and once it watches every mailbox's
Inbox and Sent it measures:

1. idle: the listener's CPU (% of one core) and RSS over 30 s with no mail;
2. load: ``--rate`` emails a second overall (Poisson arrivals), each APPENDed
   straight to Dovecot to a mailbox picked at random, from that mailbox's lead,
   for ``--seconds``; for each, the seconds from the APPEND's answer to its
   chatter row being committed (the database polled every 0.1 s): p50, p95,
   max; and the listener's CPU and RSS meanwhile;
3. takeover: a second listener starts; once they have divided the mailboxes,
   the first is killed (SIGKILL) and the time until the second holds and
   watches every mailbox is measured (target: within 60 s).

Results: ``bench-results/latency.json``. Targets (issue #19, 2 cores):
p95 <= 10 s (stretch 3 s), idle <= 5% of one core and <= 300 MB, takeover
<= 60 s.
"""

import argparse
import contextlib
import json
import multiprocessing
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time

import bench_fleet
from benchkit.addon_lib import import_testing
from benchkit.dovecot_limits import IDLE_FLEET_LIMITS
from benchkit.odoo_db import CONF, RESULTS_DIR, configure_odoo, install
from benchkit.proxy import Proxy
from benchkit.report import out, write_json

DB = "mail_sync_bench_latency"
ODOO_LOG = "/tmp/bench-latency-odoo.log"
INSTALL_LOG = "/tmp/bench-latency-install.log"
ODOO_BIN = os.path.join(os.environ.get("ODOO_SRC", "/opt/odoo18"), "odoo-bin")
TARGETS = {"p95": 10.0, "idle_cpu_percent": 5.0, "idle_rss_mb": 300, "takeover": 60}


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Usage:
    """CPU (% of one core) and peak RSS of process ``pid`` while in the block."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = 0.0
        self._stop = threading.Event()

    def _sample(self):
        while not self._stop.wait(0.5):
            self.peak = max(self.peak, rss_mb(self.pid))

    def __enter__(self):
        self.started = (time.monotonic(), cpu_seconds(self.pid))
        self.peak = rss_mb(self.pid)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        wall = time.monotonic() - self.started[0]
        self.cpu_percent = 100 * (cpu_seconds(self.pid) - self.started[1]) / wall
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb(self.pid))

    def summary(self):
        return {"cpu_percent": round(self.cpu_percent, 2), "rss_mb": round(self.peak)}


def start_listener(name, log_path):
    from odoo.tools import config

    command = [
        sys.executable,
        ODOO_BIN,
        f"--addons-path={config['addons_path']}",
        "mail_sync_listener",
        f"--listener-name={name}",
        "-c",
        CONF,
        "-d",
        DB,
        "--log-level=info",
        f"--logfile={log_path}",
    ]
    with contextlib.suppress(FileNotFoundError):
        os.unlink(log_path)
    return subprocess.Popen(command, stdout=subprocess.DEVNULL)


def watching(log_path):
    """Folders the listener's log says are watched (IDLE or polling), minus
    those that went to back-off since."""
    with contextlib.suppress(FileNotFoundError), open(log_path) as handle:
        text = handle.read()
        return len(re.findall(r": (?:idle|polling)\s*$", text, re.MULTILINE)) - len(
            re.findall(r": backoff\s*$", text, re.MULTILINE)
        )
    return 0


def wait_for(condition, what, timeout):
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"{what}: not within {timeout}s")
        time.sleep(0.2)
    return time.monotonic() - started


def sql(registry, query, params=()):
    with registry.cursor() as cr:
        cr.execute(query, params)
        return cr.fetchall()


def leases(registry):
    """{listener name: mailboxes held} of the live leases."""
    return dict(
        sql(
            registry,
            """SELECT s.name, count(*) FROM mail_sync_listener_lease l
                 JOIN mail_sync_listener s ON s.id = l.listener_id
                WHERE l.expires > now() AT TIME ZONE 'UTC' GROUP BY s.name""",
        )
    )


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def load(registry, dovecot, n_mailboxes, rate, seconds, rng):
    """Emails at ``rate`` a second for ``seconds``; {Message-ID: latency s}."""
    testing = import_testing()
    pending = {}  # Message-ID: when its APPEND was answered
    latencies = {}
    lock = threading.Lock()
    done = threading.Event()

    def poll():
        while not (done.is_set() and not pending):
            with lock:
                ids = list(pending)
            if ids:
                rows = sql(
                    registry,
                    """SELECT DISTINCT message_id FROM mail_message
                        WHERE model = 'crm.lead' AND message_id = ANY(%s)""",
                    [ids],
                )
                seen = time.monotonic()
                with lock:
                    for (message_id,) in rows:
                        latencies[message_id] = seen - pending.pop(message_id)
            time.sleep(0.1)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    ends = time.monotonic() + seconds
    count = 0
    while time.monotonic() < ends:
        time.sleep(rng.expovariate(rate))
        n = rng.randrange(n_mailboxes)
        count += 1
        message_id = f"<latency-{count}-{n}@bench.example>"
        raw = testing.make_message(
            bench_fleet.lead_address(n),
            f"{bench_fleet.login(n)}@sales.example",
            subject=f"Arrived {count}",
            message_id=message_id,
        )
        dovecot.append(bench_fleet.login(n), "INBOX", raw)
        with lock:
            pending[message_id] = time.monotonic()
    done.set()
    poller.join(120)
    return latencies, len(pending)


def prepare(args):
    configure_odoo(DB, ODOO_LOG)
    install(DB, INSTALL_LOG)
    from odoo.tools import config

    config["limit_time_real_cron"] = 0  # the first run's budget alone bounds it
    import odoo
    from odoo import SUPERUSER_ID, api

    registry = odoo.modules.registry.Registry(DB)
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        cr.execute("DELETE FROM mail_sync_listener")
        bench_fleet.reset(env, args.mailboxes)
    return registry


def run(args):
    rng = random.Random(19)
    testing = import_testing()
    results = {"mailboxes": args.mailboxes, "rate": args.rate, "rtt": args.rtt}
    results["load_before"] = os.getloadavg()[0]
    registry = prepare(args)
    with contextlib.ExitStack() as stack:
        dovecot = stack.enter_context(testing.DovecotServer(extra=IDLE_FLEET_LIMITS))
        smtp = stack.enter_context(testing.SmtpServer())
        for n in range(args.mailboxes):
            dovecot.add_user(bench_fleet.login(n), bench_fleet.PASSWORD)
            smtp.add_user(bench_fleet.login(n), bench_fleet.PASSWORD)
        proxy = Proxy(
            multiprocessing.get_context("spawn"),
            dovecot.host,
            dovecot.ssl_port,
            args.rtt / 2,
        )
        stack.callback(proxy.stop)
        started = time.monotonic()
        import odoo
        from odoo import SUPERUSER_ID, api

        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            bench_fleet.connect_all(env, args.mailboxes, proxy.port, smtp)
            results["connect_seconds"] = round(time.monotonic() - started, 1)
            out(
                f"connected {args.mailboxes} mailboxes in {results['connect_seconds']}s"
            )
            # Their first turn (the history, empty here) is the scheduled run's,
            # as in production: the listener starts on synced mailboxes.
            started = time.monotonic()
            env["mail.sync.scheduler"]._cron_sync()
            cr.commit()  # pylint: disable=invalid-commit  # the first turns show
            results["first_run_seconds"] = round(time.monotonic() - started, 1)
            out(f"first scheduled run in {results['first_run_seconds']}s")
        del odoo

        first_log = "/tmp/bench-latency-listener-1.log"
        first = start_listener("bench-1", first_log)
        stack.callback(_stop, first)
        results["watching_seconds"] = round(
            wait_for(
                lambda: watching(first_log) >= 2 * args.mailboxes,
                "every folder watched",
                600,
            ),
            1,
        )
        out(f"every folder watched after {results['watching_seconds']}s")
        time.sleep(5)  # the turns and checks that followed the start
        with Usage(first.pid) as idle:
            time.sleep(30)
        results["idle"] = idle.summary()
        out(f"idle: {results['idle']}")

        with Usage(first.pid) as busy:
            latencies, lost = load(
                registry, dovecot, args.mailboxes, args.rate, args.seconds, rng
            )
        values = list(latencies.values())
        results["under_load"] = busy.summary()
        results["emails"] = len(values)
        results["not_on_lead"] = lost
        if values:
            results["latency"] = {
                "p50": round(statistics.median(values), 2),
                "p95": round(percentile(values, 0.95), 2),
                "max": round(max(values), 2),
            }
        duplicates = sql(
            registry,
            """SELECT count(*) FROM (SELECT message_id, res_id FROM mail_message
                WHERE model = 'crm.lead' AND message_id LIKE '<latency-%%'
                GROUP BY message_id, res_id HAVING count(*) > 1) d""",
        )[0][0]
        results["recorded_twice"] = duplicates
        out(f"load: {results.get('latency')}, {results['under_load']}, lost {lost}")

        if not args.skip_takeover:
            second_log = "/tmp/bench-latency-listener-2.log"
            second = start_listener("bench-2", second_log)
            stack.callback(_stop, second)
            half = args.mailboxes // 2
            wait_for(
                lambda: (
                    min(leases(registry).values(), default=0) >= half
                    and len(leases(registry)) == 2
                    and watching(second_log) >= 2 * half
                ),
                "the mailboxes divided",
                600,
            )
            first.send_signal(signal.SIGKILL)
            first.wait()
            killed = time.monotonic()
            held = wait_for(
                lambda: leases(registry).get("bench-2") == args.mailboxes,
                "the second listener holding everything",
                600,
            )
            # the second listener only ever took mailboxes: its watches add up
            wait_for(
                lambda: watching(second_log) >= 2 * args.mailboxes,
                "the second listener watching everything",
                600,
            )
            results["takeover"] = {
                "leases_seconds": round(held, 1),
                "watching_seconds": round(time.monotonic() - killed, 1),
            }
            out(f"takeover: {results['takeover']}")
    results["load_after"] = os.getloadavg()[0]
    results["targets"] = TARGETS
    write_json(os.path.join(RESULTS_DIR, "latency.json"), results)
    out(json.dumps(results, indent=2))
    return results


def _stop(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mailboxes", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--rtt", type=float, default=0.02)
    parser.add_argument("--skip-takeover", action="store_true")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
