# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A listener's lease on one mailbox: while it lasts, that listener alone
watches the mailbox (one lease per mailbox, :data:`_sql_constraints`).

Taken, renewed and given up only by ``mail.sync.listener._heartbeat``, in SQL;
nobody else writes it. Administrators may read it (who watches what).
"""

from odoo import fields, models


class MailSyncListenerLease(models.Model):
    _name = "mail.sync.listener.lease"
    _description = "Mail Sync Listener Lease"
    _log_access = False

    account_id = fields.Many2one(
        "mail.sync.account", string="Mailbox", required=True, ondelete="cascade"
    )
    listener_id = fields.Many2one(
        "mail.sync.listener", required=True, ondelete="cascade", index=True
    )
    expires = fields.Datetime(required=True)
    # When this listener last gave the mailbox a turn (its watch heard news).
    synced_at = fields.Datetime()

    _sql_constraints = [
        ("account_uniq", "unique(account_id)", "A mailbox has one listener at most."),
    ]
