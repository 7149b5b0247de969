# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Connecting a mailbox (a real IMAP and SMTP test) and disconnecting it; the
host policy and the settings every connection of a mailbox is made with."""

import dataclasses
import functools
import logging

from odoo import _, api, fields, models

from ..exceptions import MailSyncUserError
from ..lib import errors
from ..lib.imap import session as imap_session
from ..lib.net import host_policy
from ..lib.net.deadline import Deadline
from ..lib.sending import address_proof, smtp_session

_logger = logging.getLogger(__name__)

# How long Connect watches the Inbox for the address confirmation (seconds).
PROOF_SECONDS_PARAM = "mail_sync_crm.address_proof_seconds"
CONNECT_TIMEOUT_PARAM = "mail_sync_crm.connect_timeout_seconds"
DEFAULT_CONNECT_SECONDS = 10.0


@functools.lru_cache(maxsize=8)
def _host_policy(setting):
    """The policy of the system parameter's text, said once in the log when
    it holds entries that are neither an address range nor a host name."""
    policy = host_policy.HostPolicy.parse(setting)
    if policy.invalid:
        _logger.warning(
            "mail_sync_crm: %s: ignored %s (neither an address, an address range"
            " nor a host name)",
            host_policy.ALLOWED_HOSTS_PARAM,
            ", ".join(policy.invalid),
        )
    return policy


class MailSyncConnectError(MailSyncUserError):
    """Connect failed: the dialog is titled after the failing side (``title``)
    and closing it reloads the form (the new Error Log entry). See
    static/src/errors/."""


class MailSyncAccount(models.Model):
    _inherit = "mail.sync.account"

    imap_cert_fingerprint = fields.Char(
        string="IMAP Certificate (SHA-256)", readonly=True, copy=False
    )
    smtp_cert_fingerprint = fields.Char(
        string="SMTP Certificate (SHA-256)", readonly=True, copy=False
    )
    is_owner = fields.Boolean(
        compute="_compute_is_owner",
        help="The current user owns this mailbox: only they see its connection "
        "editable and the Connect buttons (the server refuses anyone else too).",
    )
    inbox_folder = fields.Char(readonly=True, copy=False)
    sent_folder = fields.Char(readonly=True, copy=False)
    connected_date = fields.Datetime(
        string="Connected On",
        readonly=True,
        copy=False,
        help="When the mailbox was enabled: its historical sync covers the leads "
        "that existed at that moment.",
    )

    # ------------------------------------------------------------------
    # Connect
    # ------------------------------------------------------------------

    @api.depends_context("uid")
    @api.depends("user_id")
    def _compute_is_owner(self):
        for account in self:
            account.is_owner = account.user_id == self.env.user

    @api.model
    def _mail_sync_host_policy(self):
        """The hosts a mailbox may connect to besides public addresses (system
        parameter ``mail_sync_crm.allowed_hosts``): every IMAP and SMTP
        connection of a mailbox, whatever starts it, is made with the settings
        below, which carry this policy; the sessions check it before each
        connection (``lib.host_policy``)."""
        # sudo: read-only: a system parameter of a fixed name, which only
        # administrators write.
        setting = (
            self.env["ir.config_parameter"]
            .sudo()
            .get_param(host_policy.ALLOWED_HOSTS_PARAM, "")
        )
        return _host_policy((setting or "").strip())

    def _imap_settings(self):
        """The IMAP settings with the password (or access token) in clear;
        raises a MailSyncError when none is stored or it cannot be decrypted."""
        self.ensure_one()
        host = (self.imap_host or "").strip()
        return imap_session.ImapSettings(
            host=host,
            port=self.imap_port,
            encryption=self.imap_encryption,
            allow_self_signed=self.imap_allow_self_signed,
            pinned_fingerprint=self.imap_cert_fingerprint or None,
            host_policy=self._mail_sync_host_policy(),
            **self._mail_sync_credentials(
                (self.imap_login or self.email or "").strip(),
                "imap_secret",
                "imap",
                host,
                self.imap_port,
            ),
        )

    def _smtp_settings(self):
        """The SMTP settings with the password in clear (see _imap_settings)."""
        self.ensure_one()
        host = (self.smtp_host or "").strip()
        field = "imap_secret" if self.smtp_same_credentials else "smtp_secret"
        return smtp_session.SmtpSettings(
            host=host,
            port=self.smtp_port,
            encryption=self.smtp_encryption,
            allow_self_signed=self.smtp_allow_self_signed,
            pinned_fingerprint=self.smtp_cert_fingerprint or None,
            host_policy=self._mail_sync_host_policy(),
            **self._mail_sync_credentials(
                self._mail_sync_smtp_login(), field, "smtp", host, self.smtp_port
            ),
        )

    def _mail_sync_credentials(self, login, field, side, host, port):
        """How the session signs in: ``login`` and the stored password of
        ``field`` (an OAuth mailbox signs in with an access token instead:
        ``mail_sync_account_oauth.py``)."""
        return {"login": login, "password": self._password(field, side, host, port)}

    def _password(self, field, side, host, port):
        password = self._read_secret(field, side=side)
        if not password:
            raise errors.MailSyncError(
                "password_missing", f"no {field}", side=side, host=host, port=port
            )
        return password

    def _check_ready_to_connect(self):
        missing = []
        if not self.imap_host:
            missing.append(_("IMAP server"))
        if not self.smtp_host:
            missing.append(_("SMTP server"))
        # An OAuth mailbox signs in with its tokens (mail_sync_account_oauth.py).
        passwords = not self._mail_sync_uses_oauth()
        # sudo: read-only: whether a password is stored for the mailbox its owner
        # connects (action_connect checked the owner); nothing of the secret leaves.
        if passwords and not self.sudo().imap_secret:
            missing.append(_("IMAP password"))
        # sudo: read-only: likewise, the SMTP password.
        if passwords and not self.smtp_same_credentials and not self.sudo().smtp_secret:
            missing.append(_("SMTP password"))
        if missing:
            raise MailSyncUserError(
                _("Fill in before connecting: %(fields)s", fields=", ".join(missing)),
                _("Settings missing"),
            )

    def _connect_error_title(self, err):
        """The error dialog's title: which side of the connection failed."""
        if err.side == "imap":
            return self.env._("Incoming mail (IMAP) failed")
        if err.side == "smtp":
            return self.env._("Outgoing mail (SMTP) failed")
        return self.env._("Connecting failed")

    def action_connect(self):
        """Test IMAP and SMTP for real, then enable the mailbox, or leave it Pending
        when the company's limit is reached. On failure, log and raise a UserError
        naming the failing side and how to fix it."""
        self.ensure_one()
        self._check_owner()
        self._check_ready_to_connect()
        self.env["mail.sync.connect.attempt"]._mail_sync_count_attempt(self.env.user)
        reconnecting = self.state in ("enabled", "error")
        try:
            self._test_and_enable()
        except errors.MailSyncError as err:
            self._log_error(err, persist=True)
            message, hint = self._describe(err)
            raise MailSyncConnectError(
                self.env._(
                    "%(message)s\n\nHow to fix it: %(hint)s", message=message, hint=hint
                ),
                self._connect_error_title(err),
            ) from err
        title, message = self._connected_message(reconnecting)
        return self._notification(
            message, "success" if self.state == "enabled" else "warning", title=title
        )

    def _refuse_untested_change(self, err):
        """A change of where or as whom this connected mailbox connects did not
        work (``err``: a MailSyncError, or the UserError naming what is
        missing): nothing of it was saved. Log it and say so."""
        if isinstance(err, errors.MailSyncError):
            self._log_error(err, persist=True)
            message, hint = self._describe(err)
            title = self._connect_error_title(err)
        else:
            message, hint = err.args[0], _("Fill it in and save again.")
            title = self.env._("Connecting failed")
        raise MailSyncConnectError(
            self.env._(
                "Not saved: %(message)s\n\nHow to fix it: %(hint)s\n\nYour mailbox "
                "keeps the settings that work until new ones do.",
                message=message,
                hint=hint,
            ),
            title,
        ) from err

    @api.model
    def _connect_seconds(self):
        """How long Connect may take, IMAP and SMTP together (system parameter
        ``mail_sync_crm.connect_timeout_seconds``): far less than a sync's
        turn, for a person waits, holding one of Odoo's HTTP workers."""
        # sudo: read-only: a system parameter of a fixed name.
        value = (
            self.env["ir.config_parameter"].sudo().get_param(CONNECT_TIMEOUT_PARAM, "")
        )
        try:
            seconds = float(value)
        except ValueError:
            seconds = 0
        return seconds if seconds > 0 else DEFAULT_CONNECT_SECONDS

    def _test_and_enable(self):
        """Test IMAP and SMTP for real (raises a MailSyncError) within Connect's
        deadline, then Enabled, or Pending on the company's limit; the
        historical sync starts."""
        self.ensure_one()
        seconds = self._connect_seconds()
        deadline = Deadline(seconds, code="timeout")
        imap = self._imap_settings()
        smtp = self._smtp_settings()
        found = imap_session.check_imap(
            dataclasses.replace(imap, timeout=min(imap.timeout, seconds)), deadline
        )
        smtp_found = smtp_session.check_smtp(
            dataclasses.replace(smtp, timeout=min(smtp.timeout, seconds)), deadline
        )
        vals = {
            "email_proof": self._prove_address(
                imap, smtp, found.fingerprint, smtp_found.fingerprint
            ),
            "inbox_folder": found.inbox,
            "sent_folder": found.sent,
            "imap_cert_fingerprint": found.fingerprint
            if self.imap_allow_self_signed
            else False,
            "smtp_cert_fingerprint": smtp_found.fingerprint
            if self.smtp_allow_self_signed
            else False,
            "first_error_date": False,
            "last_error": False,
            # the log's entries so far are history: "Errors" counts from here
            **self._log_cleared_values(),
            # the login works: the scheduled sync tries it at its next run
            "auth_failure_count": 0,
            "next_attempt_date": False,
        }
        if self.state in ("enabled", "error") or self.company_id._mail_sync_has_room(
            exclude=self
        ):
            vals.update(state="enabled", pending_date=False)
            if self.state not in ("enabled", "error"):
                vals["connected_date"] = fields.Datetime.now()
        else:
            vals.update(state="pending", pending_date=fields.Datetime.now())
        # sudo: the addon's own fields of a mailbox its owner connects (callers
        # action_connect and _oauth_finish checked the owner): vals computed above from
        # the owner's own servers' answers and the company's limit, nothing else.
        self.sudo().write(vals)
        self._after_connect()
        self._on_enabled()

    def _prove_address(self, imap, smtp, imap_fingerprint, smtp_fingerprint):
        """How the mailbox's address is proven to be its own (``email_proof``),
        False when it is not: mail sent from Odoo then keeps Odoo's usual
        sender (``mail_mail.py``) and the form says why (Confirm Address)."""
        if self._mail_sync_uses_oauth():
            return "oauth"  # the provider confirmed the address (oauth.check_account)
        if address_proof.same_address(imap.login, self.email):
            return "login"
        if self.email_proof == "round_trip":
            return "round_trip"  # erased when the address changes (write)
        # sudo: read-only: a system parameter of a fixed name.
        seconds = float(
            self.env["ir.config_parameter"]
            .sudo()
            .get_param(PROOF_SECONDS_PARAM, address_proof.WAIT_SECONDS)
        )
        try:
            arrived = address_proof.prove_by_round_trip(
                imap,
                smtp,
                self.email.strip(),
                imap_fingerprint=imap_fingerprint,
                smtp_fingerprint=smtp_fingerprint,
                wait_seconds=seconds,
            )
        except errors.MailSyncError as err:
            # IMAP and SMTP were tested a moment ago: a failure here leaves the
            # address unconfirmed (the form offers Confirm Address), no more.
            _logger.info(
                "mail_sync_crm: mailbox %s: address not confirmed (%s)",
                self.id,
                err.code,
            )
            arrived = False
        return "round_trip" if arrived else False

    def action_confirm_address(self):
        """Send a new confirmation email and watch the Inbox for it again."""
        self.ensure_one()
        self._check_owner()
        if self.state not in ("enabled", "error", "pending"):
            raise MailSyncUserError(
                _("Connect the mailbox first."), _("Mailbox not connected")
            )
        imap = self._imap_settings()
        smtp = self._smtp_settings()
        proof = self._prove_address(
            imap, smtp, imap.pinned_fingerprint, smtp.pinned_fingerprint
        )
        # sudo: email_proof is the addon's field; its value comes from the
        # round trip just made, not from the caller.
        self.sudo().email_proof = proof
        if not proof:
            return self._notification(
                _(
                    "The confirmation email sent to %(address)s did not arrive in "
                    "this mailbox's Inbox. Check that this mailbox receives the "
                    "mail sent to that address, or use its username as address.",
                    address=self.email,
                ),
                "warning",
                title=_("Address not confirmed"),
            )
        return self._notification(
            _("Mail you send from Odoo now leaves through your mailbox."),
            "success",
            title=_("Address confirmed"),
        )

    def _connected_message(self, reconnecting=False):
        """(title, message) telling the owner their mailbox is connected
        (``reconnecting``: it was already, Test & Reconnect)."""
        if self.state == "pending":
            title = _("Mailbox pending")
            message = _(
                "Your mailbox works, but %(company)s already syncs as many mailboxes "
                "as it may (limit: %(limit)s). It starts syncing as soon as an "
                "administrator raises the limit or someone disconnects.",
                company=self.company_id.name,
                limit=self.company_id.mail_sync_user_limit,
            )
        elif reconnecting:
            title = _("Mailbox connected")
            message = _(
                "IMAP and SMTP work with these settings; syncing goes on from where "
                "it was."
            )
        else:
            title = _("Mailbox connected")
            message = _(
                "IMAP and SMTP work. Your mail with known leads now appears on their "
                "chatter, history included."
            )
        return title, message

    def _after_connect(self):
        """Hook: IMAP and SMTP were just tested successfully (Enabled or Pending)."""
        # Smart Mail: the mailbox's personal outgoing server (created or updated).
        self.env["ir.mail_server"]._mail_sync_upsert(self)

    def _on_enabled(self):
        """Called after a connect or a promotion enabled mailboxes: make sure their
        folders are tracked and start the (historical) sync right away."""
        for account in self.filtered(lambda a: a.state == "enabled"):
            account._ensure_folders()
        if self.filtered(lambda a: a.state == "enabled"):
            self.env.ref("mail_sync_crm.ir_cron_mail_sync")._trigger()

    # ------------------------------------------------------------------
    # Disconnect
    # ------------------------------------------------------------------
    def action_open_disable_wizard(self):
        self.ensure_one()
        self._check_owner_or_admin()
        return {
            "type": "ir.actions.act_window",
            "name": _("Disconnect Mailbox"),
            "res_model": "mail.sync.disable.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_account_id": self.id},
        }

    def action_disable(self, keep_history=True):
        """Disconnect: keep or remove the synced communication, then return to draft
        with credentials, pinned certificates and checkpoints erased. The owner or
        an administrator (force-disconnect) may do it."""
        self._check_owner_or_admin()
        if not keep_history:
            self._remove_synced_history()
        companies = self.company_id
        self._before_disconnect()
        # sudo: disconnecting mailboxes whose owner or an administrator asked for it
        # (_check_owner_or_admin above): their folders go. keep_history, the caller's
        # choice, only says whether their synced history goes too.
        self.sudo().folder_ids.unlink()
        # sudo: the constants of _disconnected_values() on those mailboxes.
        self.sudo().write(self._disconnected_values())
        # sudo: Pending mailboxes of those mailboxes' companies take the freed places
        # (constants).
        self.sudo()._promote_pending(companies)
        return True

    def _before_disconnect(self):
        """Hook: the mailbox is about to return to draft (credentials erased)."""
        # Smart Mail: the owner's mail goes through the company server again.
        self.env["ir.mail_server"]._mail_sync_remove(self)

    def _disconnected_values(self):
        return {
            "state": "draft",
            "imap_secret": False,
            "smtp_secret": False,
            "imap_cert_fingerprint": False,
            "smtp_cert_fingerprint": False,
            "inbox_folder": False,
            "sent_folder": False,
            "connected_date": False,
            "email_proof": False,
            "pending_date": False,
            "first_error_date": False,
            "last_error": False,
            "auth_failure_count": 0,
            "next_attempt_date": False,
            "last_attempt_date": False,
        }

    def _remove_synced_history(self):
        """Remove every chatter message these mailboxes introduced, unless another
        mailbox that still syncs recorded it too (it then becomes that mailbox's);
        mail that was on the chatter anyway (sent from Odoo) stays."""
        # sudo: the ledger of the mailboxes being disconnected (action_disable checked
        # the owner or an administrator): their rows go, with the chatter messages they
        # introduced that no mailbox still syncing recorded too.
        Ledger = self.env["mail.sync.message"].sudo()
        mine = Ledger.search([("account_id", "in", self.ids)])
        messages = mine.filtered("introduced").mail_message_id
        heirs = Ledger.browse()
        if messages:
            others = Ledger.search(
                [
                    ("mail_message_id", "in", messages.ids),
                    ("account_id", "not in", self.ids),
                    ("account_id.state", "in", ("enabled", "error", "pending")),
                ],
                order="date, id",
            )
            kept = others.mail_message_id
            for message in kept:
                rows = others.filtered(lambda r, m=message: r.mail_message_id == m)
                heirs |= rows[:1]
            (messages - kept).unlink()
        # One mailbox introduces a (Message-ID, lead) pair (store/claims.py): the
        # heirs take over once these mailboxes' rows are gone.
        mine.exists().unlink()
        heirs.write({"introduced": True})
        # an email kept for an heir shows what the heir's level lets colleagues see
        self.env["mail.sync.content"]._mail_sync_apply(heirs.mail_message_id)
