"""``make run`` rebuilds a demo database that outlived its encryption key (a
``make clean``, another checkout): ``scripts/lib.sh`` ``db_outlived_its_key``
against a real PostgreSQL database shaped as Odoo's (the module's state, the
key's fingerprint) and a real data directory."""

import pathlib
import subprocess
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
FINGERPRINT = "mail_sync_crm.secret_key_fingerprint"


def psql(db, sql):
    subprocess.run(["psql", "-XqAt", "-d", db, "-c", sql], check=True)


@pytest.fixture
def database():
    name = f"mail_sync_run_{uuid.uuid4().hex[:10]}"
    if subprocess.run(["createdb", name], check=False, capture_output=True).returncode:
        pytest.fail(
            "PostgreSQL is needed (scripts/setup.sh starts it): createdb failed"
        )
    try:
        psql(name, "CREATE TABLE ir_module_module (name varchar, state varchar)")
        psql(name, "CREATE TABLE ir_config_parameter (key varchar, value varchar)")
        psql(name, "INSERT INTO ir_module_module VALUES ('mail_sync_crm', 'installed')")
        yield name
    finally:
        subprocess.run(["dropdb", name], check=True)


def outlived(conf, db, env=None):
    script = f'source "{ROOT}/scripts/lib.sh"; db_outlived_its_key "$1" "$2"'
    return (
        subprocess.run(
            ["bash", "-c", script, "test", str(conf), db],
            env={"PATH": "/usr/bin:/bin", **(env or {})},
            check=False,
        ).returncode
        == 0
    )


def test_a_database_whose_key_is_gone_is_rebuilt(tmp_path, database):
    conf = tmp_path / "dev.conf"
    conf.write_text(f"[options]\ndata_dir = {tmp_path / 'data'}\n")
    # no secret stored yet: nothing to lose, nothing to rebuild
    assert not outlived(conf, database)
    psql(database, f"INSERT INTO ir_config_parameter VALUES ('{FINGERPRINT}', 'ab')")
    # secrets stored, and this checkout has no key for them
    assert outlived(conf, database)
    # the key given by the environment, or its file in the data directory
    assert not outlived(conf, database, {"MAIL_SYNC_CRM_KEY": "k"})
    key = tmp_path / "data" / "mail_sync_crm" / f"{database}.key"
    key.parent.mkdir(parents=True)
    key.write_text("k")
    assert not outlived(conf, database)


def test_a_missing_database_is_simply_made(tmp_path):
    conf = tmp_path / "dev.conf"
    conf.write_text(f"[options]\ndata_dir = {tmp_path}\n")
    assert not outlived(conf, f"mail_sync_absent_{uuid.uuid4().hex[:8]}")
