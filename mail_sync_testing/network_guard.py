"""An audit hook that keeps a test's traffic on loopback.

``watching()`` records every outgoing connection ``("connect", address,
port)`` and name lookup ``("lookup", name, port)`` of this process (all its
threads, an HTTP server's included) while it is active, and refuses on the
spot a connection to anything but a loopback address, or a lookup of a name
other than a loopback one: no test sends a packet past this machine, whatever
the code under test does. Audit hooks cannot be removed: the hook is
installed once, on first use, and stays idle between uses."""

import contextlib
import ipaddress
import socket
import sys

LOOPBACK_NAMES = frozenset({"127.0.0.1", "::1", "localhost"})


def is_loopback(address):
    try:
        return ipaddress.ip_address(str(address).split("%")[0]).is_loopback
    except ValueError:
        return False


class _Network:
    seen = None
    installed = False

    @classmethod
    def hook(cls, event, args):
        if cls.seen is None:
            return
        if event == "socket.connect" and isinstance(args[1], tuple):
            address, port = args[1][:2]
            cls.seen.append(("connect", address, port))
            if not is_loopback(address):
                raise ConnectionRefusedError(f"test: no traffic to {address}")
        elif event == "socket.getaddrinfo":
            name = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
            cls.seen.append(("lookup", name, args[1]))
            if name not in LOOPBACK_NAMES:
                raise socket.gaierror(socket.EAI_NONAME, f"test: no lookup of {name}")


@contextlib.contextmanager
def watching():
    """The list of this process's connections and lookups while the block
    runs; any past loopback is refused."""
    if not _Network.installed:
        sys.addaudithook(_Network.hook)
        _Network.installed = True
    seen = []
    _Network.seen = seen
    try:
        yield seen
    finally:
        _Network.seen = None
