#!/usr/bin/env python3
"""``make bench``: run the project's benchmarks one after the other.

* ``scripts/bench_sync.py``: historical and incremental mailbox sync
  (results in ``bench-results/sync.json``);
* ``scripts/bench_smart_mail.py``, when present: sending through the owner's SMTP.

Each runs with its default (full-size) arguments; the exit code is non-zero when
any of them failed or missed a target.
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BENCHMARKS = ("bench_sync.py", "bench_smart_mail.py")


def main():
    worst = 0
    for name in BENCHMARKS:
        path = os.path.join(HERE, name)
        if not os.path.exists(path):
            continue
        sys.stdout.write(f"== {name}\n")
        sys.stdout.flush()
        returncode = subprocess.call([sys.executable, path], cwd=os.path.dirname(HERE))
        if returncode:
            sys.stdout.write(f"== {name} exited with {returncode}\n")
        worst = max(worst, returncode)
    return worst


if __name__ == "__main__":
    sys.exit(main())
