# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Mailbox status: errors and their log, the backoff of refused logins, Pending, the
48-hour decay to Connection."""

import logging
from datetime import timedelta

from odoo import _, api, fields, models

from ..lib import errors
from ..lib.sync import scheduling

_logger = logging.getLogger(__name__)


# SharpSpring's rule: after two days of continuous errors a mailbox is no longer tried.
CONNECTION_DECAY = timedelta(hours=48)


class MailSyncAccount(models.Model):
    _inherit = "mail.sync.account"

    pending_date = fields.Datetime(readonly=True, copy=False)
    first_error_date = fields.Datetime(
        readonly=True,
        copy=False,
        help="Start of the current run of errors; after 48 hours the mailbox moves "
        "to Connection.",
    )
    last_error = fields.Text(readonly=True, copy=False)
    next_attempt_date = fields.Datetime(
        string="Next Try",
        readonly=True,
        copy=False,
        help="The server refused the login: the scheduled sync tries again at this "
        "time (after 5 minutes, 15 minutes, 1 hour, then every 4 hours), not at "
        "every run. Sync Now or reconnecting tries at once.",
    )
    auth_failure_count = fields.Integer(
        string="Refused Logins",
        readonly=True,
        copy=False,
        help="Logins refused by the server in a row.",
    )
    log_ids = fields.One2many("mail.sync.log", "account_id", string="Error Log")
    log_count = fields.Integer(
        string="Errors",
        compute="_compute_log_count",
        help="Errors since the mailbox last worked (a successful connect or "
        "sync), and messages still skipped; older entries stay in the log.",
    )
    log_total = fields.Integer(compute="_compute_log_count")
    log_cleared_id = fields.Integer(
        readonly=True,
        copy=False,
        help="The last log entry written before the mailbox last recovered: the "
        "entries up to it are history.",
    )

    # ------------------------------------------------------------------
    # Errors
    # ------------------------------------------------------------------
    @api.depends("log_cleared_id", "log_ids")
    def _compute_log_count(self):
        """``log_count``: the entries that still tell something is wrong (see
        ``_current_log_domain``); ``log_total``: the whole log."""
        # sudo: read-only: counts of the log entries of these mailboxes, which the
        # user may read (self).
        Log = self.env["mail.sync.log"].sudo()
        totals = dict(
            Log._read_group(
                [("account_id", "in", self.ids)], ["account_id"], ["__count"]
            )
        )
        for account in self:
            account.log_total = totals.get(account, 0)
            account.log_count = (
                Log.search_count(account._current_log_domain())
                if account.log_total
                else 0
            )

    def _current_log_domain(self):
        """The log entries of this mailbox written since it last recovered, and
        those of messages still skipped (Retry is waiting for them)."""
        self.ensure_one()
        domain = [("account_id", "=", self.id)]
        if self.log_cleared_id:
            domain += [
                "|",
                ("id", ">", self.log_cleared_id),
                ("failed_message_id.state", "=", "skipped"),
            ]
        return domain

    def _log_cleared_values(self):
        """What a mailbox that just worked writes: its log so far is history
        (by entry, not by time: a transaction's entries share its timestamp)."""
        self.ensure_one()
        self.env["mail.sync.log"].flush_model(["account_id"])
        self.env.cr.execute(
            "SELECT MAX(id) FROM mail_sync_log WHERE account_id = %s", [self.id]
        )
        return {"log_cleared_id": self.env.cr.fetchone()[0] or 0}

    def action_open_logs(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Mail Sync Log"),
            "res_model": "mail.sync.log",
            "view_mode": "list,form",
            "domain": [("account_id", "=", self.id)],
        }

    def _record_success(self):
        """A sync or send worked: clear the error run."""
        for account in self.filtered(lambda a: a.state == "error"):
            # sudo: the status of a mailbox whose sync or send just worked: constants
            # and the log's last id.
            account.sudo().write(
                {
                    "state": "enabled",
                    "first_error_date": False,
                    "last_error": False,
                    **account._log_cleared_values(),
                }
            )

    def _record_error(self, err):
        """A sync or send failed: Error state (still retried), log entry."""
        for account in self:
            vals = {"last_error": self._describe(err)[0]}
            if account.state == "enabled":
                vals["state"] = "error"
            if not account.first_error_date:
                vals["first_error_date"] = fields.Datetime.now()
            # sudo: the status of a mailbox whose sync or send failed: vals computed
            # here (the catalogue's message for err, Error, the time).
            account.sudo().write(vals)
            account._log_error(err)

    def _back_off(self, err):
        """After a failed sync: a login the server refused is tried again later
        and later (``lib.scheduling.auth_backoff``); any other failure at the next
        run."""
        for account in self:
            if err.code in scheduling.BACKOFF_CODES:
                failures = account.auth_failure_count + 1
                # sudo: the login backoff, computed here (one more refusal,
                # lib.scheduling's delays).
                account.sudo().write(
                    {
                        "auth_failure_count": failures,
                        "next_attempt_date": fields.Datetime.now()
                        + scheduling.auth_backoff(failures),
                    }
                )
            else:
                account._reset_backoff()

    def _reset_backoff(self):
        """Try at the next run again (a sync worked, the owner reconnected or
        pressed Sync Now)."""
        waiting = self.filtered(lambda a: a.auth_failure_count or a.next_attempt_date)
        if waiting:
            # sudo: constants: the backoff ends (a sync worked, the owner reconnected or
            # pressed Sync Now).
            waiting.sudo().write({"auth_failure_count": 0, "next_attempt_date": False})

    def _describe(self, err):
        return errors.describe(err, translate=lambda text: self.env._(text))  # pylint: disable=translation-required

    def _log_error(self, err, persist=False):
        """Write ``err`` to the mailbox log. With ``persist``, through a cursor of
        its own so that the entry survives the UserError about to roll back the
        current transaction; when the mailbox was created in the current
        transaction (a script, an import, a server action), that cursor cannot
        see it yet, and the entry is written in the current transaction: kept
        when the caller commits, gone with the rollback otherwise."""
        self.ensure_one()
        message, hint = self._describe(err)
        vals = {
            "account_id": self.id,
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
            "mail_sync_crm: mailbox %s: %s (%s)", self.id, err.code, err.detail
        )
        if not persist:
            # sudo: the log entry of this mailbox (no one else writes the log): vals
            # computed above from err (code, side, catalogue message and hint, and as
            # text the server's own words, for an OAuth callback the error it carries);
            # Odoo's sudo() drops a client context's default_* keys.
            return self.env["mail.sync.log"].sudo().create(vals)
        with self.env.registry.cursor() as cr:
            cr.execute("SELECT 1 FROM mail_sync_account WHERE id = %s", [self.id])
            committed = bool(cr.fetchone())
            if committed:
                # sudo: the same entry, through a cursor of its own.
                self.env(cr=cr)["mail.sync.log"].sudo().create(vals)
        if not committed:
            # sudo: the same entry, in the current transaction.
            return self.env["mail.sync.log"].sudo().create(vals)
        self.invalidate_recordset(["log_ids", "log_count", "log_total"])
        return True

    # ------------------------------------------------------------------
    # Pending and decay
    # ------------------------------------------------------------------
    def _promote_pending(self, companies):
        """Enable the oldest Pending mailboxes of ``companies`` while their limit
        leaves room."""
        promoted = self.browse()
        for company in companies:
            pending = self.search(
                [("company_id", "=", company.id), ("state", "=", "pending")],
                order="pending_date, id",
            )
            for account in pending:
                if not company._mail_sync_has_room():
                    break
                account.write(
                    {
                        "state": "enabled",
                        "pending_date": False,
                        "connected_date": fields.Datetime.now(),
                    }
                )
                promoted |= account
        if promoted:
            promoted._on_enabled()
        return promoted

    @api.model
    def _over_limit(self, company, limit):
        """The mailboxes of ``company`` that a limit of ``limit`` leaves no
        place for: its billable mailboxes past the limit, the most recently
        connected first (those connected first keep syncing)."""
        if not limit:
            return self.browse()
        # sudo: read-only: the company's billable mailboxes (the limit an
        # administrator just wrote decides which go Pending; constants here).
        billable = self.sudo().search(
            [("company_id", "=", company.id), ("state", "in", ("enabled", "error"))],
            order="connected_date desc nulls last, id desc",
        )
        return billable[: max(0, len(billable) - limit)]

    def _demote_over_limit(self, companies):
        """A limit lowered below the mailboxes in use: the mailboxes over it,
        the most recently connected first, stop syncing and wait as Pending
        (promoted again, longest waiting first, by ``_promote_pending``); each
        owner is told on the mailbox, by notification."""
        demoted = self.browse()
        for company in companies:
            surplus = self._over_limit(company, company.mail_sync_user_limit)
            if not surplus:
                continue
            surplus.write({"state": "pending", "pending_date": fields.Datetime.now()})
            for account in surplus:
                account.message_post(
                    body=_(
                        "Mail Sync paused %(email)s: %(company)s now syncs at most "
                        "%(limit)s mailboxes, and this one was among the most "
                        "recently connected. It is Pending and starts syncing "
                        "again on its own when an administrator raises the limit "
                        "or someone disconnects; nothing is lost meanwhile.",
                        email=account.email,
                        company=company.name,
                        limit=company.mail_sync_user_limit,
                    ),
                    partner_ids=account.user_id.partner_id.ids,
                    subtype_xmlid="mail.mt_comment",
                )
            demoted |= surplus
        return demoted

    @api.model
    def _cron_update_status(self):
        """Error for 48 hours -> Connection: no longer tried, not billed; the owner
        is told. Freed places go to Pending mailboxes."""
        limit = fields.Datetime.now() - CONNECTION_DECAY
        # sudo: the status cron: mailboxes in Error for 48 hours (a fixed domain) go to
        # Connection and their owners are told; constants.
        decayed = self.sudo().search(
            [("state", "=", "error"), ("first_error_date", "<=", limit)]
        )
        for account in decayed:
            account.state = "connection"
            account.message_post(
                body=_(
                    "Mail Sync stopped trying to reach %(email)s after two days of "
                    "errors. Last error: %(error)s. Check the settings and connect "
                    "again to resume.",
                    email=account.email,
                    error=account.last_error or "-",
                ),
                partner_ids=account.user_id.partner_id.ids,
                subtype_xmlid="mail.mt_comment",
            )
        if decayed:
            # sudo: the freed places go to the Pending mailboxes of those companies
            # (constants).
            self.sudo()._promote_pending(decayed.company_id)
        return decayed
