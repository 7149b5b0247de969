"""A TCP proxy adding latency (and optionally a bandwidth cap), for benchmarks.

Each chunk is forwarded `delay` seconds after it arrived, pipelined: a burst in
one direction costs `delay` once, so every request/response turn costs about
2 x delay (the round-trip time). TLS passes through untouched.

`drip` (seconds, settable while connections are open) turns the server side
into a server that never times a client out but never gets anywhere either:
everything it sends is forwarded one byte at a time, `drip` seconds apart.

Usage::

    with LatencyProxy(server.host, server.port, delay=0.01) as proxy:
        client = IMAPClient("127.0.0.1", port=proxy.port, ssl=False)
"""

import asyncio
import threading
import time

from ._common import LOOPBACK
from ._server import TestServer

__all__ = ["LatencyProxy"]

CHUNK = 64 * 1024


class LatencyProxy(TestServer):
    def __init__(
        self,
        target_host,
        target_port,
        delay=0.02,
        bandwidth=None,
        host=LOOPBACK,
        drip=None,
    ):
        """`delay`: one-way seconds per chunk; `bandwidth`: bytes/s or None;
        `drip`: seconds between the bytes the server sends, or None."""
        super().__init__()
        self.target_host = target_host
        self.target_port = target_port
        self.delay = delay
        self.bandwidth = bandwidth
        self.drip = drip
        self.host = host
        self.port = None
        self.connection_count = 0
        self.bytes_up = 0  # client -> target
        self.bytes_down = 0  # target -> client
        self._loop = None
        self._server = None
        self._thread = None
        self._tasks = set()
        self._writers = set()

    @property
    def started(self):
        return self._thread is not None

    def _start(self):
        ready = threading.Event()
        errors = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._run, args=(ready, errors), name="LatencyProxy", daemon=True
        )
        self._thread.start()
        ready.wait(10)
        if errors or self.port is None:
            raise RuntimeError(f"LatencyProxy failed to start: {errors!r}")

    def _run(self, ready, errors):
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._handle, self.host, 0)
            )
            self.port = self._server.sockets[0].getsockname()[1]
        except OSError as exc:  # reported by start()
            errors.append(exc)
            ready.set()
            return
        ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._shutdown())
            self._loop.close()

    async def _shutdown(self):
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def _stop(self):
        """Close the listener and every proxied connection."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        thread.join(10)

    async def _handle(self, client_reader, client_writer):
        task = asyncio.current_task()
        self._tasks.add(task)
        self._writers.add(client_writer)
        self.connection_count += 1
        upstream_writer = None
        try:
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection(
                    *self._upstream()
                )
            except OSError:
                return
            self._writers.add(upstream_writer)
            await asyncio.gather(
                self._pipe(client_reader, upstream_writer, "bytes_up"),
                self._pipe(upstream_reader, client_writer, "bytes_down"),
            )
        except asyncio.CancelledError:  # pylint: disable=except-pass
            # stop(): end quietly (asyncio logs a cancelled connection callback).
            pass
        finally:
            for writer in (client_writer, upstream_writer):
                if writer is not None:
                    writer.close()
                    self._writers.discard(writer)
            self._tasks.discard(task)

    def _upstream(self):
        """(host, port) a new connection is forwarded to."""
        return self.target_host, self.target_port

    async def _drip(self, writer, data):
        for index in range(len(data)):
            writer.write(data[index : index + 1])
            await writer.drain()
            await asyncio.sleep(self.drip or 0)

    async def _pipe(self, reader, writer, counter):
        queue = asyncio.Queue()

        async def read():
            try:
                while True:
                    data = await reader.read(CHUNK)
                    queue.put_nowait((time.monotonic() + self.delay, data))
                    if not data:
                        return
            except (ConnectionError, OSError):
                queue.put_nowait((time.monotonic(), b""))

        reading = asyncio.ensure_future(read())
        next_free = 0.0
        try:
            while True:
                deliver_at, data = await queue.get()
                when = max(deliver_at, next_free)
                wait = when - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    if writer.can_write_eof() and not writer.is_closing():
                        writer.write_eof()
                    return
                if self.drip and counter == "bytes_down":
                    await self._drip(writer, data)
                else:
                    writer.write(data)
                    await writer.drain()
                setattr(self, counter, getattr(self, counter) + len(data))
                if self.bandwidth:
                    next_free = when + len(data) / self.bandwidth
        except (ConnectionError, OSError):
            writer.close()
        finally:
            reading.cancel()
