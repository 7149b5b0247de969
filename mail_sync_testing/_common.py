"""Helpers shared by the test servers: work directories, certificates, ports."""

import hashlib
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
from dataclasses import dataclass

from ._lib import lib_module

SHM = "/dev/shm"
LOOPBACK = "127.0.0.1"
# The host policy of sessions to the test servers (an administrator's
# mail_sync_crm.allowed_hosts = 127.0.0.1): loopback is refused otherwise.
LOOPBACK_POLICY = lib_module("net.host_policy").HostPolicy.parse(LOOPBACK)


def make_workdir(prefix):
    """A fresh directory (mode 755) under /dev/shm when usable, else the tmpdir."""
    base = SHM if os.path.isdir(SHM) and os.access(SHM, os.W_OK) else None
    path = tempfile.mkdtemp(prefix=prefix, dir=base)
    os.chmod(path, 0o755)
    return path


def remove_workdir(path):
    if path and os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)


def free_port(host=LOOPBACK):
    """A port that was free a moment ago (callers must handle the race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class SelfSignedCert:
    cert_path: str
    key_path: str
    cert_pem: bytes
    fingerprint: str  # SHA-256 hex digest of the DER certificate

    def client_context(self):
        """An SSL client context that trusts exactly this certificate."""
        return ssl.create_default_context(cafile=self.cert_path)

    def server_context(self):
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert_path, self.key_path)
        return ctx


def make_self_signed_cert(directory, common_name="localhost"):
    """Generate an EC P-256 self-signed certificate valid for localhost/127.0.0.1."""
    cert_path = os.path.join(directory, "cert.pem")
    key_path = os.path.join(directory, "key.pem")
    cmd = [
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        key_path,
        "-out",
        cert_path,
        "-days",
        "2",
        "-subj",
        f"/CN={common_name}",
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
    ]
    result = subprocess.run(cmd, capture_output=True, check=False)
    if result.returncode:
        stderr = result.stderr.decode(errors="replace")
        raise RuntimeError(f"openssl failed (rc {result.returncode}): {stderr}")
    # Readable by the unprivileged server processes (this is a throwaway key).
    os.chmod(cert_path, 0o644)
    os.chmod(key_path, 0o644)
    with open(cert_path, "rb") as fh:
        cert_pem = fh.read()
    der = ssl.PEM_cert_to_DER_cert(cert_pem.decode("ascii"))
    return SelfSignedCert(
        cert_path=cert_path,
        key_path=key_path,
        cert_pem=cert_pem,
        fingerprint=hashlib.sha256(der).hexdigest(),
    )


def tail(path, limit=4000):
    """The last `limit` characters of a text file, or '' if it is missing."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            return fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def process_group(pgid):
    """(pid, comm, state) of every process, zombies included, whose process group
    is `pgid` (read from /proc; ``_reaper.py`` keeps its own copy because it runs
    as a standalone script)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read().decode("utf-8", errors="replace")
        except OSError:
            continue
        lpar, rpar = stat.find("("), stat.rfind(")")
        fields = stat[rpar + 2 :].split()  # state ppid pgrp session ...
        if len(fields) >= 3 and int(fields[2]) == pgid:
            members.append((int(entry), stat[lpar + 1 : rpar], fields[0]))
    return members
