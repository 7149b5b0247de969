"""Run a command under a tiny supervisor that leaves no process behind.

Usage (as a script, stdlib only)::

    python -I -S _reaper.py [--rmdir DIR] COMMAND [ARGS...]

started in its own session (``start_new_session=True``).

Why: Dovecot forks helper processes (log, auth, imap, ...). Killing its process
group orphans them; where PID 1 does not reap orphans (containers without an
init, some VMs) they stay as zombies forever, and a graceful SIGTERM takes over
a second and still leaves some behind. This supervisor makes itself a "child
subreaper" (Linux prctl), so every orphan is re-parented to it and reaped here.

It stops (SIGKILL to every other process of its process group, then reaps them
all) when it receives SIGTERM/SIGINT/SIGHUP, when its parent dies (e.g. a test
run killed with SIGKILL, so atexit handlers never ran), or when COMMAND exits.
Its exit code is COMMAND's when COMMAND exited by itself, else 0. With
``--rmdir DIR`` it also removes DIR when its parent died (nobody else will).
"""

import contextlib
import ctypes
import os
import shutil
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
PARENT_POLL_SECONDS = 0.5


def _group_members(pgid, exclude):
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == exclude:
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid:
            pids.append(int(entry))
    return pids


def _reap_nowait(main_pid):
    """Reap every exited child; return the main child's exit code if reaped."""
    rc = None
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return rc
        if pid == 0:
            return rc
        if pid == main_pid:
            rc = os.waitstatus_to_exitcode(status)


def _kill_and_reap_all():
    me, pgid = os.getpid(), os.getpgrp()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for pid in _group_members(pgid, exclude=me):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        try:
            os.waitpid(-1, 0)  # orphans are re-parented to us (subreaper)
        except ChildProcessError:
            return


def main(argv):
    rmdir = None
    if argv[:1] == ["--rmdir"] and len(argv) > 1:
        rmdir, argv = argv[1], argv[2:]
    if not argv:
        sys.stderr.write("usage: _reaper.py [--rmdir DIR] COMMAND [ARGS...]\n")
        return 2
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    waited = STOP_SIGNALS | {signal.SIGCHLD}
    signal.pthread_sigmask(signal.SIG_BLOCK, waited)
    try:
        # posix_spawn with an empty mask: the command must not inherit ours.
        main_pid = os.posix_spawnp(
            argv[0],
            argv,
            os.environ,
            setsigmask=(),
            setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
        )
    except OSError as exc:
        sys.stderr.write(f"_reaper: cannot run {argv[0]}: {exc}\n")
        return 127
    rc = None
    while True:
        rc = _reap_nowait(main_pid)
        if rc is not None or os.getppid() != parent:
            break
        info = signal.sigtimedwait(waited, PARENT_POLL_SECONDS)
        if info is not None and info.si_signo in STOP_SIGNALS:
            break
    _kill_and_reap_all()
    if rmdir and os.getppid() != parent:
        shutil.rmtree(rmdir, ignore_errors=True)
    return rc if rc is not None else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
