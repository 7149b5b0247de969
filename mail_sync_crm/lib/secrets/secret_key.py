"""Where the key of the mailbox secrets lives, and how it is made once.

Plain Python, no Odoo import: reading, checking, fingerprinting and writing key
files. The Odoo layer (``models/mail_sync_secret_key.py``) decides the order
of the sources and holds the database-wide lock around :func:`create_key_file`.

A key file holds one Fernet key (one ASCII line), mode 0600, in a directory of
mode 0700. It is created atomically and exclusively: the key is written and
synced to a temporary file of its own, then hard-linked to its final name,
which fails when another process got there first (whose key then wins). A key
file is thus never seen half-written, and two processes never keep two keys.
"""

import contextlib
import errno
import hashlib
import hmac
import os
import re
import secrets

from . import crypto

__all__ = [
    "CONFIG_OPTION",
    "ENV_VAR",
    "KeyFileError",
    "create_key_file",
    "fingerprint",
    "install_staged_key",
    "key_path",
    "normalize",
    "read_key_file",
    "stage_key_file",
]

ENV_VAR = "MAIL_SYNC_CRM_KEY"
CONFIG_OPTION = "mail_sync_crm_key"
KEY_DIR = "mail_sync_crm"
STAGED_SUFFIX = ".new"
_FINGERPRINT_LABEL = b"mail_sync_crm secret key fingerprint v1"
_DBNAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class KeyFileError(Exception):
    """A key file cannot be read, written or parsed (the text says which file
    and why; it never holds a key)."""


def normalize(key: str | bytes) -> str:
    """``key`` as text, checked to be a Fernet key (raises
    :class:`crypto.SecretKeyError` otherwise)."""
    if isinstance(key, bytes):
        key = key.decode("ascii", "replace")
    key = (key or "").strip()
    crypto.check_key(key)
    return key


def fingerprint(key: str | bytes) -> str:
    """A short digest that tells keys apart without revealing them (an HMAC of
    a fixed label under the key): safe to store beside the secrets."""
    digest = hmac.new(
        normalize(key).encode("ascii"), _FINGERPRINT_LABEL, hashlib.sha256
    )
    return digest.hexdigest()[:16]


def key_path(data_dir: str, dbname: str) -> str:
    """``<data_dir>/mail_sync_crm/<dbname>.key``: beside Odoo's filestore (which
    every server of a deployment shares), outside the database and its backups."""
    if not _DBNAME.match(dbname or ""):
        raise KeyFileError(f"unexpected database name {dbname!r} for a key file")
    return os.path.join(data_dir, KEY_DIR, f"{dbname}.key")


def read_key_file(path: str) -> str | None:
    """The key in ``path``, or None when there is no such file."""
    try:
        with open(path, encoding="ascii") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeError) as exc:
        raise KeyFileError(f"cannot read the key file {path}: {_reason(exc)}") from exc
    try:
        return normalize(text)
    except crypto.SecretKeyError as exc:
        raise KeyFileError(
            f"the key file {path} does not hold a key (empty or damaged)"
        ) from exc


def create_key_file(path: str, key: str) -> str:
    """Keep ``key`` in ``path`` unless a key is there already; return the key
    the file holds afterwards (``key``, or the one another process wrote)."""
    key = normalize(key)
    temporary = _write_private(path, f".{secrets.token_hex(6)}.tmp", key)
    try:
        # Fails when another process kept its key first: that one wins.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    except OSError as exc:
        raise KeyFileError(f"cannot write the key file {path}: {_reason(exc)}") from exc
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
    _sync_directory(os.path.dirname(path))
    found = read_key_file(path)
    if found is None:
        raise KeyFileError(f"the key file {path} vanished right after it was written")
    return found


def stage_key_file(path: str, key: str) -> str:
    """Write ``key`` beside ``path`` as ``<path>.new`` (replacing an older staged
    key); :func:`install_staged_key` makes it the key. Returns the staged path."""
    key = normalize(key)
    staged = path + STAGED_SUFFIX
    temporary = _write_private(path, f".{secrets.token_hex(6)}.tmp", key)
    try:
        os.replace(temporary, staged)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise KeyFileError(
            f"cannot write the key file {staged}: {_reason(exc)}"
        ) from exc
    _sync_directory(os.path.dirname(path))
    return staged


def install_staged_key(path: str, retired: str | None = None) -> bool:
    """Make the staged ``<path>.new`` the key file, in one atomic rename; the
    key file it replaces stays reachable as ``retired`` (a hard link made
    first). Returns False when there was no staged key (another process
    installed it already): nothing is moved then."""
    staged = path + STAGED_SUFFIX
    if not os.path.exists(staged):
        return False
    if retired:
        try:
            # Kept already, or there was no key file: nothing to keep.
            with contextlib.suppress(FileExistsError, FileNotFoundError):
                os.link(path, retired)
        except OSError as exc:
            raise KeyFileError(
                f"cannot keep the previous key as {retired}: {_reason(exc)}"
            ) from exc
    try:
        os.rename(staged, path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise KeyFileError(
            f"cannot move the new key {staged} to {path}: {_reason(exc)}"
        ) from exc
    _sync_directory(os.path.dirname(path))
    return True


def _write_private(path: str, suffix: str, key: str) -> str:
    """Write ``key`` to a new file ``<path><suffix>`` (mode 0600, synced)."""
    directory = os.path.dirname(path)
    target = path + suffix
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise KeyFileError(f"cannot write the key file {path}: {_reason(exc)}") from exc
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(key + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(target)
        raise KeyFileError(f"cannot write the key file {path}: {_reason(exc)}") from exc
    return target


def _sync_directory(directory: str) -> None:
    """Make a new name in ``directory`` durable (best effort)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno:
        return exc.strerror or errno.errorcode.get(exc.errno, str(exc.errno))
    return str(exc) or type(exc).__name__
