# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Every PostgreSQL advisory lock key the addon takes, in one registry.

A key is a pair ``(namespace, id)`` (``pg_advisory_lock(int, int)``), or for a
round one bigint built from its namespace (:func:`round_key`). The namespaces
are two ASCII letters, so that they read in ``pg_locks``; they never change
(a process still running the previous code must take the same keys).
"""

# The deployment's secret key (models/mail_sync_secret_key.py):
# (SECRET_KEY, KEY_LOCK) making the key, recording its fingerprint, rotating it;
# (SECRET_KEY, SECRETS_LOCK) shared by every transaction storing a secret,
# exclusive for a rotation (so no secret is stored with a retired key).
SECRET_KEY = 0x6D6B  # "mk"
KEY_LOCK = 1
SECRETS_LOCK = 2

# (CONNECT_ATTEMPT, user id): one count of a user's Connect presses at a time
# (models/mail_sync_connect_attempt.py).
CONNECT_ATTEMPT = 0x6D63  # "mc"

# (MAILBOX_SYNC, mailbox id): held while a mailbox is being synced, by a turn
# or a check for news (models/mail_sync_scheduler.py).
MAILBOX_SYNC = 0x6D73  # "ms"

# Rounds (models/mail_sync_scheduler.py): (ROUND, 0) is the gate a run passes
# to join or open a round; round_key(number) is held shared by each run of it.
ROUND = 0x6D74  # "mt"


def round_key(number):
    """The bigint key of round ``number``, held shared by each of its runs."""
    return (ROUND << 32) | number
