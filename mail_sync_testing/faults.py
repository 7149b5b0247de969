"""Messages a real Dovecot cannot deliver (no Odoo import).

Dovecot reads a Maildir message file when a FETCH asks for its content. When it
cannot (the file is unreadable to its mail processes, which run as
``nobody``), it answers ``* BYE Internal error`` and drops the connection;
when the file is shorter than the size in its name (which Dovecot trusts), it
stops in the middle of the literal and drops the connection. Either way every
FETCH that includes that message fails, on every connection, until the file is
repaired. INTERNALDATE and RFC822.SIZE still answer (from the file's name and
time), and so do header fields Dovecot cached from an earlier FETCH.
"""

import os

__all__ = ["damage_message", "repair_message"]

HOW = ("unreadable", "truncated")


def _message_files(server, user, folder):
    cur = os.path.join(server.maildir_path(user, folder), "cur")
    # fill_maildir names files <time>.M<counter>P<pid>...: the counter orders them
    names = sorted(
        os.listdir(cur), key=lambda name: int(name.split(".M", 1)[1].split("P", 1)[0])
    )
    return [os.path.join(cur, name) for name in names]


def damage_message(server, user, number, folder="INBOX", how="unreadable"):
    """Make the ``number``-th message (1-based, in the order ``fill_maildir``
    wrote them) of ``user``'s ``folder`` one the server cannot deliver; returns
    its file's path. ``how``: "unreadable" (mode 000) or "truncated" (cut to
    40 bytes)."""
    path = _message_files(server, user, folder)[number - 1]
    if how == "unreadable":
        os.chmod(path, 0)
    elif how == "truncated":
        with open(path, "r+b") as fh:
            fh.truncate(40)
    else:
        raise ValueError(f"how must be one of {HOW}, not {how!r}")
    return path


def repair_message(path):
    """Make an unreadable message file readable again."""
    os.chmod(path, 0o600)
