# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Smart Mail: mail sent from Odoo leaves through the owner's own SMTP server,
within the provider's limits (personal ir.mail_server, governor and usage:
ir_mail_server.py, mail_mail.py, mail_sync_send_event.py,
mail_sync_quota_override.py)."""

from odoo import api, fields, models, tools


class MailSyncAccount(models.Model):
    _inherit = "mail.sync.account"

    quota_profile = fields.Selection(
        selection="_selection_quota_profile",
        string="Sending Limits",
        compute="_compute_quota_profile",
        store=True,
        readonly=False,
        help="The provider's sending limits that apply to this mailbox (chosen from "
        "the provider and the address; an administrator may lower or raise them "
        "per company). Mail over a limit waits until it resets; it is never lost.",
    )
    smart_mail_usage = fields.Char(
        string="Sent Today", compute="_compute_smart_mail_usage"
    )
    smart_mail_limits = fields.Char(
        string="Limits", compute="_compute_smart_mail_usage"
    )

    def _selection_quota_profile(self):
        return self.env["mail.sync.quota.override"]._profile_selection()

    @api.depends("provider", "email")
    def _compute_quota_profile(self):
        overrides = self.env["mail.sync.quota.override"]
        for account in self:
            account.quota_profile = overrides._default_profile_key(
                account.provider, account.email
            )

    def _compute_smart_mail_usage(self):
        events = self.env["mail.sync.send.event"]
        for account in self:
            usage, limits = events._usage_display(account)
            account.smart_mail_usage = usage
            account.smart_mail_limits = limits

    def _mail_sync_quota_profile(self):
        """The limits (``lib.quota.QuotaProfile``) this mailbox sends within."""
        self.ensure_one()
        return self.env["mail.sync.quota.override"]._profile_for(self)

    def _mail_sync_smtp_login(self):
        self.ensure_one()
        if self.smtp_same_credentials:
            return (self.imap_login or self.email or "").strip()
        return (self.smtp_login or "").strip()

    @api.model
    def _mail_sync_sending_route(self, email_from):
        """One line telling the current user from which address and through
        which server mail they send now with ``email_from`` leaves: their
        mailbox's own SMTP server (Smart Mail, ``mail_mail.py``) or the
        company's server, and why not their mailbox."""
        # sudo: the current user's own mailbox and the servers Odoo would
        # choose among; only their names and addresses are shown.
        account = self.sudo().search([("user_id", "=", self.env.uid)], limit=1)
        address = tools.email_normalize(email_from) or email_from or ""
        own = account and tools.email_normalize(account.email) == address
        sending = own and account.state in ("enabled", "error", "connection")
        if sending and account.email_proof:
            host = (account.smtp_host or "").strip()
            if account.state == "enabled":
                return self.env._(
                    "Leaves from %(address)s through your mailbox's own server "
                    "(%(host)s), within its sending limits.",
                    address=account.email,
                    host=host,
                )
            return self.env._(
                "Leaves from %(address)s through your mailbox's own server "
                "(%(host)s) once it works again: your mailbox is in %(state)s; "
                "the mail waits, it is never sent another way.",
                address=account.email,
                host=host,
                state=dict(self._fields["state"]._description_selection(self.env))[
                    account.state
                ],
            )
        # sudo: read-only: Odoo's own choice of server for the caller's address,
        # to tell them how a reply leaves; nothing is sent or written.
        server, sender = self.env["ir.mail_server"].sudo()._find_mail_server(email_from)
        if server:
            route = self.env._(
                "Leaves from %(address)s through the company's server %(server)s "
                "(%(host)s)",
                address=sender,
                server=server.name,
                host=server.smtp_host,
            )
        else:
            route = self.env._(
                "Leaves from %(address)s through the company's outgoing server "
                "(%(host)s, Odoo's configuration)",
                address=sender,
                host=tools.config.get("smtp_server") or "localhost",
            )
        if own and account.state == "pending":
            why = self.env._(
                "your mailbox is Pending (your company's limit of synced mailboxes)"
            )
        elif sending:
            why = self.env._("your mailbox's address is not confirmed yet")
        elif account and account.state != "draft":
            why = self.env._(
                "this address is not your mailbox's (%(email)s)", email=account.email
            )
        else:
            why = self.env._("you have no connected mailbox")
        return self.env._("%(route)s: %(why)s.", route=route, why=why)
