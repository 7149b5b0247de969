"""What the benchmarks share. The benchmarks themselves are entry scripts
(``scripts/bench_sync.py``, ``bench_fleet.py``, ``bench_smart_mail.py``,
``bench_oauth.py``, ``bench_past_mail.py``; ``scripts/bench.py``, ``make bench``,
runs bench_sync and bench_smart_mail); none imports another's code, each
imports what it shares from here:

* ``odoo_db``: installing the addon in a benchmark's database, Odoo's
  configuration in the benchmark's process, the registry, VACUUM;
* ``addon_lib``: the addon's ``lib`` without Odoo, for child processes;
* ``proxy``: the latency proxy in a child process, and its measured round trip;
* ``smtp``: an SMTP server in a child process;
* ``dovecot_limits``: the test Dovecot's settings for thousands of IDLE
  connections (the listener's benchmarks);
* ``corpus``: the synthetic population and the mailbox filled with its messages;
* ``crm_data``: the benchmark's salesperson and leads in the database, and
  removing what a previous run synced onto them;
* ``mailboxes``: a salesperson connecting a mailbox to the benchmark's servers,
  the records a mailbox's syncs wrote;
* ``timers``: memory peaks, garbage collector time, time per wrapped function;
* ``report``: printing, result tables, targets and the JSON results;
* ``fleet_worker``: the second Odoo process of ``bench_fleet.py`` (a program,
  run with ``python -m benchkit.fleet_worker``).
"""
