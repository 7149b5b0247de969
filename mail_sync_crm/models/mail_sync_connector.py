# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Connecting a mailbox (a real IMAP and SMTP test, the address proof) and
disconnecting it; the host policy and the server settings every connection of
a mailbox is made with, signing in with its password or its OAuth access token.

A service: every method is private (no RPC); the mailbox's buttons
(``mail.sync.account.action_*``) check who presses them and delegate here.
"""

import dataclasses
import functools
import logging

from odoo import _, api, fields, models

from ..exceptions import MailSyncConnectError, MailSyncUserError
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


class MailSyncConnector(models.AbstractModel):
    _name = "mail.sync.connector"
    _description = "Mail Sync Connect and Disconnect"

    # ------------------------------------------------------------------
    # Server settings
    # ------------------------------------------------------------------
    @api.model
    def _host_policy(self):
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

    @api.model
    def _imap_settings(self, account, signs_in=None):
        """The IMAP settings of ``account`` with the password (or access token)
        in clear; raises a MailSyncError when none is stored or it cannot be
        decrypted. A run builds them once per mailbox and passes them on
        (:meth:`_imap_settings_of`). ``signs_in``: see :meth:`_credentials`."""
        account.ensure_one()
        host = (account.imap_host or "").strip()
        return imap_session.ImapSettings(
            host=host,
            port=account.imap_port,
            encryption=account.imap_encryption,
            allow_self_signed=account.imap_allow_self_signed,
            pinned_fingerprint=account.imap_cert_fingerprint or None,
            host_policy=self._host_policy(),
            **self._credentials(
                account,
                (account.imap_login or account.email or "").strip(),
                "imap_secret",
                "imap",
                host,
                account.imap_port,
                signs_in,
            ),
        )

    @api.model
    def _imap_settings_of(self, accounts):
        """{mailbox id: its IMAP settings, or the MailSyncError building them
        raised}: :meth:`_imap_settings` of each of ``accounts``, with the OAuth
        tokens looked up and the key read once for all of them (a check for
        news builds thousands in a run)."""
        oauth = self.env["mail.sync.oauth.token"]._signing_in(accounts)
        try:
            key = self.env["mail.sync.secret.key"]._key()
        except errors.MailSyncError:
            key = None  # each mailbox's own read says why, as alone
        built = {}
        for account in accounts:
            try:
                built[account.id] = self._imap_settings(
                    account, (account.id in oauth, key)
                )
            except errors.MailSyncError as err:
                built[account.id] = err
        return built

    @api.model
    def _smtp_settings(self, account):
        """The SMTP settings of ``account`` with the password in clear (see
        _imap_settings)."""
        account.ensure_one()
        host = (account.smtp_host or "").strip()
        field = "imap_secret" if account.smtp_same_credentials else "smtp_secret"
        return smtp_session.SmtpSettings(
            host=host,
            port=account.smtp_port,
            encryption=account.smtp_encryption,
            allow_self_signed=account.smtp_allow_self_signed,
            pinned_fingerprint=account.smtp_cert_fingerprint or None,
            host_policy=self._host_policy(),
            **self._credentials(
                account,
                account._mail_sync_smtp_login(),
                field,
                "smtp",
                host,
                account.smtp_port,
            ),
        )

    @api.model
    def _credentials(self, account, login, field, side, host, port, signs_in=None):
        """How the session signs in: an OAuth mailbox with its address and an
        access token (``mail.sync.oauth.token``), any other with ``login`` and
        the stored password of ``field``. ``signs_in``: (whether it uses OAuth,
        the secrets' key or None) when the caller looked them up for many
        mailboxes at once; looked up here otherwise."""
        uses_oauth, key = signs_in or (account._mail_sync_uses_oauth(), None)
        if uses_oauth:
            return {
                "login": (account.email or "").strip(),
                "password": "",
                "access_token": self.env["mail.sync.oauth.token"]._access_token(
                    account
                ),
            }
        return {
            "login": login,
            "password": self._password(account, field, side, host, port, key),
        }

    @api.model
    def _password(self, account, field, side, host, port, key=None):
        password = self.env["mail.sync.secret.key"]._read(
            account, field, side=side, key=key
        )
        if not password:
            raise errors.MailSyncError(
                "password_missing", f"no {field}", side=side, host=host, port=port
            )
        return password

    # ------------------------------------------------------------------
    # A password goes only where it was entered for
    # ------------------------------------------------------------------
    @api.model
    def _secret_destinations(self, account):
        """For each secret, where it is sent: (protocol, host, port, encryption,
        login) of each server it logs in to."""
        account.ensure_one()
        imap = (
            "imap",
            (account.imap_host or "").strip().lower(),
            account.imap_port,
            account.imap_encryption,
            (account.imap_login or account.email or "").strip(),
        )
        smtp = (
            "smtp",
            (account.smtp_host or "").strip().lower(),
            account.smtp_port,
            account.smtp_encryption,
            account._mail_sync_smtp_login(),
        )
        if account.smtp_same_credentials:
            return {"imap_secret": {imap, smtp}, "smtp_secret": set()}
        return {"imap_secret": {imap}, "smtp_secret": {smtp}}

    @api.model
    def _erase_moved_secrets(self, accounts, before, vals):
        """Erase each stored secret of ``accounts`` that would now go to a server, port,
        encryption or login it was not entered for (``before``: the
        destinations before writing ``vals``), unless ``vals`` enters it anew."""
        typed = {
            secret
            for password, secret in (
                ("imap_password", "imap_secret"),
                ("smtp_password", "smtp_secret"),
            )
            if vals.get(password)
        }
        for account in accounts:
            after = self._secret_destinations(account)
            erase = {
                field: False
                for field, destinations in after.items()
                if field not in typed and destinations - before[account.id][field]
            }
            # sudo: erasing (False) the secrets whose destination this write moved
            # (write() allowed it to the caller); nothing of vals is stored.
            if erase and any(account.sudo()[field] for field in erase):
                account.sudo().write(erase)

    # ------------------------------------------------------------------
    # Connect
    # ------------------------------------------------------------------
    @api.model
    def _check_ready(self, account):
        missing = []
        if not account.imap_host:
            missing.append(_("IMAP server"))
        if not account.smtp_host:
            missing.append(_("SMTP server"))
        # An OAuth mailbox signs in with its tokens (mail.sync.oauth.token).
        passwords = not account._mail_sync_uses_oauth()
        # sudo: read-only: whether a password is stored for the mailbox its owner
        # connects (action_connect checked the owner); nothing of the secret leaves.
        if passwords and not account.sudo().imap_secret:
            missing.append(_("IMAP password"))
        # sudo: read-only: likewise, the SMTP password.
        if (
            passwords
            and not account.smtp_same_credentials
            and not account.sudo().smtp_secret
        ):
            missing.append(_("SMTP password"))
        if missing:
            raise MailSyncUserError(
                _("Fill in before connecting: %(fields)s", fields=", ".join(missing)),
                _("Settings missing"),
            )

    @api.model
    def _error_title(self, err):
        """The error dialog's title: which side of the connection failed."""
        if err.side == "imap":
            return self.env._("Incoming mail (IMAP) failed")
        if err.side == "smtp":
            return self.env._("Outgoing mail (SMTP) failed")
        return self.env._("Connecting failed")

    @api.model
    def _connect(self, account):
        """Test IMAP and SMTP for real, then enable ``account`` (its owner
        checked by the button), or leave it Pending when the company's limit
        is reached. On failure, log and raise a UserError naming the failing
        side and how to fix it."""
        self._check_ready(account)
        self.env["mail.sync.connect.attempt"]._mail_sync_count_attempt(self.env.user)
        reconnecting = account.state in ("enabled", "error")
        try:
            self._test_and_enable(account)
        except errors.MailSyncError as err:
            self.env["mail.sync.log"]._record(account, err, persist=True)
            message, hint = account._describe(err)
            raise MailSyncConnectError(
                self.env._(
                    "%(message)s\n\nHow to fix it: %(hint)s", message=message, hint=hint
                ),
                self._error_title(err),
            ) from err
        title, message = self._connected_message(account, reconnecting)
        return account._notification(
            message, "success" if account.state == "enabled" else "warning", title=title
        )

    @api.model
    def _refuse_untested_change(self, account, err):
        """A change of where or as whom connected ``account`` connects did not
        work (``err``: a MailSyncError, or the UserError naming what is
        missing): nothing of it was saved. Log it and say so."""
        if isinstance(err, errors.MailSyncError):
            self.env["mail.sync.log"]._record(account, err, persist=True)
            message, hint = account._describe(err)
            title = self._error_title(err)
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
        ``mail_sync_crm.connect_timeout_seconds``): far less than a turn, for a
        person waits, holding one of Odoo's HTTP workers."""
        # sudo: read-only: a system parameter of a fixed name.
        value = (
            self.env["ir.config_parameter"].sudo().get_param(CONNECT_TIMEOUT_PARAM, "")
        )
        try:
            seconds = float(value)
        except ValueError:
            seconds = 0
        return seconds if seconds > 0 else DEFAULT_CONNECT_SECONDS

    @api.model
    def _test_and_enable(self, account):
        """Test IMAP and SMTP of ``account`` for real (raises a MailSyncError)
        within Connect's deadline, then Enabled, or Pending on the company's
        limit; the historical sync starts."""
        account.ensure_one()
        seconds = self._connect_seconds()
        deadline = Deadline(seconds, code="timeout")
        imap = self._imap_settings(account)
        smtp = self._smtp_settings(account)
        found = imap_session.check_imap(
            dataclasses.replace(imap, timeout=min(imap.timeout, seconds)), deadline
        )
        smtp_found = smtp_session.check_smtp(
            dataclasses.replace(smtp, timeout=min(smtp.timeout, seconds)), deadline
        )
        vals = {
            "email_proof": self._prove_address(
                account, imap, smtp, found.fingerprint, smtp_found.fingerprint
            ),
            "inbox_folder": found.inbox,
            "sent_folder": found.sent,
            "imap_cert_fingerprint": found.fingerprint
            if account.imap_allow_self_signed
            else False,
            "smtp_cert_fingerprint": smtp_found.fingerprint
            if account.smtp_allow_self_signed
            else False,
            "first_error_date": False,
            "last_error": False,
            # the log's entries so far are history: "Errors" counts from here
            **self.env["mail.sync.log"]._cleared_values(account),
            # the login works: the scheduled sync tries it at its next run
            "auth_failure_count": 0,
            "next_attempt_date": False,
        }
        if account.state in (
            "enabled",
            "error",
        ) or account.company_id._mail_sync_has_room(exclude=account):
            vals.update(state="enabled", pending_date=False)
            if account.state not in ("enabled", "error"):
                vals["connected_date"] = fields.Datetime.now()
        else:
            vals.update(state="pending", pending_date=fields.Datetime.now())
        # sudo: the addon's own fields of a mailbox its owner connects (callers
        # action_connect and mail.sync.oauth._finish checked the owner): vals computed
        # above from the owner's own servers' answers and the company's limit.
        account.sudo().write(vals)
        # Smart Mail: the mailbox's personal outgoing server (created or updated).
        self.env["ir.mail_server"]._mail_sync_upsert(account)
        self._on_enabled(account)

    @api.model
    def _prove_address(self, account, imap, smtp, imap_fingerprint, smtp_fingerprint):
        """How the address of ``account`` is proven to be its own
        (``email_proof``), False when it is not: mail sent from Odoo then keeps
        Odoo's usual sender (``mail_mail.py``) and the form says why (Confirm
        Address)."""
        if account._mail_sync_uses_oauth():
            return "oauth"  # the provider confirmed the address (oauth.check_account)
        if address_proof.same_address(imap.login, account.email):
            return "login"
        if account.email_proof == "round_trip":
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
                account.email.strip(),
                imap_fingerprint=imap_fingerprint,
                smtp_fingerprint=smtp_fingerprint,
                wait_seconds=seconds,
            )
        except errors.MailSyncError as err:
            # IMAP and SMTP were tested a moment ago: a failure here leaves the
            # address unconfirmed (the form offers Confirm Address), no more.
            _logger.info(
                "mail_sync_crm: mailbox %s: address not confirmed (%s)",
                account.id,
                err.code,
            )
            arrived = False
        return "round_trip" if arrived else False

    @api.model
    def _confirm_address(self, account):
        """Send a new confirmation email through ``account`` (its owner
        checked by the button) and watch its Inbox for it again."""
        if account.state not in ("enabled", "error", "pending"):
            raise MailSyncUserError(
                _("Connect the mailbox first."), _("Mailbox not connected")
            )
        imap = self._imap_settings(account)
        smtp = self._smtp_settings(account)
        proof = self._prove_address(
            account, imap, smtp, imap.pinned_fingerprint, smtp.pinned_fingerprint
        )
        # sudo: email_proof is the addon's field; its value comes from the
        # round trip just made, not from the caller.
        account.sudo().email_proof = proof
        if not proof:
            return account._notification(
                _(
                    "The confirmation email sent to %(address)s did not arrive in "
                    "this mailbox's Inbox. Check that this mailbox receives the "
                    "mail sent to that address, or use its username as address.",
                    address=account.email,
                ),
                "warning",
                title=_("Address not confirmed"),
            )
        return account._notification(
            _("Mail you send from Odoo now leaves through your mailbox."),
            "success",
            title=_("Address confirmed"),
        )

    @api.model
    def _connected_message(self, account, reconnecting=False):
        """(title, message) telling the owner their mailbox is connected
        (``reconnecting``: it was already, Test & Reconnect)."""
        if account.state == "pending":
            title = _("Mailbox pending")
            message = _(
                "Your mailbox works, but %(company)s already syncs as many mailboxes "
                "as it may (limit: %(limit)s). It starts syncing as soon as an "
                "administrator raises the limit or someone disconnects.",
                company=account.company_id.name,
                limit=account.company_id.mail_sync_user_limit,
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

    @api.model
    def _on_enabled(self, accounts):
        """After a connect or a promotion enabled ``accounts``: make sure their
        folders are tracked and start the (historical) sync right away."""
        enabled = accounts.filtered(lambda a: a.state == "enabled")
        for account in enabled:
            self.env["mail.sync.folder"]._ensure_for(account)
        if enabled:
            self.env.ref("mail_sync_crm.ir_cron_mail_sync")._trigger()

    # ------------------------------------------------------------------
    # Disconnect
    # ------------------------------------------------------------------
    @api.model
    def _disconnect(self, accounts, keep_history=True):
        """Disconnect ``accounts`` (the owner or an administrator checked by the
        button): keep or remove the synced communication, then back to draft
        with credentials, tokens, pinned certificates and checkpoints erased."""
        if not keep_history:
            self._remove_synced_history(accounts)
        companies = accounts.company_id
        # Smart Mail: the owner's mail goes through the company server again.
        self.env["ir.mail_server"]._mail_sync_remove(accounts)
        # The OAuth tokens are revoked where the provider can, and erased.
        self.env["mail.sync.oauth.token"]._revoke_and_erase(accounts)
        # sudo: disconnecting mailboxes whose owner or an administrator asked for it
        # (_check_owner_or_admin in action_disable): their folders go. keep_history,
        # the caller's choice, only says whether their synced history goes too.
        accounts.sudo().folder_ids.unlink()
        # sudo: the constants of _disconnected_values() on those mailboxes.
        accounts.sudo().write(self._disconnected_values())
        # sudo: Pending mailboxes of those mailboxes' companies take the freed places
        # (constants).
        self.env["mail.sync.status"].sudo()._promote_pending(companies)
        return True

    @api.model
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

    @api.model
    def _remove_synced_history(self, accounts):
        """Remove every chatter message ``accounts`` introduced, unless another
        mailbox that still syncs recorded it too (it then becomes that
        mailbox's); mail that was on the chatter anyway (sent from Odoo) stays."""
        # sudo: the ledger of the mailboxes being disconnected (action_disable checked
        # the owner or an administrator): their rows go, with the chatter messages they
        # introduced that no mailbox still syncing recorded too.
        Ledger = self.env["mail.sync.message"].sudo()
        mine = Ledger.search([("account_id", "in", accounts.ids)])
        messages = mine.filtered("introduced").mail_message_id
        heirs = Ledger.browse()
        if messages:
            others = Ledger.search(
                [
                    ("mail_message_id", "in", messages.ids),
                    ("account_id", "not in", accounts.ids),
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
