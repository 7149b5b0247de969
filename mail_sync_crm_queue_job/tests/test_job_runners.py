# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Two real Odoo servers sharing the mailbox jobs, as a deployment runs them.

Two ``odoo-bin`` servers (threaded, ``--load=web,queue_job``: each runs
queue_job's job runner in a thread) on a throwaway copy of this module's test
database, behind a round-robin load balancer (``mail_sync_testing.RoundRobinBalancer``,
what HAProxy or nginx is in production). queue_job lets one runner per database
dispatch (the other waits, taking over if the first one's server goes away);
it hands each job to the address in ``[queue_job] host``/``port``: the
balancer, hence to either server. The scheduled sync queues one job per
mailbox; the test checks that both servers ran jobs, that every job is done and
that each mailbox's mail reached its lead exactly once.
"""

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from odoo.tests import tagged

from odoo.addons.mail_sync_crm.tests.odoo_process_case import (
    ODOO_BIN,
    OdooProcessCase,
)
from odoo.addons.mail_sync_crm.tests.odoo_processes import write_config

from mail_sync_testing import RoundRobinBalancer, make_message

_logger = logging.getLogger(__name__)

LOGINS = tuple(f"jobs_{n}" for n in range(6))
MESSAGES_EACH = 2
DEADLINE = 120  # seconds the servers get to start and run every job
# Two jobs of the channel at once, across both servers.
CHANNELS = "root:4,root.mail_sync:2"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def correspondent(login):
    return f"buyer.{login}@customer.example.net"


# The scheduled sync's set-up in its own process: a lead per correspondent,
# created a day before the mailboxes are connected (so that their history is
# synced), the mailboxes connected; once both servers answer, the scheduled
# sync queues them.
SETUP = """
leads = env["crm.lead"].create([
    {"name": "Deal of " + login, "type": "opportunity",
     "email_from": ARGS["correspondents"][login]}
    for login in ARGS["logins"]
])
env.flush_all()
env.cr.execute(
    "UPDATE crm_lead SET create_date = create_date - interval '1 day' "
    "WHERE id = ANY(%s)",
    [leads.ids],
)
env.cr.commit()
for login in ARGS["logins"]:
    mailbox(login).action_connect()
env.cr.commit()
wait_for(ARGS["servers_ready"])
env["mail.sync.scheduler"]._cron_sync()
env.cr.commit()
result(queued=env["queue.job"].search_count([("method_name", "=", "_job_sync")]))
"""


@tagged("post_install", "-at_install")
class TestJobRunners(OdooProcessCase):
    LOGINS = LOGINS

    def setUp(self):
        super().setUp()
        for login in LOGINS:
            self.imap.fill_maildir(
                login,
                "INBOX",
                [
                    make_message(
                        correspondent(login),
                        f"{login}@example.com",
                        subject=f"Order {n} for {login}",
                        message_id=f"<order-{n}-{login}@customer.example.net>",
                    )
                    for n in range(MESSAGES_EACH)
                ],
            )

    def server_config(self, name, balancer_port):
        """The servers share the database, its data directory (the key the
        mailbox passwords are encrypted with) and the channels; the runner
        hands jobs to the balancer."""
        path = os.path.join(self.workdir, name, "odoo.conf")
        write_config(path, self.db.name, self.data_dir)
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        options, _queue_job = text.split("[queue_job]")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(
                options
                + "http_interface = 127.0.0.1\n\n[queue_job]\n"
                + f"channels = {CHANNELS}\nhost = 127.0.0.1\nport = {balancer_port}\n"
            )
        return path

    def start_server(self, name, http_port, balancer_port):
        log = os.path.join(self.workdir, f"{name}.log")
        command = [
            sys.executable,
            ODOO_BIN,
            "-c",
            self.server_config(name, balancer_port),
            "--load=web,queue_job",
            "--workers=0",
            "--max-cron-threads=0",
            f"--http-port={http_port}",
            "--log-level=info",
            f"--logfile={log}",
        ]
        environ = {k: v for k, v in os.environ.items() if k != "MAIL_SYNC_CRM_KEY"}
        server = subprocess.Popen(command, env=environ, stdin=subprocess.DEVNULL)
        self.addCleanup(self.stop_server, server)
        return server, log

    @staticmethod
    def stop_server(server):
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)  # a graceful stop, runner first
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()

    @staticmethod
    def wait_until_answering(port, deadline):
        url = f"http://127.0.0.1:{port}/web/health"
        while True:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(url, timeout=2) as answer,
            ):
                if answer.status == 200:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"no Odoo server answered on port {port}")
            time.sleep(0.2)

    def jobs(self):
        return self.db.sql(
            """SELECT state, worker_pid, result FROM queue_job
                WHERE method_name = '_job_sync' ORDER BY id"""
        )

    def wait_for_jobs(self, deadline):
        while True:
            jobs = self.jobs()
            if len(jobs) == len(LOGINS) and all(
                state in ("done", "failed") for state, *_rest in jobs
            ):
                return jobs
            if time.monotonic() > deadline:
                raise AssertionError(f"the jobs did not all end: {jobs}")
            time.sleep(0.5)

    def test_two_servers_share_the_mailbox_jobs(self):
        started = time.monotonic()
        deadline = started + DEADLINE
        ports = [free_port(), free_port()]
        balancer = RoundRobinBalancer([("127.0.0.1", port) for port in ports])
        balancer.start()
        self.addCleanup(balancer.stop)
        ready = os.path.join(self.workdir, "servers-ready")
        setup = self.start(
            SETUP,
            logins=LOGINS,
            correspondents={login: correspondent(login) for login in LOGINS},
            servers_ready=ready,
        )
        servers = [
            self.start_server(name, port, balancer.port)
            for name, port in zip(("server_a", "server_b"), ports, strict=True)
        ]
        for port in ports:
            self.wait_until_answering(port, deadline)
        with open(ready, "w", encoding="utf-8"):
            pass
        results, _log = setup.finish()
        self.assertEqual(results["queued"], len(LOGINS), "one job per mailbox")

        jobs = self.wait_for_jobs(deadline)
        elapsed = time.monotonic() - started
        for server, _log in servers:  # both at once: no runner takes over
            server.send_signal(signal.SIGTERM)
        logs = []
        for server, log in servers:
            self.stop_server(server)
            with open(log, encoding="utf-8", errors="replace") as handle:
                logs.append(handle.read())
        _logger.info("two servers ran %s mailbox jobs in %.1f s", len(jobs), elapsed)

        self.assertEqual({state for state, *_rest in jobs}, {"done"}, jobs)
        for _state, _pid, result in jobs:
            self.assertTrue(
                result.startswith(f"Synced: {MESSAGES_EACH} emails"), result
            )
        # The balancer handed jobs to both servers, and they ran them.
        self.assertEqual(
            {int(pid) for _state, pid, *_rest in jobs},
            {server.pid for server, _log in servers},
        )
        # One runner dispatched them all; the other waited for its turn.
        dispatched = [log.count("asking Odoo to run job") for log in logs]
        self.assertEqual(sorted(dispatched), [0, len(LOGINS)], dispatched)
        # Each mailbox's mail on its lead, exactly once.
        chatter = self.db.sql(
            """SELECT lead.email_from, count(message.id),
                      count(DISTINCT message.message_id)
                 FROM crm_lead lead
                 LEFT JOIN mail_message message
                   ON message.model = 'crm.lead' AND message.res_id = lead.id
                  AND message.subtype_id = (
                      SELECT res_id FROM ir_model_data
                       WHERE module = 'mail_sync_crm' AND name = 'mt_synced_email')
                WHERE lead.email_from LIKE 'buyer.%'
                GROUP BY lead.email_from ORDER BY lead.email_from"""
        )
        self.assertEqual(
            chatter,
            [
                [correspondent(login), str(MESSAGES_EACH), str(MESSAGES_EACH)]
                for login in sorted(LOGINS)
            ],
        )
        for log in logs:
            self.assertNotRegex(log, r" (ERROR|CRITICAL) |Traceback", log[-5000:])
