# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Connect presses per user: at most :data:`CONNECT_ATTEMPTS` a minute.

Each Connect reaches out to a server the user typed in; without a limit,
pressing it in a loop (or calling it over RPC) turns Odoo into a port
scanner. The count is kept server-side in this table, which no user may
read or write (the addon writes it with its own cursor, so that a Connect
that fails, and rolls its transaction back, still counts)."""

from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError

from .advisory_locks import CONNECT_ATTEMPT

CONNECT_ATTEMPTS = 5
CONNECT_WINDOW = timedelta(minutes=1)
KEEP_ATTEMPTS = timedelta(days=1)


class MailSyncConnectAttempt(models.Model):
    _name = "mail.sync.connect.attempt"
    _description = "Mail Sync Connect Attempt"
    _order = "date desc, id desc"
    _log_access = False

    user_id = fields.Many2one(
        "res.users", required=True, readonly=True, index=True, ondelete="cascade"
    )
    date = fields.Datetime(required=True, readonly=True)

    @api.model
    def _mail_sync_count_attempt(self, user):
        """Count one Connect by ``user`` now, or raise a UserError when they
        already pressed it :data:`CONNECT_ATTEMPTS` times within the last
        :data:`CONNECT_WINDOW` (a refused press is not counted)."""
        now = fields.Datetime.now()
        with self.env.registry.cursor() as cr:
            cr.execute("SELECT 1 FROM res_users WHERE id = %s", [user.id])
            committed = bool(cr.fetchone())
            if committed:
                allowed = self._take_attempt(cr, user.id, now)
        if not committed:
            # A user created in the current transaction (a script, an import):
            # counted in it, gone with it if it rolls back.
            self.env.flush_all()
            allowed = self._take_attempt(self.env.cr, user.id, now)
        if not allowed:
            raise UserError(
                self.env._(
                    "Too many connection attempts: Connect may be pressed at most "
                    "%(count)s times a minute. Wait a minute, check the settings, "
                    "and try again.",
                    count=CONNECT_ATTEMPTS,
                )
            )

    @staticmethod
    def _take_attempt(cr, user_id, now):
        """Under a lock per user: whether ``user_id`` may connect now, and if
        so the attempt is recorded. (SQL, past the table's access rules, which
        give it to nobody: the values are the current user's id and the
        server's clock, nothing a caller chooses.)"""
        cr.execute("SELECT pg_advisory_xact_lock(%s, %s)", [CONNECT_ATTEMPT, user_id])
        cr.execute(
            "SELECT count(*) FROM mail_sync_connect_attempt"
            " WHERE user_id = %s AND date > %s",
            [user_id, now - CONNECT_WINDOW],
        )
        if cr.fetchone()[0] >= CONNECT_ATTEMPTS:
            return False
        cr.execute(
            "INSERT INTO mail_sync_connect_attempt (user_id, date) VALUES (%s, %s)",
            [user_id, now],
        )
        return True

    @api.autovacuum
    def _gc_old_attempts(self):
        """Attempts older than a day go."""
        self.env.cr.execute(
            "DELETE FROM mail_sync_connect_attempt WHERE date < %s",
            [fields.Datetime.now() - KEEP_ATTEMPTS],
        )
