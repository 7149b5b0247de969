"""The header fields of a folder's next batch, fetched while this batch is
recorded (see :func:`lib.sync.engine.sync_folder`)."""

from concurrent.futures import ThreadPoolExecutor

__all__ = ["NextBatchHeaders"]


class NextBatchHeaders:
    """``headers_of(n)``: the headers of batch ``n``. With ``enabled``, batch n+1
    is fetched in a background thread from ``start_next()`` (called once batch
    n no longer needs the session) until ``headers_of(n + 1)`` waits for it.
    Leaving the ``with`` block waits for a fetch still running, so the session
    is free again whatever happened."""

    def __init__(self, session, batches, enabled):
        self.session = session
        self.batches = batches
        self.enabled = enabled and len(batches) > 1
        self.executor = None
        self.pending = {}  # batch number -> Future
        self.current = -1

    def __enter__(self):
        if self.enabled:
            self.executor = ThreadPoolExecutor(1, thread_name_prefix="mail-sync-imap")
        return self

    def __exit__(self, *exc_info):
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)
        self.pending.clear()

    def __call__(self, number):
        self.current = number
        future = self.pending.pop(number, None)
        if future is not None:
            return future.result()  # a failure of the connection raises here
        return self.session.fetch_headers(self.batches[number], quick=True)

    def start_next(self):
        following = self.current + 1
        if (
            self.executor is not None
            and following < len(self.batches)
            and following not in self.pending
        ):
            self.pending[following] = self.executor.submit(
                self.session.fetch_headers, self.batches[following], quick=True
            )
