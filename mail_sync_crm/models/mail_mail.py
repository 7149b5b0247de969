# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Smart Mail: a user's own mail leaves through their own SMTP server.

Routing: a mail is its owner's when the owner created it (``create_uid``, set
by the ORM from the session's user: no client value), its author is the
owner's partner, its From normalises to the owner's address and that address
is proven (``mail.sync.account.email_proof``). Mail that claims to be the
owner's (``author_id``/``email_from`` of a colleague, from anyone, administrators
included) leaves through Odoo's company server exactly as Odoo would send it.
``_split_by_mail_configuration`` groups the mails per author entitlement and
lets Odoo's server choice consider each owner's personal server for the
owner's mails only; everything else is chosen exactly as by Odoo.

Sending: the groups on a personal server are sent here, one mail at a time
through Odoo's own ``_send`` with a ``lib.smart_mail.GovernedSession`` as the
SMTP session (quota governor, batches, lazy connection with the mailbox's
pinned TLS and encrypted password). A mail the governor defers, that the
server refuses for quota, or that cannot reach the server stays outgoing
(``scheduled_date`` = when it may go, reason in ``failure_reason``); it is
never sent through another server.
"""

import logging
from collections import defaultdict
from datetime import timedelta

import pytz

from odoo import _, fields, models, tools
from odoo.exceptions import AccessError
from odoo.tools.misc import format_datetime

from odoo.addons.base.models.ir_mail_server import MailDeliveryException

from ..lib import errors
from ..lib.sending import smart_mail
from .ir_mail_server import allowed_servers_context

_logger = logging.getLogger(__name__)

# Mailboxes whose owner's mail goes (or waits) for their own server.
SENDING_STATES = ("enabled", "error", "connection")
# A mailbox that could not be reached is tried again after this delay.
RETRY_OFFLINE = timedelta(minutes=5)
QUEUE_CRON = "mail.ir_cron_mail_scheduler_action"
# What a mail says and where it goes. A mail that a mailbox owner created for
# their own server is changed by nobody else (an administrator editing the
# queue would otherwise send their own words through the owner's login).
CONTENT_FIELDS = frozenset(
    {
        "author_id",
        "email_from",
        "reply_to",
        "email_to",
        "email_cc",
        "recipient_ids",
        "partner_ids",
        "subject",
        "body",
        "body_html",
        "attachment_ids",
        "headers",
        "references",
        "mail_server_id",
        "model",
        "res_id",
        # the message it is the email of (subject, author, From, attachments):
        # another one would be another mail
        "mail_message_id",
    }
)


class MailMail(models.Model):
    _inherit = "mail.mail"

    def write(self, vals):
        # sudo: a guard: a client's change of what a mail says is checked (no RPC call
        # or route runs with env.su: a client's call runs as its user); superuser writes
        # are Odoo's own mail code and the addon's sending (state and failure fields).
        if not self.env.su and CONTENT_FIELDS & set(vals):
            self._mail_sync_check_content_change()
        return super().write(vals)

    def _mail_sync_check_content_change(self):
        """Refuse a change of what a mailbox owner's own mail says to anyone
        but that owner (the addon's own writes run as superuser)."""
        owners = self.env["ir.mail_server"]._mail_sync_personal_servers().owner_user_id
        # sudo: reading who created the mails being changed; nothing is written.
        for mail in self.sudo():
            if mail.create_uid in owners and mail.create_uid != self.env.user:
                raise AccessError(
                    _(
                        "This email was written by %(owner)s to leave through their "
                        "own mailbox: only they can change it.",
                        owner=mail.create_uid.name,
                    )
                )

    # ------------------------------------------------------------------
    # Routing
    # ------------------------------------------------------------------
    def _mail_sync_entitlements(self, servers):
        """mail id -> the personal server (among ``servers``) its creator owns
        and may send it through: the creator is the owner, the author is the
        owner's partner and the From is the owner's proven address."""
        owners = {}
        for server in servers:
            account = server.mail_sync_account_id
            if account.state in SENDING_STATES and account.email_proof:
                address = tools.email_normalize(server.from_filter)
                owners[server.owner_user_id.id] = (server, address)
        entitled = {}
        if not owners:
            return entitled
        # Mass mailings (mass_mailing installed) keep Odoo's own server choice:
        # a campaign is not mail its author writes from their mailbox.
        campaign = "mailing_id" in self._fields
        # sudo: reading who created each mail (the queue runs as another user);
        # nothing here is written.
        for mail in self.sudo():
            if campaign and mail.mailing_id:
                continue
            owner = owners.get(mail.create_uid.id)
            if (
                owner
                and mail.author_id == owner[0].owner_user_id.partner_id
                and tools.email_normalize(mail.email_from) == owner[1]
            ):
                entitled[mail.id] = owner[0]
        return entitled

    def _split_by_mail_configuration(self):
        servers = self.env["ir.mail_server"]._mail_sync_personal_servers()
        if not servers:
            yield from super()._split_by_mail_configuration()
            return
        yield from self._mail_sync_split(self._mail_sync_entitlements(servers))

    def _mail_sync_split(self, entitled):
        """Odoo's grouping, per entitlement: the owner's mails may use the
        owner's personal server, no other mail may use any."""
        parts = defaultdict(list)
        for mail_id in self.ids:
            server = entitled.get(mail_id)
            parts[server.id if server else False].append(mail_id)
        for server_id, mail_ids in parts.items():
            mails = self.browse(mail_ids).with_context(
                **allowed_servers_context([server_id] if server_id else [])
            )
            yield from super(MailMail, mails)._split_by_mail_configuration()

    # ------------------------------------------------------------------
    # Sending
    # ------------------------------------------------------------------
    def send(self, auto_commit=False, raise_exception=False, post_send_callback=None):
        servers = self.env["ir.mail_server"]._mail_sync_personal_servers()
        if not servers:
            return super().send(
                auto_commit=auto_commit,
                raise_exception=raise_exception,
                post_send_callback=post_send_callback,
            )
        entitled = self._mail_sync_entitlements(servers)
        refused = self._mail_sync_refuse_forced(servers, entitled, raise_exception)
        personal, other_ids = [], []
        for group in (self - refused)._mail_sync_split(entitled):
            if group[0] in servers.ids:
                personal.append(group)
            else:
                other_ids.extend(group[3])
        if other_ids:
            super(MailMail, self.browse(other_ids)).send(
                auto_commit=auto_commit,
                raise_exception=raise_exception,
                post_send_callback=post_send_callback,
            )
        for server_id, alias_domain_id, _smtp_from, batch_ids in personal:
            self.browse(batch_ids)._mail_sync_send(
                servers.browse(server_id),
                alias_domain_id,
                auto_commit=auto_commit,
                raise_exception=raise_exception,
                post_send_callback=post_send_callback,
            )
        return True

    def _mail_sync_refuse_forced(self, servers, entitled, raise_exception=False):
        """Fail the mails forced (``mail_server_id``) onto a personal server
        that is not their author's own: they are not sent anywhere else."""
        # sudo: the mails being sent (Odoo's queue or notifications, or administrators,
        # the only callers of send() with mail.mail access); the refusal written below
        # is computed here (state, the server's own name and owner), nothing of the
        # mail.
        refused = self.sudo().filtered(
            lambda mail: (
                mail.state == "outgoing"
                and mail.mail_server_id in servers
                and entitled.get(mail.id) != mail.mail_server_id
            )
        )
        for mail in refused:
            reason = mail.mail_server_id._mail_sync_refusal()
            mail.write(
                {
                    "state": "exception",
                    "failure_type": "mail_smtp",
                    "failure_reason": reason,
                }
            )
            mail._postprocess_sent_message(
                success_pids=[], failure_reason=reason, failure_type="mail_smtp"
            )
            if raise_exception:
                raise MailDeliveryException(_("Mail Delivery Failed"), reason)
        return self.browse(refused.ids)

    def _mail_sync_send(
        self,
        server,
        alias_domain_id,
        auto_commit=False,
        raise_exception=False,
        post_send_callback=None,
    ):
        """Send these mails (one group of ``_split_by_mail_configuration``)
        through ``server``, the personal server of their author."""
        # sudo: the mailbox of the personal server these mails are entitled to
        # (_mail_sync_entitlements: created by its owner, authored and From as them).
        account = server.sudo().mail_sync_account_id
        if account.state not in ("enabled", "error"):
            # Connection (two days of errors): no longer tried, until reconnected.
            self._mail_sync_wait(self._mail_sync_reason_stopped(account))
            return
        # sudo: the send ledger (administrators only read it): whom these mails already
        # reached, and the SMTP transactions this process makes for them.
        events = self.env["mail.sync.send.event"].sudo()
        session = self._mail_sync_session(account, server)
        server._mail_sync_follow_size_limit(session.profile)
        delivered = events._delivered(self.ids)
        sent, wake_up, stopped, reached = [], set(), None, False
        try:
            for mail in self:
                if mail.state != "outgoing":
                    continue
                if stopped is not None:  # the server would refuse it too
                    mail._mail_sync_wait(stopped[1], stopped[0])
                    continue
                session.begin(
                    mail.id, mail._mail_sync_recipients(), delivered.get(mail.id, ())
                )
                try:
                    mail._send(
                        auto_commit=False,
                        raise_exception=raise_exception,
                        smtp_session=session,
                        alias_domain_id=alias_domain_id,
                        mail_server=server,
                    )
                except smart_mail.Interrupted as stop:
                    outcome = mail._mail_sync_interrupted(account, stop)
                    if outcome:
                        wake_up.add(outcome[0] or fields.Datetime.now() + RETRY_OFFLINE)
                        if stop.scope == "mailbox":
                            stopped = outcome
                    if raise_exception and stop.action != "defer":
                        raise MailDeliveryException(
                            _("Mail Delivery Failed"), stop.reason
                        ) from None
                finally:
                    batches = session.take_sent()
                    reached = reached or bool(batches)
                    sent += batches
                if auto_commit is True:
                    events._record(account, sent)
                    sent = []
                    if post_send_callback:
                        post_send_callback([mail.id])
                    # Queue processing only (never under test): keep each mail's
                    # state, as Odoo's _send does.
                    self.env.cr.commit()  # pylint: disable=invalid-commit
        finally:
            session.quit()
            events._record(account, sent)
            if reached:
                self.env["mail.sync.turn"]._record_success(account)
            self._mail_sync_wake_up(wake_up)
        if post_send_callback:
            post_send_callback(self.ids)

    def _mail_sync_session(self, account, server):
        now = fields.Datetime.now()
        tz = account.user_id.tz
        return smart_mail.GovernedSession(
            server._mail_sync_open_connection,
            self.env["mail.sync.quota.override"]._profile_for(account),
            self.env["mail.sync.send.event"]._usage(account, now),
            clock=fields.Datetime.now,
            tz=pytz.timezone(tz) if tz else None,
            from_filter=server.from_filter,
            # The owner's own mail, From their address (its entitlement): Odoo
            # keeps the mail's From as it is, no header to rewrite.
            smtp_from=None,
            host=account.smtp_host or "",
            port=account.smtp_port,
        )

    def _mail_sync_recipients(self):
        """Every envelope recipient of this mail, as Odoo will send it; empty when
        Odoo sends it as a single email (its own recipients then are all)."""
        self.ensure_one()
        if len(self.recipient_ids) + bool(self.email_to or self.email_cc) <= 1:
            return []
        addresses = tools.mail.email_normalize_all(self.email_to or "")
        addresses += tools.mail.email_normalize_all(self.email_cc or "")
        for partner in self.recipient_ids:
            addresses += tools.mail.email_normalize_all(partner.email or "")
        return addresses

    # ------------------------------------------------------------------
    # Deferred, failed, waiting
    # ------------------------------------------------------------------
    def _mail_sync_interrupted(self, account, stop):
        """Apply ``stop`` to this mail, whose sending Odoo's ``_send`` began
        (it marked the mail and its notifications failed before sending).
        Returns ``(retry_at, reason)`` for a mail that waits, None when failed."""
        self.ensure_one()
        if stop.action == "fail":
            reason = stop.reason
            self.write(
                {
                    "state": "exception",
                    "failure_type": "unknown",
                    "failure_reason": reason,
                }
            )
            self._postprocess_sent_message(
                success_pids=[], failure_reason=reason, failure_type="unknown"
            )
            self.env["mail.sync.log"]._record(
                account,
                errors.MailSyncError(
                    stop.decision.code if stop.decision else "message_too_large",
                    reason,
                    side="smtp",
                    host=account.smtp_host or "",
                    port=account.smtp_port,
                ),
            )
            return None
        retry_at = _whole_second(stop.retry_at) if stop.retry_at else False
        if stop.action == "offline":
            self.env["mail.sync.turn"]._record_error(account, stop.error)
            reason = _(
                "Waiting: %(problem)s It is retried automatically; it is never sent "
                "through another server.",
                problem=account._describe(stop.error)[0],
            )
        elif stop.decision is not None:  # the governor: a quota would be exceeded
            reason = _("Waiting for the sending limits: %(reason)s", reason=stop.reason)
        else:  # the server refused it for now (quota reply or another 4xx)
            self.env["mail.sync.log"]._record(account, stop.error)
            reason = _(
                "Waiting: your provider refused to send it for now (%(answer)s). "
                "It leaves automatically at %(time)s.",
                answer=stop.reason,
                time=format_datetime(self.env, retry_at, tz=account.user_id.tz),
            )
        self._mail_sync_wait(reason, retry_at)
        # sudo: this mail's email notifications (by its id) back to ready, constants
        # only: the mail waits in Odoo's queue.
        self.env["mail.notification"].sudo().search(
            [
                ("mail_mail_id", "=", self.id),
                ("notification_type", "=", "email"),
                ("notification_status", "=", "exception"),
            ]
        ).write(
            {
                "notification_status": "ready",
                "failure_type": False,
                "failure_reason": False,
            }
        )
        return retry_at, reason

    def _mail_sync_wait(self, reason, retry_at=False):
        """Keep these mails queued, with why, until ``retry_at`` (or the next
        queue run)."""
        self.write(
            {
                "state": "outgoing",
                "scheduled_date": retry_at or False,
                "failure_type": False,
                "failure_reason": reason,
            }
        )

    def _mail_sync_reason_stopped(self, account):
        return _(
            "Waiting: Mail Sync stopped trying %(email)s after two days of errors. "
            "Reconnect the mailbox and this mail leaves through it.",
            email=account.email,
        )

    def _mail_sync_wake_up(self, moments):
        """Run the mail queue when deferred mails may go (it runs hourly)."""
        cron = self.env.ref(QUEUE_CRON, raise_if_not_found=False)
        if cron and moments:
            # sudo: Odoo's mail queue runs at moments computed here (the governor's
            # windows, fixed retry delays), no value of a mail or a client.
            cron.sudo()._trigger(sorted(moments))


def _whole_second(moment):
    """Up to the next whole second: Odoo stores ``scheduled_date`` without
    microseconds, and the mail must not come back before its window frees."""
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return moment.replace(tzinfo=None)
