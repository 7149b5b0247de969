# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The listeners alive, and how they divide the mailboxes between them.

A listener (``mail_sync_crm/cli/listener.py``) calls :meth:`_heartbeat`
every few seconds (``HEARTBEAT_SECONDS``) in a transaction of its own: it says
it is alive until ``now + ttl``, renews its leases
(``mail.sync.listener.lease``), gives up those of mailboxes no longer enabled
and those above its fair share (the enabled mailboxes divided by the live
listeners, rounded up), and takes mailboxes nobody holds, or whose lease
expired (its listener died), up to that share. A lease is taken with
``INSERT ... ON CONFLICT (account_id) DO UPDATE ... WHERE expires < now``:
of two listeners racing for one mailbox, the second waits on the first's row
and then finds it live, so no mailbox is ever leased twice. When a listener
dies, its heartbeat and leases expire after ``ttl`` (30 s) and the others take
its mailboxes at their next heartbeat: within ``ttl`` + ``HEARTBEAT_SECONDS``.

Everything here is private (no RPC); administrators may read the rows.
"""

import datetime

from odoo import api, fields, models

HEARTBEAT_SECONDS = 10
LEASE_SECONDS = 30
# A listener silent this long is forgotten (its row and leases deleted).
FORGET_SECONDS = 3600


class MailSyncListener(models.Model):
    _name = "mail.sync.listener"
    _description = "Mail Sync Listener"
    _log_access = False

    name = fields.Char(required=True, readonly=True)
    expires = fields.Datetime(required=True, readonly=True)
    lease_ids = fields.One2many("mail.sync.listener.lease", "listener_id")

    _sql_constraints = [
        ("name_uniq", "unique(name)", "A listener's name is unique."),
    ]

    @api.model
    def _heartbeat(self, name, ttl=LEASE_SECONDS):
        """Say listener ``name`` is alive for ``ttl`` seconds and return the ids
        of the mailboxes it holds now (see the module's docstring). The caller
        commits. Times are the database's (``cr.now()``), whichever machine
        the listener runs on."""
        self.env["mail.sync.account"].flush_model(["state"])
        cr = self.env.cr
        now = cr.now()
        expires = now + datetime.timedelta(seconds=ttl)
        cr.execute(
            """INSERT INTO mail_sync_listener (name, expires) VALUES (%s, %s)
                ON CONFLICT (name) DO UPDATE SET expires = EXCLUDED.expires
                RETURNING id""",
            [name, expires],
        )
        me = cr.fetchone()[0]
        cr.execute(
            "DELETE FROM mail_sync_listener WHERE expires < %s",
            [now - datetime.timedelta(seconds=FORGET_SECONDS)],
        )
        cr.execute(
            """DELETE FROM mail_sync_listener_lease l USING mail_sync_account a
               WHERE l.account_id = a.id AND l.listener_id = %s
                 AND a.state != 'enabled'""",
            [me],
        )
        cr.execute(
            "UPDATE mail_sync_listener_lease SET expires = %s WHERE listener_id = %s",
            [expires, me],
        )
        cr.execute("SELECT count(*) FROM mail_sync_listener WHERE expires > %s", [now])
        live = max(cr.fetchone()[0], 1)
        cr.execute("SELECT count(*) FROM mail_sync_account WHERE state = 'enabled'")
        share = -(-cr.fetchone()[0] // live)
        cr.execute(
            "SELECT count(*) FROM mail_sync_listener_lease WHERE listener_id = %s",
            [me],
        )
        held = cr.fetchone()[0]
        if held > share:
            cr.execute(
                """DELETE FROM mail_sync_listener_lease WHERE id IN (
                       SELECT id FROM mail_sync_listener_lease WHERE listener_id = %s
                       ORDER BY account_id DESC LIMIT %s)""",
                [me, held - share],
            )
        elif held < share:
            cr.execute(
                """INSERT INTO mail_sync_listener_lease
                           (account_id, listener_id, expires)
                    SELECT a.id, %(me)s, %(expires)s
                      FROM mail_sync_account a
                      LEFT JOIN mail_sync_listener_lease l ON l.account_id = a.id
                     WHERE a.state = 'enabled'
                       AND (l.id IS NULL OR l.expires < %(now)s)
                     ORDER BY a.id LIMIT %(wanted)s
                    ON CONFLICT (account_id) DO UPDATE
                       SET listener_id = EXCLUDED.listener_id,
                           expires = EXCLUDED.expires, synced_at = NULL
                     WHERE mail_sync_listener_lease.expires < %(now)s""",
                {"me": me, "expires": expires, "now": now, "wanted": share - held},
            )
        cr.execute(
            """SELECT account_id FROM mail_sync_listener_lease
               WHERE listener_id = %s ORDER BY account_id""",
            [me],
        )
        return [row[0] for row in cr.fetchall()]

    @api.model
    def _leave(self, name):
        """Listener ``name`` stops: its leases go at once (the caller commits)."""
        self.env.cr.execute("DELETE FROM mail_sync_listener WHERE name = %s", [name])

    @api.model
    def _synced(self, name, account_id):
        """Listener ``name`` just gave mailbox ``account_id`` a turn (the
        caller commits)."""
        self.env.cr.execute(
            """UPDATE mail_sync_listener_lease l SET synced_at = %s
                 FROM mail_sync_listener s
                WHERE s.id = l.listener_id AND s.name = %s AND l.account_id = %s""",
            [self.env.cr.now(), name, account_id],
        )

    @api.model
    def _left_to_the_run(self, name, account_id):
        """Listener ``name`` stopped watching mailbox ``account_id`` (its turn
        failed, or its OAuth grant was revoked): the scheduled run takes the
        mailbox at its next run (its last listener turn is forgotten; the
        caller commits)."""
        self.env.cr.execute(
            """UPDATE mail_sync_listener_lease l SET synced_at = NULL
                 FROM mail_sync_listener s
                WHERE s.id = l.listener_id AND s.name = %s AND l.account_id = %s""",
            [name, account_id],
        )

    @api.model
    def _watched_recently(self, since):
        """Ids of the mailboxes a live listener holds and gave a turn since
        ``since``: the scheduled run leaves them out (they are not due). A
        mailbox whose watch hears nothing, or fails, is the run's again once
        its last listener turn is older than ``since``."""
        self.env.cr.execute(
            """SELECT account_id FROM mail_sync_listener_lease
                WHERE expires > %s AND synced_at >= %s""",
            [self.env.cr.now(), since],
        )
        return [row[0] for row in self.env.cr.fetchall()]
