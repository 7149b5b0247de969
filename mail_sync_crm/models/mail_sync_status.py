# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The company's limit of synced mailboxes and the 48-hour decay: who waits as
Pending, who is promoted when a place frees up, who is demoted when the limit
is lowered, and the mailboxes in Error for two days that go to Connection.

A service: every method is private (no RPC); the status cron, the company's
limit (``res_company.py``), the settings and Disconnect call it.
"""

from datetime import timedelta

from odoo import _, api, fields, models

# SharpSpring's rule: after two days of continuous errors a mailbox is no longer tried.
CONNECTION_DECAY = timedelta(hours=48)


class MailSyncStatus(models.AbstractModel):
    _name = "mail.sync.status"
    _description = "Mail Sync Mailbox Limit and Decay"

    @api.model
    def _promote_pending(self, companies):
        """Enable the oldest Pending mailboxes of ``companies`` while their limit
        leaves room."""
        Account = self.env["mail.sync.account"]
        promoted = Account.browse()
        for company in companies:
            pending = Account.search(
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
            self.env["mail.sync.connector"]._on_enabled(promoted)
        return promoted

    @api.model
    def _over_limit(self, company, limit):
        """The mailboxes of ``company`` that a limit of ``limit`` leaves no
        place for: its billable mailboxes past the limit, the most recently
        connected first (those connected first keep syncing)."""
        Account = self.env["mail.sync.account"]
        if not limit:
            return Account.browse()
        # sudo: read-only: the company's billable mailboxes (the limit an
        # administrator just wrote decides which go Pending; constants here).
        billable = Account.sudo().search(
            [("company_id", "=", company.id), ("state", "in", ("enabled", "error"))],
            order="connected_date desc nulls last, id desc",
        )
        return billable[: max(0, len(billable) - limit)]

    @api.model
    def _demote_over_limit(self, companies):
        """A limit lowered below the mailboxes in use: the mailboxes over it,
        the most recently connected first, stop syncing and wait as Pending
        (promoted again, longest waiting first, by ``_promote_pending``); each
        owner is told on the mailbox, by notification."""
        demoted = self.env["mail.sync.account"].browse()
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
        decayed = (
            self.env["mail.sync.account"]
            .sudo()
            .search([("state", "=", "error"), ("first_error_date", "<=", limit)])
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
