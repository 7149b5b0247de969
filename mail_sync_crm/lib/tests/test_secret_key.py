"""Tests of lib.secret_key: key files made once, atomically, never half-written."""

import multiprocessing
import os
import stat

import pytest
from lib.secrets import secret_key
from lib.secrets.crypto import SecretKeyError, generate_key


def test_fingerprint_tells_keys_apart_without_revealing_them():
    key, other = generate_key(), generate_key()
    assert secret_key.fingerprint(key) == secret_key.fingerprint(key.encode())
    assert secret_key.fingerprint(key) == secret_key.fingerprint(f"  {key}\n")
    assert secret_key.fingerprint(key) != secret_key.fingerprint(other)
    assert secret_key.fingerprint(key) not in key
    with pytest.raises(SecretKeyError):
        secret_key.fingerprint("not a key")


def test_key_path_is_per_database_beside_the_filestore(tmp_path):
    path = secret_key.key_path(str(tmp_path), "prod-db_1.x")
    assert path == str(tmp_path / "mail_sync_crm" / "prod-db_1.x.key")
    for name in ("../etc", "a/b", "", ".hidden"):
        with pytest.raises(secret_key.KeyFileError):
            secret_key.key_path(str(tmp_path), name)


def test_create_keeps_the_first_key_private(tmp_path):
    path = secret_key.key_path(str(tmp_path), "db")
    assert secret_key.read_key_file(path) is None
    key = generate_key()
    assert secret_key.create_key_file(path, key) == key
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    assert secret_key.create_key_file(path, generate_key()) == key, "first one wins"
    assert secret_key.read_key_file(path) == key
    assert os.listdir(os.path.dirname(path)) == ["db.key"], "no temporary left"


def _create(path, queue):
    queue.put(secret_key.create_key_file(path, generate_key()))


def test_processes_racing_end_with_one_key(tmp_path):
    path = secret_key.key_path(str(tmp_path), "db")
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    processes = [context.Process(target=_create, args=(path, queue)) for _ in range(8)]
    for process in processes:
        process.start()
    keys = {queue.get(timeout=60) for _ in processes}
    for process in processes:
        process.join()
    assert keys == {secret_key.read_key_file(path)}
    assert os.listdir(os.path.dirname(path)) == ["db.key"]


def test_unwritable_place_says_where_and_why(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    path = secret_key.key_path(str(blocker), "db")
    key = generate_key()
    with pytest.raises(secret_key.KeyFileError) as caught:
        secret_key.create_key_file(path, key)
    assert path in str(caught.value)
    assert key not in str(caught.value)


def test_damaged_key_file_is_an_error_not_a_key(tmp_path):
    path = secret_key.key_path(str(tmp_path), "db")
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as handle:
        handle.write("")
    with pytest.raises(secret_key.KeyFileError, match="does not hold a key"):
        secret_key.read_key_file(path)


def test_staged_key_replaces_the_key_once(tmp_path):
    path = secret_key.key_path(str(tmp_path), "db")
    old, new = generate_key(), generate_key()
    secret_key.create_key_file(path, old)
    staged = secret_key.stage_key_file(path, new)
    assert staged == path + ".new"
    assert secret_key.read_key_file(path) == old, "not in place before install"
    retired = path + ".retired-x"
    assert secret_key.install_staged_key(path, retired)
    assert secret_key.read_key_file(path) == new
    assert secret_key.read_key_file(retired) == old
    # A second installer (another process) finds nothing staged: nothing moves.
    assert not secret_key.install_staged_key(path, path + ".retired-y")
    assert secret_key.read_key_file(path) == new
    assert sorted(os.listdir(os.path.dirname(path))) == ["db.key", "db.key.retired-x"]
