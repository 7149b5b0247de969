"""A TCP load balancer for tests: what HAProxy or nginx does in front of several
Odoo servers, round robin, without latency.

Each new connection goes to the next server in turn; the bytes pass through
untouched. ``connections`` counts the connections each server was given.

Usage::

    with RoundRobinBalancer([("127.0.0.1", 8301), ("127.0.0.1", 8302)]) as lb:
        requests.get(f"http://127.0.0.1:{lb.port}/web/health", timeout=5)
"""

import collections
import itertools
import threading

from ._common import LOOPBACK
from .proxy import LatencyProxy

__all__ = ["RoundRobinBalancer"]


class RoundRobinBalancer(LatencyProxy):
    def __init__(self, targets, host=LOOPBACK):
        """``targets``: the (host, port) of each server, taken in this order."""
        targets = [tuple(target) for target in targets]
        if not targets:
            raise ValueError("a balancer needs at least one server")
        super().__init__(*targets[0], delay=0, host=host)
        self.targets = targets
        self.connections = collections.Counter()
        self._turns = itertools.cycle(targets)
        self._lock = threading.Lock()

    def _upstream(self):
        with self._lock:
            target = next(self._turns)
            self.connections[target] += 1
        return target
