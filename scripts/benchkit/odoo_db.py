"""A benchmark's Odoo: installing the addon in its database, Odoo's configuration
in the benchmark's own process, its registry, VACUUM."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONF = os.path.join(ROOT, ".run", "test.conf")
RESULTS_DIR = os.path.join(ROOT, "bench-results")


def _install_command(database, install_log):
    command = (
        "source scripts/lib.sh; "
        f"install_or_update {CONF} {database} {install_log} --without-demo=all"
    )
    env = {**os.environ, "ODOO_SRC": os.environ.get("ODOO_SRC", "/opt/odoo18")}
    return ["bash", "-c", command], env


def install(database, install_log):
    """Install or update mail_sync_crm in ``database`` (scripts/lib.sh)."""
    command, env = _install_command(database, install_log)
    subprocess.run(command, cwd=ROOT, env=env, check=True)


def start_install(database, install_log):
    """The same in the background: the ``Popen`` (its output in ``stdout``)."""
    command, env = _install_command(database, install_log)
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def configure_odoo(database, odoo_log, log_level="warn"):
    """Odoo's configuration for ``database``, logging to ``odoo_log``, and its
    addons path; the repository root on ``sys.path`` for the test harness
    (``mail_sync_testing``)."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from odoo.modules.module import initialize_sys_path
    from odoo.tools import config

    config.parse_config(
        [
            "-c",
            CONF,
            "-d",
            database,
            f"--logfile={odoo_log}",
            f"--log-level={log_level}",
        ],
        setup_logging=True,
    )
    initialize_sys_path()


def open_registry(database):
    import odoo

    return odoo.modules.registry.Registry(database)


def vacuum(registry, *tables):
    """VACUUM ANALYZE ``tables`` (outside a transaction, as VACUUM must be)."""
    from odoo.tools import SQL

    with registry.cursor() as cr:
        cr._cnx.autocommit = True
        try:
            cr.execute(
                SQL(
                    "VACUUM ANALYZE %s",
                    SQL(", ").join(SQL.identifier(table) for table in tables),
                )
            )
        finally:
            cr._cnx.autocommit = False
