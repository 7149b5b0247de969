"""What a benchmark prints and keeps: lines on stdout (flushed, so that a
long run shows its progress), a table of (label, value) rows, targets met or
missed, the JSON results."""

import json
import os
import sys


def out(text=""):
    sys.stdout.write(f"{text}\n")
    sys.stdout.flush()


def print_rows(rows):
    """(label, value) rows, the values aligned, between blank lines."""
    width = max(len(label) for label, _value in rows)
    out()
    for label, value in rows:
        out(f"{label:<{width}}  {value}")
    out()


def verdicts(measured, targets):
    """Each measured value against its target (an upper bound)."""
    return {
        key: {"measured": value, "target": targets[key], "met": value <= targets[key]}
        for key, value in measured.items()
    }


def print_verdicts(results_verdicts):
    out("targets:")
    for key, verdict in results_verdicts.items():
        mark = "ok  " if verdict["met"] else "MISS"
        out(f"  {mark} {key}: {verdict['measured']} (target <= {verdict['target']})")


def write_json(path, results, indent=1):
    """``results`` as JSON in ``path`` (its folder made when missing)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        json.dump(results, fh, indent=indent)
