"""Plain-pytest configuration for the ``lib/`` tests (no Odoo needed).

The addon directory goes on ``sys.path`` so the tests import ``lib`` as a top-level
package; inside ``lib`` every import is relative, so the same code also loads as
``odoo.addons.mail_sync_crm.lib`` under Odoo. The test harness, ``mail_sync_testing``,
is a package at the repository root (``pythonpath = .`` in ``pytest.ini``).
"""

import os
import sys

ADDON_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ADDON_DIR not in sys.path:
    sys.path.insert(0, ADDON_DIR)

import pytest


def _is_in_addon(path):
    return any((p / "__manifest__.py").is_file() for p in (path, *path.parents))


def _patch_package_setup():
    """Do not import the addon's ``__init__.py`` while setting up test packages.

    pytest's Package.setup() imports each package ``__init__.py`` (looking for
    setUpModule). Here that is ``mail_sync_crm/__init__.py`` imported as plain
    ``mail_sync_crm``, whose Odoo models then fail ("should start with
    'odoo.addons'") and every lib test errors. The addon and its sub-packages
    define no setUpModule, so skipping that import loses nothing.
    """
    original = pytest.Package.setup
    if getattr(original, "_skips_addon_init", False):
        return

    def setup(self):
        if not _is_in_addon(self.path):
            original(self)

    setup._skips_addon_init = True
    pytest.Package.setup = setup


_patch_package_setup()


# pytest-odoo (installed in the venv) adds autouse fixtures that build an Odoo
# registry, failing with "Missing database name" when no Odoo config is given.
# The lib tests need no Odoo: these same-named fixtures override the plugin's
# for the tests below this directory only.
@pytest.fixture(scope="session")
def load_registry():
    yield


@pytest.fixture(scope="module")
def enable_odoo_test_flag():
    yield


@pytest.fixture
def dovecot():
    """A fresh Dovecot (STARTTLS ``port``, TLS ``ssl_port``), user alice/secret."""
    from mail_sync_testing import DovecotServer

    with DovecotServer() as server:
        server.add_user("alice", "secret")
        yield server


@pytest.fixture
def smtp_server():
    """A fresh recording SMTP server (STARTTLS/TLS/plain ports), user alice/secret."""
    from mail_sync_testing import SmtpServer

    with SmtpServer() as server:
        server.add_user("alice", "secret")
        yield server


OAUTH_USER = "alice@example.com"


@pytest.fixture
def oauth_server():
    """A local authorization server consenting as alice@example.com."""
    from mail_sync_testing import OAuthServer

    with OAuthServer(OAUTH_USER) as server:
        yield server


@pytest.fixture
def oauth_dovecot(oauth_server):
    """Dovecot validating XOAUTH2/OAUTHBEARER tokens at ``oauth_server``;
    alice@example.com's mailbox (also reachable with the password "secret" to
    fill it) and the password-only user bob/secret."""
    from mail_sync_testing import DovecotServer

    with DovecotServer(oauth=oauth_server) as server:
        server.add_user(OAUTH_USER, "secret")
        server.add_user("bob", "secret")
        yield server


@pytest.fixture
def oauth_smtp(oauth_server):
    """The recording SMTP server also taking AUTH XOAUTH2 checked at
    ``oauth_server``; password user bob/secret."""
    from mail_sync_testing import SmtpServer

    with SmtpServer(oauth=oauth_server) as server:
        server.add_user("bob", "secret")
        yield server
