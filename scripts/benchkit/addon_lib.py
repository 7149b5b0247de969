"""The addon's ``lib`` package as a top-level package, without Odoo: what the
benchmarks' child processes (servers, the mailbox filling) use."""

import os
import sys

from .odoo_db import ROOT

ADDON_DIR = os.path.join(ROOT, "mail_sync_crm")


def import_lib():
    """``lib`` with ``lib.parser`` and ``lib.testing`` loaded."""
    if ADDON_DIR not in sys.path:
        sys.path.insert(0, ADDON_DIR)
    import lib.parser
    import lib.testing

    return lib
