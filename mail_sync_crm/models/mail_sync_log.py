# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A mailbox's error log: what went wrong, how to fix it; written by the addon
only (``_record``)."""

import logging
from datetime import timedelta

from odoo import api, fields, models

from ..exceptions import MailSyncUserError
from ..lib.sync.held import MAX_ATTEMPTS

_logger = logging.getLogger(__name__)

LOG_RETENTION = timedelta(days=30)


class MailSyncLog(models.Model):
    _name = "mail.sync.log"
    _inherit = ["mail.sync.mailbox.mixin"]
    _description = "Mail Sync Error Log"
    _order = "create_date desc, id desc"
    _rec_name = "message"

    code = fields.Char(required=True, readonly=True, index=True)
    side = fields.Selection(
        [
            ("imap", "IMAP (receiving)"),
            ("smtp", "SMTP (sending)"),
            ("oauth", "Sign-in (Google/Microsoft)"),
        ],
        readonly=True,
    )
    message = fields.Char(string="What Happened", required=True, readonly=True)
    hint = fields.Text(string="How to Fix It", readonly=True)
    detail = fields.Text(
        string="Technical Detail",
        readonly=True,
        help="The server's own words; passwords never appear here.",
    )

    failed_message_id = fields.Many2one(
        "mail.sync.failed.message",
        string="Skipped Message",
        readonly=True,
        ondelete="set null",
        help="The message the server could not deliver, while it is skipped.",
    )
    failed_folder = fields.Char(related="failed_message_id.folder")
    failed_uid = fields.Integer(related="failed_message_id.uid")
    failed_date = fields.Datetime(related="failed_message_id.date")
    failed_sender = fields.Char(related="failed_message_id.sender")
    failed_subject = fields.Char(related="failed_message_id.subject")
    can_retry = fields.Boolean(compute="_compute_can_retry")

    @api.model
    def _record(self, account, err, persist=False):
        """Write ``err`` to the log of ``account``. With ``persist``, through a
        cursor of its own so that the entry survives the UserError about to
        roll back the current transaction; when the mailbox was created in the
        current transaction (a script, an import, a server action), that
        cursor cannot see it yet, and the entry is written in the current
        transaction: kept when the caller commits, gone with the rollback
        otherwise."""
        account.ensure_one()
        message, hint = account._describe(err)
        vals = {
            "account_id": account.id,
            "code": err.code,
            "side": err.side or False,
            "message": message,
            "hint": hint,
            # Before a login succeeded, whatever listens on that port may have
            # answered (an SSH banner, a web server): only the catalogue's
            # words are stored, never the server's (the server log has them).
            "detail": False if err.before_login else err.detail,
        }
        _logger.info(
            "mail_sync_crm: mailbox %s: %s (%s)", account.id, err.code, err.detail
        )
        if not persist:
            # sudo: the log entry of this mailbox (no one else writes the log): vals
            # computed above from err (code, side, catalogue message and hint, and as
            # text the server's own words, for an OAuth callback the error it carries);
            # Odoo's sudo() drops a client context's default_* keys.
            return self.sudo().create(vals)
        with self.env.registry.cursor() as cr:
            cr.execute("SELECT 1 FROM mail_sync_account WHERE id = %s", [account.id])
            committed = bool(cr.fetchone())
            if committed:
                # sudo: the same entry, through a cursor of its own.
                self.env(cr=cr)["mail.sync.log"].sudo().create(vals)
        if not committed:
            # sudo: the same entry, in the current transaction.
            return self.sudo().create(vals)
        account.invalidate_recordset(["log_ids", "log_count", "log_total"])
        return True

    @api.model
    def _current_domain(self, account):
        """The log entries of ``account`` written since it last recovered, and
        those of messages still skipped (Retry is waiting for them)."""
        account.ensure_one()
        domain = [("account_id", "=", account.id)]
        if account.log_cleared_id:
            domain += [
                "|",
                ("id", ">", account.log_cleared_id),
                ("failed_message_id.state", "=", "skipped"),
            ]
        return domain

    @api.model
    def _cleared_values(self, account):
        """What ``account``, which just worked, writes: its log so far is
        history (by entry, not by time: a transaction's entries share its
        timestamp)."""
        account.ensure_one()
        self.flush_model(["account_id"])
        self.env.cr.execute(
            "SELECT MAX(id) FROM mail_sync_log WHERE account_id = %s", [account.id]
        )
        return {"log_cleared_id": self.env.cr.fetchone()[0] or 0}

    @api.depends("failed_message_id.state")
    def _compute_can_retry(self):
        for log in self:
            # sudo: read-only: the state of this entry's skipped message, set by the
            # sync only (nobody else writes the log).
            log.can_retry = log.failed_message_id.sudo().state == "skipped"

    def action_retry_message(self):
        """Fetch the skipped message again on the next sync (and record it if it
        now works); one more failure skips it again with a new entry."""
        self.ensure_one()
        self.account_id._check_owner_or_admin()
        # sudo: the skipped message of this entry (set by the sync only) of a mailbox
        # the caller owns or administers (checked above); written below: constants.
        failed = self.failed_message_id.sudo()
        if failed.state != "skipped":
            raise MailSyncUserError(
                self.env._("This message is no longer skipped."),
                self.env._("Nothing to retry"),
            )
        failed.write({"state": "retry", "attempts": MAX_ATTEMPTS - 1})
        # sudo: the addon's scheduled sync runs sooner; no value is passed.
        self.env.ref("mail_sync_crm.ir_cron_mail_sync").sudo()._trigger()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Mail Sync"),
                "message": self.env._(
                    "UID %(uid)s in %(folder)s is fetched again on the next sync.",
                    uid=failed.uid,
                    folder=failed.folder,
                ),
                "type": "success",
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    @api.autovacuum
    def _gc_old_entries(self):
        """Entries older than 30 days go."""
        limit = fields.Datetime.now() - LOG_RETENTION
        # sudo: the autovacuum: entries older than 30 days (a fixed domain).
        self.sudo().search([("create_date", "<", limit)]).unlink()
