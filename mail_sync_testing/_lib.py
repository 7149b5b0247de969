"""The addon's ``lib`` as the process already loaded it.

The harness lives outside the addon and uses a few of lib's classes (the host
policy of its sessions, the server settings, the IMAP session of the benchmark
floor). Under Odoo, lib is ``odoo.addons.mail_sync_crm.lib``; in the plain lib
tests and the scripts that put ``mail_sync_crm/`` on ``sys.path``, it is
``lib``. Importing the other name would load a second copy of every class, and
the sessions' checks of what they are given would fail; so this takes the one
already loaded (Odoo's first), and ``lib`` when neither is.
"""

import importlib
import sys

PACKAGES = ("odoo.addons.mail_sync_crm.lib", "lib")


def lib_module(name):
    """lib's module ``name`` (e.g. ``"net.host_policy"``), from the loaded lib."""
    for package in PACKAGES:
        if package in sys.modules:
            return importlib.import_module(f"{package}.{name}")
    return importlib.import_module(f"lib.{name}")
