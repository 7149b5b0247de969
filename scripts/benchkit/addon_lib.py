"""The addon's ``lib`` package as a top-level package, and the test harness
``mail_sync_testing`` (at the repository root), without Odoo: what the benchmarks'
child processes (servers, the mailbox filling) use."""

import os
import sys

from .odoo_db import ROOT

ADDON_DIR = os.path.join(ROOT, "mail_sync_crm")


def _on_path():
    for path in (ROOT, ADDON_DIR):
        if path not in sys.path:
            sys.path.insert(0, path)


def import_lib():
    """``lib`` with ``lib.message.headers`` loaded."""
    _on_path()
    import lib.message.headers

    return lib


def import_testing():
    """The test harness package ``mail_sync_testing``."""
    _on_path()
    import mail_sync_testing

    return mail_sync_testing
