#!/usr/bin/env python3
"""Benchmark of the listener's memory per watch, without Odoo.

Usage (from the repository root)::

    .venv/bin/python scripts/bench_listener_memory.py \\
        [--connections 500 1000] [--tls-buffer both|default|small] [--trace]

What it does: a real Dovecot (``benchkit.dovecot_limits``) gets one user
per two connections; for each count of connections and each TLS read buffer
(asyncio's default, and the listener's, see
``lib/imap/idle.py: small_tls_buffers``) a fresh child process imports
``lib.imap.idle`` and holds that many watches (``watch_folder``: implicit TLS,
Inbox and Sent of each user) in IDLE. It reports the child's RSS before the
first connection and once every watch idles, and the difference per
connection; with ``--trace``, a second child run under ``tracemalloc`` lists
the allocation sites that grew most, per connection (``tracemalloc`` sees
Python's allocations only, not OpenSSL's).

The listener's Odoo part (the registry, ~190 MB) is not here: ``bench_latency.py``
measures the whole process. Results: ``bench-results/listener-memory.json``.
"""

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time

from benchkit.addon_lib import import_lib, import_testing
from benchkit.dovecot_limits import IDLE_FLEET_LIMITS
from benchkit.odoo_db import RESULTS_DIR
from benchkit.report import out, print_rows, write_json

PASSWORD = "bench-secret"


def rss_mb():
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def child(args):
    """Hold ``args.connections`` watches; print one JSON line of figures."""
    import_lib()
    import_testing()
    import aioimaplib  # noqa: F401  # pylint: disable=unused-import  # in "before"
    from lib.imap import idle  # what the listener loads
    from lib.net.settings import ServerSettings

    from mail_sync_testing import LOOPBACK_POLICY

    if args.small:
        idle.small_tls_buffers()
    if args.trace:
        import tracemalloc

        tracemalloc.start(5)

    async def main():
        idling = set()
        ready = asyncio.Event()

        def state(key, value):
            if value == "idle":
                idling.add(key)
                if len(idling) == args.connections:
                    ready.set()

        before = rss_mb()
        snapshot = None
        if args.trace:
            snapshot = tracemalloc.take_snapshot()
        gate = asyncio.Semaphore(20)
        config = idle.WatchConfig(reidle_seconds=25 * 60)
        tasks = []
        for n in range(args.connections):
            login = f"mem{n // 2}"
            folder = ("INBOX", "Sent")[n % 2]
            box = ServerSettings(
                host=args.host,
                port=args.port,
                encryption="ssl",
                allow_self_signed=True,
                login=login,
                password=PASSWORD,
                host_policy=LOOPBACK_POLICY,
            )
            tasks.append(
                asyncio.ensure_future(
                    idle.watch_folder(
                        lambda box=box: box,
                        folder,
                        lambda *_a: None,
                        config,
                        login,
                        lambda value, key=n: state(key, value),
                        gate,
                    )
                )
            )
        started = time.monotonic()
        await asyncio.wait_for(ready.wait(), 900)
        connect_seconds = time.monotonic() - started
        await asyncio.sleep(5)
        after = rss_mb()
        top = []
        if snapshot is not None:
            stats = tracemalloc.take_snapshot().compare_to(snapshot, "lineno")
            for stat in stats[:12]:
                frame = stat.traceback[0]
                top.append(
                    {
                        "site": f"{os.path.relpath(frame.filename, sys.prefix)}:"
                        f"{frame.lineno}",
                        "kb_per_connection": round(
                            stat.size_diff / 1024 / args.connections, 2
                        ),
                    }
                )
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
        return {
            "connections": args.connections,
            "tls_buffer": "small" if args.small else "default",
            "rss_before_mb": round(before, 1),
            "rss_idle_mb": round(after, 1),
            "mb_per_connection": round((after - before) / args.connections, 4),
            "connect_seconds": round(connect_seconds, 1),
            "python_kb_per_connection_top": top,
        }

    figures = asyncio.run(main())
    sys.stdout.write(json.dumps(figures) + "\n")


def run_child(host, port, connections, small, trace):
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        f"--host={host}",
        f"--port={port}",
        f"--connections={connections}",
    ]
    if small:
        command.append("--small")
    if trace:
        command.append("--trace")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(args):
    testing = import_testing()
    results = {"load_before": os.getloadavg()[0], "python": sys.version.split()[0]}
    out(f"load average (1 min) at the start: {results['load_before']:.2f}")
    buffers = {"both": (False, True), "default": (False,), "small": (True,)}[
        args.tls_buffer
    ]
    runs = []
    with testing.DovecotServer(extra=IDLE_FLEET_LIMITS) as dovecot:
        for n in range((max(args.connections) + 1) // 2):
            dovecot.add_user(f"mem{n}", PASSWORD)
        for connections in args.connections:
            for small in buffers:
                figures = run_child(
                    dovecot.host, dovecot.ssl_port, connections, small, False
                )
                if args.trace:
                    traced = run_child(
                        dovecot.host, dovecot.ssl_port, connections, small, True
                    )
                    figures["python_kb_per_connection_top"] = traced[
                        "python_kb_per_connection_top"
                    ]
                runs.append(figures)
                out(json.dumps(figures))
    results["runs"] = runs
    results["load_after"] = os.getloadavg()[0]
    print_rows(
        [
            (
                f"{r['connections']} watches, {r['tls_buffer']} TLS buffer",
                (
                    f"{r['rss_idle_mb'] - r['rss_before_mb']:.1f} MB "
                    f"({r['mb_per_connection'] * 1024:.1f} KB per connection; "
                    f"{r['rss_before_mb']:.0f} MB before)"
                ),
            )
            for r in runs
        ]
    )
    write_json(os.path.join(RESULTS_DIR, "listener-memory.json"), results)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, nargs="+", default=[500, 1000])
    parser.add_argument(
        "--tls-buffer", choices=("both", "default", "small"), default="both"
    )
    parser.add_argument("--trace", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--small", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--host", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.connections = args.connections[0]
        child(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
