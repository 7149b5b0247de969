# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from collections import defaultdict
from datetime import timedelta

import pytz

from odoo import _, api, fields, models

from ..lib.sending import quota, smart_mail

# Quotas look back 24 hours; the history is kept longer for reports and support.
KEEP_EVENTS = timedelta(days=30)


class MailSyncSendEvent(models.Model):
    """One email (SMTP transaction) accepted by a mailbox's own SMTP server: the
    usage that the sending governor (``lib.quota``) counts against the provider's
    limits."""

    _name = "mail.sync.send.event"
    _description = "Mail Sync Sent Email"
    _order = "date desc, id desc"
    _log_access = False

    account_id = fields.Many2one(
        "mail.sync.account",
        string="Mailbox",
        required=True,
        readonly=True,
        ondelete="cascade",
    )
    date = fields.Datetime(required=True, readonly=True)
    recipient_count = fields.Integer(string="Recipients", readonly=True)
    recipients = fields.Text(
        string="Delivered To",
        readonly=True,
        help="Normalised addresses that received it, one a line: a mail retried "
        "after a partial delivery skips them.",
    )
    mail_id = fields.Integer(
        string="Mail ID",
        readonly=True,
        index="btree_not_null",
        help="The mail.mail sent (it may be deleted after sending).",
    )
    message_id = fields.Char(string="Message-ID", readonly=True)

    _sql_constraints = [
        (
            "recipient_count_positive",
            "CHECK(recipient_count >= 0)",
            "The number of recipients cannot be negative.",
        ),
    ]

    def init(self):
        self.env.cr.execute(
            "CREATE INDEX IF NOT EXISTS mail_sync_send_event_account_date_idx "
            "ON mail_sync_send_event (account_id, date)"
        )

    @api.autovacuum
    def _gc_send_events(self):
        limit = fields.Datetime.now() - KEEP_EVENTS
        # sudo: the autovacuum: events older than kept (a fixed domain).
        self.sudo().search([("date", "<", limit)]).unlink()

    # ------------------------------------------------------------------
    # Usage of a mailbox, for the governor and the mailbox form
    # ------------------------------------------------------------------
    @api.model
    def _usage(self, account, now):
        """What ``account`` sent in the 24 hours before ``now``."""
        # sudo: read-only: dates and counts of what this mailbox sent in 24 hours, for
        # its governor or its own form (callers pass the mailbox being sent through or
        # shown to a reader of it).
        events = self.sudo().search_fetch(
            [("account_id", "=", account.id), ("date", ">", now - quota.DAY)],
            ["date", "recipient_count"],
            order="date",
        )
        return smart_mail.LiveUsage(
            (event.date, event.recipient_count) for event in events
        )

    @api.model
    def _usage_display(self, account):
        """("212 / 500 emails today, resets at 14:05", "Gmail: 100 recipients
        per email, ...") for the mailbox form, in the reader's time zone."""
        if not account.id:
            return False, False
        profile = self.env["mail.sync.quota.override"]._profile_for(account)
        now = fields.Datetime.now()
        tz = pytz.timezone(self.env.user.tz) if self.env.user.tz else None
        summary = quota.usage_summary(profile, self._usage(account, now), now, tz=tz)
        return summary["line"], self._limits_text(profile)

    @api.model
    def _limits_text(self, profile):
        def count(value):
            return f"{value:,}"

        parts = []
        if profile.recipients_per_email:
            n = count(profile.recipients_per_email)
            parts.append(_("%(n)s recipients per email", n=n))
        if profile.recipients_per_connection:
            n = count(profile.recipients_per_connection)
            parts.append(_("%(n)s recipients per connection", n=n))
        if profile.max_size_bytes:
            n = count(profile.max_size_bytes // quota.MB)
            parts.append(_("%(n)s MB per email", n=n))
        if profile.emails_per_day:
            parts.append(_("%(n)s emails per 24 h", n=count(profile.emails_per_day)))
        if profile.recipients_per_day:
            n = count(profile.recipients_per_day)
            parts.append(_("%(n)s recipients per 24 h", n=n))
        if profile.messages_per_minute:
            n = count(profile.messages_per_minute)
            parts.append(_("%(n)s emails per minute", n=n))
        return _(
            "%(profile)s: %(limits)s",
            profile=profile.label,
            limits=", ".join(parts) or _("no limits"),
        )

    # ------------------------------------------------------------------
    # Recording
    # ------------------------------------------------------------------
    @api.model
    def _record(self, account, batches):
        """Persist the SMTP transactions (``smart_mail.SentBatch``) of ``account``."""
        if not batches:
            return self.browse()
        # sudo: the SMTP transactions this process just made for the mailbox's entitled
        # mail (smart_mail.SentBatch): every field set here, from the session.
        return self.sudo().create(
            [
                {
                    "account_id": account.id,
                    "date": batch.sent_at,
                    "recipient_count": len(batch.recipients),
                    "recipients": "\n".join(batch.recipients),
                    "mail_id": batch.mail_key,
                    "message_id": batch.message_id,
                }
                for batch in batches
            ]
        )

    @api.model
    def _delivered(self, mail_ids):
        """mail id -> the addresses earlier attempts already delivered it to."""
        delivered = defaultdict(set)
        if not mail_ids:
            return delivered
        # sudo: read-only: the addresses earlier attempts delivered these mails to (the
        # mails being sent).
        events = self.sudo().search_fetch(
            [("mail_id", "in", list(mail_ids))], ["mail_id", "recipients"]
        )
        for event in events:
            delivered[event.mail_id].update((event.recipients or "").split())
        return delivered
