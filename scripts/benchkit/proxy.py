"""The latency proxy (``mail_sync_testing.LatencyProxy``) in a child process, its event
loop apart from the measured process's interpreter lock."""

import contextlib
import statistics
import time

from .addon_lib import import_testing


def serve(host, port, delay, conn):
    """Child process: a LatencyProxy to host:port; answers "stats" and "stop"."""
    with import_testing().LatencyProxy(host, port, delay=delay) as proxy:
        conn.send(proxy.port)
        while True:
            command = conn.recv()
            conn.send((proxy.bytes_up, proxy.bytes_down, proxy.connection_count))
            if command == "stop":
                return


class Proxy:
    """A LatencyProxy in a child process of ``context`` (a multiprocessing
    context) to host:port, each direction delayed by ``delay`` seconds."""

    def __init__(self, context, host, port, delay):
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=serve, args=(host, port, delay, child), daemon=True
        )
        self.process.start()
        if not self.conn.poll(30):
            raise RuntimeError("the latency proxy did not start")
        self.port = self.conn.recv()

    def stats(self):
        self.conn.send("stats")
        up, down, connections = self.conn.recv()
        return {"bytes_up": up, "bytes_down": down, "connections": connections}

    def stop(self):
        if self.process.is_alive():
            with contextlib.suppress(OSError, EOFError):
                self.conn.send("stop")
                self.conn.recv()
            self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def measure_rtt(settings, n=10):
    """Median seconds of a NOOP round trip through ``settings``' host/port."""
    from odoo.addons.mail_sync_crm.lib.imap.session import ImapSession

    times = []
    with ImapSession(settings) as session:
        for _i in range(n):
            started = time.perf_counter()
            session.client.noop()
            times.append(time.perf_counter() - started)
    return statistics.median(times)
