# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Exactly once across processes: who records a (Message-ID, lead) pair.

The chatter message a sync writes and the ledger row of the mailbox that wrote
it (``introduced``) are inserted in one transaction. A unique index on the
introduced rows' (Message-ID, lead) makes that ledger row the claim on the
pair: when two processes record the same pair at once (two mailboxes of
colleagues writing to the same lead), the second insert waits for the first
transaction and then fails, and so does the rest of its batch. Nothing of that
batch was committed (its checkpoint commits with it), so the loser redoes it
from its last checkpoint in a fresh transaction, whose snapshot now sees the
winner's chatter message: the pair is then noted as found, not written again.
A claim never exists without its chatter message (same transaction, and the row
goes with the message), and a chatter message is never lost.

Odoo's cursors are REPEATABLE READ: checking first then inserting in the same
transaction cannot see a row committed after the snapshot, which is why the
database has the last word here, and why the redo needs a new transaction.
"""

import logging

from psycopg2 import errors as pg_errors

from odoo.tools import SQL
from odoo.tools.sql import index_exists

_logger = logging.getLogger(__name__)

CLAIM_INDEX = "mail_sync_message_introduced_uniq"
# What a transaction meets when another one took the same thing first: it must end
# and its work be redone (or left to the next run) in a new transaction.
CONCURRENCY_ERRORS = (
    pg_errors.SerializationFailure,
    pg_errors.DeadlockDetected,
    pg_errors.LockNotAvailable,
)
# Outcomes of a sync attempt other than done (None) or failed (a MailSyncError).
BUSY = "busy"  # another process holds the mailbox, or kept taking its pairs first
NOT_DUE = "not_due"  # disconnected, backing off, or tried since this run began


class QuietCursor:
    """The cursor ``psycopg2.extras.execute_values`` is given for a claim: Odoo's,
    whose ``execute`` logs every failed query as an ERROR ("bad query"), minus
    that log; the failure itself is raised as ever."""

    def __init__(self, cr):
        self.cr = cr
        self.connection = cr.connection

    def mogrify(self, query, params=None):
        return self.cr.mogrify(query, params)

    def execute(self, query, params=None):
        return self.cr.execute(query, params, log_exceptions=False)


def is_conflict(exc):
    """Whether ``exc`` means that another transaction got there first."""
    if isinstance(exc, CONCURRENCY_ERRORS):
        return True
    return (
        isinstance(exc, pg_errors.UniqueViolation)
        and getattr(exc.diag, "constraint_name", None) == CLAIM_INDEX
    )


def ensure_claim_index(env):
    """Create the claim index; on a database where earlier versions recorded a
    pair more than once, keep the first chatter message of each pair and remove
    the copies first (the ledger rows then point at the one kept)."""
    cr = env.cr
    if index_exists(cr, CLAIM_INDEX):
        return
    cr.execute(
        """
        WITH ranked AS (
            SELECT id, mail_message_id,
                   first_value(mail_message_id) OVER pair AS kept,
                   row_number() OVER pair AS position
              FROM mail_sync_message
             WHERE introduced
            WINDOW pair AS (PARTITION BY message_id, lead_id
                            ORDER BY mail_message_id NULLS LAST, id)
        )
        UPDATE mail_sync_message ledger SET introduced = FALSE
          FROM ranked
         WHERE ledger.id = ranked.id AND ranked.position > 1
     RETURNING ranked.mail_message_id, ranked.kept
        """
    )
    copies = {old: kept for old, kept in cr.fetchall() if old and old != kept}
    if copies:
        for old, kept in copies.items():
            cr.execute(
                """UPDATE mail_sync_message SET mail_message_id = %s
                    WHERE mail_message_id = %s""",
                [kept, old],
            )
        # sudo: install or update: the chatter messages the ledger shows were synced
        # twice (ids from its own rows above); each pair keeps its first message.
        env["mail.message"].sudo().browse(sorted(copies)).unlink()
        _logger.info(
            "mail_sync_crm: removed %s chatter messages synced twice", len(copies)
        )
    cr.execute(
        SQL(
            "CREATE UNIQUE INDEX %s ON mail_sync_message (message_id, lead_id) "
            "WHERE introduced",
            SQL.identifier(CLAIM_INDEX),
        )
    )
