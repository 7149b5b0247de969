"""What the Odoo benchmarks share: installing the addon in their database and
loading Odoo's configuration in the benchmark's own process."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONF = os.path.join(ROOT, ".run", "test.conf")


def install(database, install_log):
    """Install or update mail_sync_crm in ``database`` (scripts/lib.sh)."""
    command = (
        "source scripts/lib.sh; "
        f"install_or_update {CONF} {database} {install_log} --without-demo=all"
    )
    env = {**os.environ, "ODOO_SRC": os.environ.get("ODOO_SRC", "/opt/odoo18")}
    subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, check=True)


def configure_odoo(database, odoo_log):
    """Odoo's configuration for ``database``, logging warnings to ``odoo_log``; the
    repository root on ``sys.path`` for the test harness (``mail_sync_testing``)."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from odoo.modules.module import initialize_sys_path
    from odoo.tools import config

    config.parse_config(
        ["-c", CONF, "-d", database, f"--logfile={odoo_log}", "--log-level=warn"],
        setup_logging=True,
    )
    initialize_sys_path()
