"""The second Odoo process of ``bench_fleet.py``: one scheduled sync run
(``_cron_sync()``) started at an agreed time, printing as its last line, in
JSON, its wall time, the mailboxes it tried and those it synced.

Run by the benchmark as ``python -m benchkit.fleet_worker --database DB --log LOG
--start EPOCH`` with ``scripts/`` on ``PYTHONPATH``.
"""

import argparse
import json
import os
import time

from .odoo_db import configure_odoo


def peak_rss_mb():
    """This process's peak resident memory, in MB (``VmHWM``: its own since
    its exec; ``ru_maxrss`` keeps the forking parent's)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024)
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--start", type=float, required=True, help="time.time()")
    args = parser.parse_args(argv)
    configure_odoo(args.database, args.log)

    import odoo
    from odoo import SUPERUSER_ID, api
    from odoo.tools import config

    config["limit_time_real_cron"] = 0
    registry = odoo.modules.registry.Registry(args.database)
    News = registry["mail.sync.news"]
    Scheduler = registry["mail.sync.scheduler"]
    tried, synced, read_ahead = [], [], []
    checked = News._checked
    claim = Scheduler._claim_turn

    def spy_checked(self, accounts, results, *args):
        tried.extend(r.key for r in results if not r.news or r.error)
        return checked(self, accounts, results, *args)

    def spy_claim(self, account, *args, **kwargs):
        outcome = claim(self, account, *args, **kwargs)
        if outcome not in ("busy", "not_due"):
            synced.append(account.id)
        return outcome

    from odoo.addons.mail_sync_crm.lib.imap import read_ahead as imap_read_ahead

    submit = imap_read_ahead.ReadAheadPool.submit

    def spy_submit(self, key, *args, **kwargs):
        read_ahead.append(key)
        return submit(self, key, *args, **kwargs)

    imap_read_ahead.ReadAheadPool.submit = spy_submit
    News._checked = spy_checked
    Scheduler._claim_turn = spy_claim
    while time.time() < args.start:
        time.sleep(0.005)
    started = time.perf_counter()
    with registry.cursor() as cr:
        api.Environment(cr, SUPERUSER_ID, {})["mail.sync.scheduler"]._cron_sync()
    result = {
        "seconds": time.perf_counter() - started,
        "tried": tried,
        "synced": synced,
        "read_ahead": len(read_ahead),
        "cpu": round(os.times().user + os.times().system, 1),
        "rss_mb": peak_rss_mb(),
    }
    print(json.dumps(result), flush=True)  # pylint: disable=print-used


if __name__ == "__main__":
    main()
