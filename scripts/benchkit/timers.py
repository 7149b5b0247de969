"""Measuring: this process's memory peak, the garbage collector's time, the
exclusive time per category of wrapped functions, the time per phase."""

import functools
import gc
import os
import sys
import threading
import time
from collections import Counter, defaultdict


def memory_kb():
    """(VmRSS, VmHWM) of this process in KiB."""
    values = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


def reset_peak_memory():
    """Reset VmHWM to the current RSS (Linux >= 4.0); False when not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


class GcTimer:
    """Time spent in the cyclic garbage collector, per generation."""

    def __init__(self):
        self.seconds = Counter()
        self.collections = Counter()
        self.full_by_thread = Counter()
        self._started = None

    def __enter__(self):
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc_info):
        gc.callbacks.remove(self._callback)

    def _callback(self, phase, info):
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started is not None:
            generation = info["generation"]
            self.seconds[generation] += time.perf_counter() - self._started
            self.collections[generation] += 1
            if generation == 2:
                self.full_by_thread[threading.current_thread().name] += 1
            self._started = None


class InstrumentationGone(RuntimeError):
    """A function the benchmark times (or replaces) no longer exists where it
    looks for it: the product changed; update the benchmark, never skip."""

    def __init__(self, owner, name):
        where = getattr(owner, "__qualname__", None) or owner
        super().__init__(
            f"{os.path.basename(sys.argv[0])}: {where}.{name} is gone; "
            "the benchmark must be updated "
            "to instrument what replaced it"
        )


class Timings:
    """Exclusive wall and CPU time per category of the wrapped functions (a nested
    wrapped call is charged to its own category, not to its caller's). Calls made
    by other threads than the main one (the sync's header prefetch) are charged
    to "[background] <category>": they overlap the main thread's work."""

    def __init__(self):
        self.wall = defaultdict(float)
        self.cpu = defaultdict(float)
        self.calls = Counter()
        self._local = threading.local()
        self._patches = []

    def _wrap(self, category, func):
        timings = self
        background = "[background] " + category

        @functools.wraps(func)
        def timed(*args, **kwargs):
            stack = getattr(timings._local, "stack", None)
            if stack is None:
                stack = timings._local.stack = []
            children = [0.0, 0.0]
            stack.append(children)
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return func(*args, **kwargs)
            finally:
                wall = time.perf_counter() - wall
                cpu = time.thread_time() - cpu
                stack.pop()
                name = (
                    category
                    if threading.current_thread() is threading.main_thread()
                    else background
                )
                timings.wall[name] += wall - children[0]
                timings.cpu[name] += cpu - children[1]
                timings.calls[name] += 1
                if stack:
                    stack[-1][0] += wall
                    stack[-1][1] += cpu

        return timed

    def patch(self, owner, name, category):
        original = owner.__dict__.get(name)
        if original is None:
            raise InstrumentationGone(owner, name)
        self._patches.append((owner, name, original))
        setattr(owner, name, self._wrap(category, original))

    def restore(self):
        while self._patches:
            owner, name, original = self._patches.pop()
            setattr(owner, name, original)


class CallTimes:
    """Wall time and calls of the functions ``owners`` names ((owner, name)
    pairs, each replaced by a timed wrapper while the context is open)."""

    def __init__(self, owners):
        self.owners = list(owners)
        self.seconds = dict.fromkeys([name for _owner, name in self.owners], 0.0)
        self.calls = dict.fromkeys(self.seconds, 0)
        self.originals = []

    def __enter__(self):
        for owner, name in self.owners:
            original = getattr(owner, name)
            self.originals.append((owner, name, original))
            setattr(owner, name, self._timed(name, original))
        return self

    def __exit__(self, *exc_info):
        for owner, name, original in self.originals:
            setattr(owner, name, original)

    def _timed(self, name, original):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - started
                self.calls[name] += 1

        return timed
