"""Process-wide settings for long sync runs.

A historical sync allocates a lot and overlaps two threads (the header prefetch
and the store), which the interpreter's defaults serve badly. :func:`long_run`
changes two settings of the *whole process* for as long as a long run lasts,
HTTP threads of a threaded Odoo server included, and restores them when the
last overlapping long run ends:

* the objects that exist when it starts (in an Odoo process: the registry,
  caches...) are left out of the garbage collector's full passes
  (``gc.freeze``): a historical sync allocates enough to trigger a dozen full
  collections, each of which would walk that whole heap;
* a thread waiting for the GIL gets it after ``LONG_RUN_SWITCH_INTERVAL``
  (0.5 ms) instead of 5 ms: the store waited about 2 ms for the GIL after each
  SQL statement while the prefetch thread parsed headers.

Only the scheduled sync asks for it: a run enters it once around all its turns
(``mail.sync.scheduler._give_turns``), and the engine around a history or a
run of more than one batch (inside a run, that entry changes nothing); an
interactive Sync Now leaves the process as it is.

Enter it around the longest stretch of work, not around each of its steps:
a freeze also takes the garbage alive at that moment (cycles not collected
yet) out of the collector's reach until the last overlapping long run ends.
Entered turn by turn, each turn froze what the turns before it left (issue
#23: the environments of their notifications), and a run of thousands of
first syncs slowed down turn after turn.
"""

import contextlib
import gc
import sys
import threading

LONG_RUN_SWITCH_INTERVAL = 0.0005
_long_runs = {"count": 0, "interval": None}
_long_runs_lock = threading.Lock()


@contextlib.contextmanager
def long_run():
    """Tune the process for a long run; runs may overlap (threaded server)."""
    with _long_runs_lock:
        if not _long_runs["count"]:
            _long_runs["interval"] = sys.getswitchinterval()
            sys.setswitchinterval(min(LONG_RUN_SWITCH_INTERVAL, _long_runs["interval"]))
            gc.freeze()
        _long_runs["count"] += 1
    try:
        yield
    finally:
        with _long_runs_lock:
            _long_runs["count"] -= 1
            if not _long_runs["count"]:
                gc.unfreeze()
                sys.setswitchinterval(_long_runs["interval"])
