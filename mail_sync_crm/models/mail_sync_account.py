# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import logging
import threading
from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import config

from ..lib import crypto, errors, imap_session, smtp_session, sync_engine
from .mail_sync_store import MailSyncStore

_logger = logging.getLogger(__name__)

# SharpSpring's rule: after two days of continuous errors a mailbox is no longer tried.
CONNECTION_DECAY = timedelta(hours=48)
# pg_advisory_lock(namespace, mailbox id): one sync of a mailbox at a time.
SYNC_LOCK_NAMESPACE = 0x6D73
SECRET_KEY_OPTION = "mail_sync_crm_key"
FORM_VIEW = "mail_sync_crm.mail_sync_account_view_form"

PROVIDER_PRESETS = {
    # PROVIDERS.md, "Presets"
    "gmail": {
        "imap_host": "imap.gmail.com",
        "imap_port": 993,
        "imap_encryption": "ssl",
        "smtp_host": "smtp.gmail.com",
        "smtp_port": 465,
        "smtp_encryption": "ssl",
    },
    "microsoft": {
        "imap_host": "outlook.office365.com",
        "imap_port": 993,
        "imap_encryption": "ssl",
        "smtp_host": "smtp.office365.com",
        "smtp_port": 587,
        "smtp_encryption": "starttls",
    },
}
ENCRYPTIONS = [
    ("ssl", "SSL/TLS"),
    ("starttls", "STARTTLS"),
    ("none", "None (unencrypted)"),
]


class MailSyncAccount(models.Model):
    _name = "mail.sync.account"
    _description = "Synced Mailbox"
    _inherit = ["mail.thread"]
    _order = "company_id, state, id"
    _rec_names_search = ["email", "user_id"]

    user_id = fields.Many2one(
        "res.users",
        string="Owner",
        required=True,
        readonly=True,
        index=True,
        ondelete="cascade",
        default=lambda self: self.env.user,
    )
    company_id = fields.Many2one(
        "res.company",
        required=True,
        readonly=True,
        index=True,
        default=lambda self: self.env.company,
    )
    provider = fields.Selection(
        [("gmail", "Gmail"), ("microsoft", "Microsoft"), ("custom", "Custom")],
        required=True,
        default="custom",
        help="Gmail and Microsoft fill in their servers; Custom is any IMAP+SMTP "
        "mailbox.",
    )
    email = fields.Char(
        required=True,
        help="The address you send from; your mail leaves with it as sender.",
    )
    state = fields.Selection(
        [
            ("draft", "Not Connected"),
            ("pending", "Pending"),
            ("enabled", "Enabled"),
            ("error", "Error"),
            ("connection", "Connection"),
        ],
        required=True,
        default="draft",
        readonly=True,
        tracking=True,
        index=True,
        help="Enabled: syncing. Error: the last attempt failed, still retrying. "
        "Pending: the company's mailbox limit is reached. Connection: errors for two "
        "days, no longer tried (reconnect to resume).",
    )
    # IMAP
    imap_host = fields.Char(string="IMAP Server")
    imap_port = fields.Integer(string="IMAP Port", default=993)
    imap_encryption = fields.Selection(
        ENCRYPTIONS, string="IMAP Encryption", default="ssl", required=True
    )
    imap_allow_self_signed = fields.Boolean(
        string="IMAP Self-Signed Certificate",
        help="Accept this server's certificate although no authority signed it. "
        "Its SHA-256 fingerprint is pinned when you connect: a different certificate "
        "later is refused.",
    )
    imap_login = fields.Char(string="IMAP Username")
    imap_password = fields.Char(
        string="IMAP Password",
        compute="_compute_imap_password",
        inverse="_inverse_imap_password",
        help="Stored encrypted; nobody can read it back, administrators included. "
        "With Gmail or Microsoft, use an app password.",
    )
    imap_password_set = fields.Boolean(compute="_compute_password_set")
    imap_secret = fields.Char(groups="mail_sync_crm.group_mail_sync_secret", copy=False)
    imap_cert_fingerprint = fields.Char(
        string="IMAP Certificate (SHA-256)", readonly=True, copy=False
    )
    # SMTP
    smtp_host = fields.Char(string="SMTP Server")
    smtp_port = fields.Integer(string="SMTP Port", default=465)
    smtp_encryption = fields.Selection(
        ENCRYPTIONS, string="SMTP Encryption", default="ssl", required=True
    )
    smtp_allow_self_signed = fields.Boolean(
        string="SMTP Self-Signed Certificate",
        help="Accept this server's certificate although no authority signed it, "
        "pinned by its SHA-256 fingerprint when you connect.",
    )
    smtp_same_credentials = fields.Boolean(
        string="Same Username and Password for SMTP", default=True
    )
    smtp_login = fields.Char(string="SMTP Username")
    smtp_password = fields.Char(
        string="SMTP Password",
        compute="_compute_smtp_password",
        inverse="_inverse_smtp_password",
        help="Stored encrypted; nobody can read it back, administrators included.",
    )
    smtp_password_set = fields.Boolean(compute="_compute_password_set")
    smtp_secret = fields.Char(groups="mail_sync_crm.group_mail_sync_secret", copy=False)
    smtp_cert_fingerprint = fields.Char(
        string="SMTP Certificate (SHA-256)", readonly=True, copy=False
    )
    # What the connection found and when
    inbox_folder = fields.Char(readonly=True, copy=False)
    sent_folder = fields.Char(readonly=True, copy=False)
    connected_date = fields.Datetime(
        string="Connected On",
        readonly=True,
        copy=False,
        help="When the mailbox was enabled: its historical sync covers the leads "
        "that existed at that moment.",
    )
    pending_date = fields.Datetime(readonly=True, copy=False)
    first_error_date = fields.Datetime(
        readonly=True,
        copy=False,
        help="Start of the current run of errors; after 48 hours the mailbox moves "
        "to Connection.",
    )
    last_sync_date = fields.Datetime(readonly=True, copy=False)
    last_error = fields.Text(readonly=True, copy=False)
    folder_ids = fields.One2many("mail.sync.folder", "account_id", string="Folders")
    sync_scanned = fields.Integer(
        compute="_compute_sync_progress", string="Messages Scanned"
    )
    sync_total = fields.Integer(compute="_compute_sync_progress")
    sync_historical_done = fields.Boolean(compute="_compute_sync_progress")
    synced_count = fields.Integer(
        compute="_compute_synced_count", string="Synced Emails"
    )
    log_ids = fields.One2many("mail.sync.log", "account_id", string="Error Log")
    log_count = fields.Integer(compute="_compute_log_count")

    _sql_constraints = [
        ("user_uniq", "UNIQUE(user_id)", "Each user has one synced mailbox."),
    ]

    # ------------------------------------------------------------------
    # Compute / inverse: passwords are write-only
    # ------------------------------------------------------------------
    def _compute_imap_password(self):
        self.imap_password = False

    def _compute_smtp_password(self):
        self.smtp_password = False

    def _inverse_imap_password(self):
        for account in self:
            if account.imap_password:
                account._store_secret("imap_secret", account.imap_password)

    def _inverse_smtp_password(self):
        for account in self:
            if account.smtp_password:
                account._store_secret("smtp_secret", account.smtp_password)

    def _compute_password_set(self):
        for account, sudo in zip(self, self.sudo(), strict=True):
            account.imap_password_set = bool(sudo.imap_secret)
            account.smtp_password_set = bool(sudo.smtp_secret)

    def _compute_log_count(self):
        counts = dict(
            self.env["mail.sync.log"]._read_group(
                [("account_id", "in", self.ids)], ["account_id"], ["__count"]
            )
        )
        for account in self:
            account.log_count = counts.get(account, 0)

    @api.depends("email", "user_id")
    def _compute_display_name(self):
        for account in self:
            account.display_name = f"{account.user_id.name} <{account.email or ''}>"

    # ------------------------------------------------------------------
    # Secrets
    # ------------------------------------------------------------------
    @api.model
    def _secret_key(self):
        """The encryption key of mailbox secrets, kept in Odoo's configuration file
        (option ``mail_sync_crm_key``), never in the database. Generated and saved on
        first use when absent."""
        key = config.get(SECRET_KEY_OPTION)
        if not key:
            key = crypto.generate_key()
            config[SECRET_KEY_OPTION] = key
            if config.rcfile:
                config.save([SECRET_KEY_OPTION])
                _logger.info(
                    "mail_sync_crm: generated the mailbox secret key in %s",
                    config.rcfile,
                )
            else:
                _logger.warning(
                    "mail_sync_crm: generated a mailbox secret key but Odoo has no "
                    "configuration file to keep it in; set %s in it",
                    SECRET_KEY_OPTION,
                )
        return key

    def _store_secret(self, field, plaintext):
        self.ensure_one()
        self.sudo().write({field: crypto.encrypt(self._secret_key(), plaintext)})

    def _read_secret(self, field):
        self.ensure_one()
        token = self.sudo()[field]
        if not token:
            return ""
        try:
            return crypto.decrypt(self._secret_key(), token)
        except crypto.SecretKeyError as exc:
            raise UserError(
                _(
                    "The stored password of %(mailbox)s cannot be decrypted: the "
                    "key in Odoo's configuration file (%(option)s) changed. Enter "
                    "the password again and reconnect.",
                    mailbox=self.display_name,
                    option=SECRET_KEY_OPTION,
                )
            ) from exc

    # ------------------------------------------------------------------
    # ORM
    # ------------------------------------------------------------------
    @api.model_create_multi
    def create(self, vals_list):
        prepared = []
        for vals in vals_list:
            owner = vals.get("user_id", self.env.uid)
            if owner != self.env.uid and not self.env.su:
                raise AccessError(
                    _("Only the mailbox's owner can connect it, not an administrator.")
                )
            prepared.append({**PROVIDER_PRESETS.get(vals.get("provider"), {}), **vals})
        return super().create(prepared)

    def write(self, vals):
        credentials = set(vals) & CREDENTIAL_FIELDS
        if credentials and not self.env.su:
            self._check_owner()
        return super().write(vals)

    @api.onchange("provider")
    def _onchange_provider(self):
        preset = PROVIDER_PRESETS.get(self.provider)
        if preset:
            self.update(preset)

    @api.onchange("email")
    def _onchange_email(self):
        if self.email and not self.imap_login:
            self.imap_login = self.email.strip()

    def _check_owner(self):
        for account in self:
            if account.user_id != self.env.user:
                raise AccessError(
                    _(
                        "Only %(owner)s can change the connection of this mailbox.",
                        owner=account.user_id.name,
                    )
                )

    def _check_owner_or_admin(self):
        if self.env.user.has_group("base.group_system"):
            return
        self._check_owner()

    # ------------------------------------------------------------------
    # Connection
    # ------------------------------------------------------------------
    def _imap_settings(self):
        self.ensure_one()
        return imap_session.ImapSettings(
            host=(self.imap_host or "").strip(),
            port=self.imap_port,
            encryption=self.imap_encryption,
            allow_self_signed=self.imap_allow_self_signed,
            pinned_fingerprint=self.imap_cert_fingerprint or None,
            login=(self.imap_login or self.email or "").strip(),
            password=self._read_secret("imap_secret"),
        )

    def _smtp_settings(self):
        self.ensure_one()
        if self.smtp_same_credentials:
            login = self.imap_login or self.email
            password = self._read_secret("imap_secret")
        else:
            login = self.smtp_login
            password = self._read_secret("smtp_secret")
        return smtp_session.SmtpSettings(
            host=(self.smtp_host or "").strip(),
            port=self.smtp_port,
            encryption=self.smtp_encryption,
            allow_self_signed=self.smtp_allow_self_signed,
            pinned_fingerprint=self.smtp_cert_fingerprint or None,
            login=(login or "").strip(),
            password=password,
        )

    def _check_ready_to_connect(self):
        missing = []
        if not self.imap_host:
            missing.append(_("IMAP server"))
        if not self.smtp_host:
            missing.append(_("SMTP server"))
        if not self.sudo().imap_secret:
            missing.append(_("IMAP password"))
        if not self.smtp_same_credentials and not self.sudo().smtp_secret:
            missing.append(_("SMTP password"))
        if missing:
            raise UserError(
                _("Fill in before connecting: %(fields)s", fields=", ".join(missing))
            )

    def action_connect(self):
        """Test IMAP and SMTP for real, then enable the mailbox, or leave it Pending
        when the company's limit is reached. On failure, log and raise a UserError
        naming the failing side and how to fix it."""
        self.ensure_one()
        self._check_owner()
        self._check_ready_to_connect()
        imap = self._imap_settings()
        smtp = self._smtp_settings()
        try:
            found = imap_session.check_imap(imap)
            smtp_found = smtp_session.check_smtp(smtp)
        except errors.MailSyncError as err:
            self._log_error(err, persist=True)
            message, hint = self._describe(err)
            raise UserError(
                self.env._(
                    "%(message)s\n\nHow to fix it: %(hint)s", message=message, hint=hint
                )
            ) from err
        vals = {
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
        }
        if self.state in ("enabled", "error") or self.company_id._mail_sync_has_room(
            exclude=self
        ):
            vals.update(state="enabled", pending_date=False)
            if self.state not in ("enabled", "error"):
                vals["connected_date"] = fields.Datetime.now()
        else:
            vals.update(state="pending", pending_date=fields.Datetime.now())
        self.sudo().write(vals)
        self._after_connect()
        self._on_enabled()
        if self.state == "pending":
            title = _("Mailbox pending")
            message = _(
                "Your mailbox works, but %(company)s already syncs its maximum of "
                "%(limit)s mailboxes. It starts syncing as soon as an administrator "
                "raises the limit or someone disconnects.",
                company=self.company_id.name,
                limit=self.company_id.mail_sync_user_limit,
            )
        else:
            title = _("Mailbox connected")
            message = _(
                "IMAP and SMTP work. Your mail with known leads now appears on their "
                "chatter, history included."
            )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": title,
                "message": message,
                "type": "success" if self.state == "enabled" else "warning",
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def _after_connect(self):
        """Hook: IMAP and SMTP were just tested successfully (Enabled or Pending)."""
        # Smart Mail: the mailbox's personal outgoing server (created or updated).
        self.env["ir.mail_server"]._mail_sync_upsert(self)

    def _before_disconnect(self):
        """Hook: the mailbox is about to return to draft (credentials erased)."""
        # Smart Mail: the owner's mail goes through the company server again.
        self.env["ir.mail_server"]._mail_sync_remove(self)

    def _on_enabled(self):
        """Called after a connect or a promotion enabled mailboxes: make sure their
        folders are tracked and start the (historical) sync right away."""
        for account in self.filtered(lambda a: a.state == "enabled"):
            account._ensure_folders()
        if self.filtered(lambda a: a.state == "enabled"):
            self.env.ref("mail_sync_crm.ir_cron_mail_sync")._trigger()

    def action_disable(self, keep_history=True):
        """Disconnect: keep or remove the synced communication, then return to draft
        with credentials, pinned certificates and checkpoints erased. The owner or
        an administrator (force-disconnect) may do it."""
        self._check_owner_or_admin()
        if not keep_history:
            self._remove_synced_history()
        companies = self.company_id
        self._before_disconnect()
        self.sudo().folder_ids.unlink()
        self.sudo().write(self._disconnected_values())
        self.sudo()._promote_pending(companies)
        return True

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
            "pending_date": False,
            "first_error_date": False,
            "last_error": False,
        }

    def _remove_synced_history(self):
        """Remove every chatter message these mailboxes introduced, unless another
        mailbox that still syncs recorded it too (it then becomes that mailbox's);
        mail that was on the chatter anyway (sent from Odoo) stays."""
        Ledger = self.env["mail.sync.message"].sudo()
        mine = Ledger.search([("account_id", "in", self.ids)])
        messages = mine.filtered("introduced").mail_message_id
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
                heir = others.filtered(lambda r, m=message: r.mail_message_id == m)[:1]
                heir.introduced = True
            (messages - kept).unlink()
        mine.unlink()

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

    def action_open_logs(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Mail Sync Log"),
            "res_model": "mail.sync.log",
            "view_mode": "list,form",
            "domain": [("account_id", "=", self.id)],
        }

    def action_open_synced_emails(self):
        self.ensure_one()
        return self.env["mail.sync.message"]._action_list(
            [("account_id", "=", self.id)]
        )

    @api.model
    def action_open_my_account(self):
        """The current user's own mailbox form (a new one when none exists yet)."""
        account = self.search([("user_id", "=", self.env.uid)], limit=1)
        action = {
            "type": "ir.actions.act_window",
            "name": _("My Mail Sync"),
            "res_model": "mail.sync.account",
            "view_mode": "form",
            "views": [(self.env.ref(FORM_VIEW).id, "form")],
            "target": "current",
        }
        if account:
            action["res_id"] = account.id
        else:
            action["context"] = {"default_email": self.env.user.email or False}
        return action

    # ------------------------------------------------------------------
    # Status
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

    def _record_success(self):
        """A sync or send worked: clear the error run."""
        failing = self.filtered(lambda a: a.state == "error")
        if failing:
            failing.sudo().write(
                {"state": "enabled", "first_error_date": False, "last_error": False}
            )

    def _record_error(self, err):
        """A sync or send failed: Error state (still retried), log entry."""
        for account in self:
            vals = {"last_error": self._describe(err)[0]}
            if account.state == "enabled":
                vals["state"] = "error"
            if not account.first_error_date:
                vals["first_error_date"] = fields.Datetime.now()
            account.sudo().write(vals)
            account._log_error(err)

    def _describe(self, err):
        return errors.describe(err, translate=lambda text: self.env._(text))  # pylint: disable=translation-required

    def _log_error(self, err, persist=False):
        """Write ``err`` to the mailbox log. With ``persist``, through a cursor of
        its own so that the entry survives the UserError about to roll back the
        current transaction."""
        self.ensure_one()
        message, hint = self._describe(err)
        vals = {
            "account_id": self.id,
            "code": err.code,
            "side": err.side or False,
            "message": message,
            "hint": hint,
            "detail": err.detail,
        }
        _logger.info(
            "mail_sync_crm: mailbox %s: %s (%s)", self.id, err.code, err.detail
        )
        if not persist:
            return self.env["mail.sync.log"].sudo().create(vals)
        with self.env.registry.cursor() as cr:
            self.env(cr=cr)["mail.sync.log"].sudo().create(vals)
        self.invalidate_recordset(["log_ids", "log_count"])
        return True

    # ------------------------------------------------------------------
    # Sync
    # ------------------------------------------------------------------
    @api.depends("folder_ids.scanned", "folder_ids.total", "folder_ids.historical_done")
    def _compute_sync_progress(self):
        for account in self:
            folders = account.folder_ids
            account.sync_scanned = sum(folders.mapped("scanned"))
            account.sync_total = sum(folders.mapped("total"))
            account.sync_historical_done = bool(folders) and all(
                folders.mapped("historical_done")
            )

    def _compute_synced_count(self):
        """Distinct emails this mailbox put on chatters (one email on a lead and
        its opportunity counts once)."""
        self.synced_count = 0
        if not self.ids:
            return
        self.env["mail.sync.message"].flush_model()
        self.env.cr.execute(
            """SELECT account_id, COUNT(DISTINCT message_id) FROM mail_sync_message
                WHERE account_id = ANY(%s) AND introduced GROUP BY account_id""",
            [list(self.ids)],
        )
        counts = dict(self.env.cr.fetchall())
        for account in self:
            account.synced_count = counts.get(account.id, 0)

    def _ensure_folders(self):
        """Track the Inbox and Sent folders found at connect."""
        self.ensure_one()
        Folder = self.env["mail.sync.folder"].sudo()
        for name, direction in ((self.inbox_folder, "in"), (self.sent_folder, "out")):
            if name and not self.folder_ids.filtered(lambda f, n=name: f.name == n):
                Folder.create(
                    {"account_id": self.id, "name": name, "direction": direction}
                )

    def action_sync_now(self):
        """Incremental sync at once; a historical sync still running continues in
        the background (scheduled action)."""
        self.ensure_one()
        self._check_owner_or_admin()
        if self.state not in ("enabled", "error"):
            raise UserError(_("Only a connected mailbox (Enabled or Error) syncs."))
        if not self.sync_historical_done:
            self.env.ref("mail_sync_crm.ir_cron_mail_sync")._trigger()
            message = _("The historical sync continues in the background.")
        else:
            self.sudo()._sync_mailbox(auto_commit=False)
            message = _(
                "Synced: %(count)s emails recorded in all.", count=self.synced_count
            )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": _("Mail Sync"),
                "message": message,
                "type": "warning" if self.state == "error" else "success",
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    @api.model
    def _cron_sync(self):
        """Sync every mailbox that is due, one after the other. A failing mailbox is
        marked Error and the run goes on; two workers never sync the same mailbox
        (row lock at pick-up, then an advisory lock held across batch commits)."""
        auto_commit = not getattr(threading.current_thread(), "testing", False)
        ids = (
            self.sudo()
            .search([("state", "in", ("enabled", "error"))], order="last_sync_date, id")
            .ids
        )
        Cron = self.env["ir.cron"]
        for done, account_id in enumerate(ids, start=1):
            self.env.cr.execute(
                """SELECT id FROM mail_sync_account
                    WHERE id = %s AND state IN ('enabled', 'error')
                      FOR NO KEY UPDATE SKIP LOCKED""",
                [account_id],
            )
            if not self.env.cr.fetchone() or not self._try_sync_lock(account_id):
                continue
            try:
                self.sudo().browse(account_id)._sync_mailbox(auto_commit=auto_commit)
            finally:
                self._sync_unlock(account_id)
            Cron._notify_progress(done=done, remaining=len(ids) - done)
            if auto_commit:
                self.env.cr.commit()  # pylint: disable=invalid-commit  # mailbox done

    def _try_sync_lock(self, account_id):
        self.env.cr.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", [SYNC_LOCK_NAMESPACE, account_id]
        )
        return self.env.cr.fetchone()[0]

    def _sync_unlock(self, account_id):
        self.env.cr.execute(
            "SELECT pg_advisory_unlock(%s, %s)", [SYNC_LOCK_NAMESPACE, account_id]
        )

    def _sync_mailbox(self, auto_commit=False):
        """One sync run of this mailbox over its folders. Never raises: a failure
        is recorded on the mailbox (Error) and logged."""
        self.ensure_one()
        store = MailSyncStore(self, auto_commit)
        try:
            with imap_session.ImapSession(self._imap_settings()) as session:
                index = store.lead_index()
                blocked = self.env["mail.sync.blocklist"]._blocklist_for(
                    self.user_id, self.company_id
                )
                folders = self.folder_ids.sorted("direction")
                # One round trip tells which folders have anything new; the
                # first folder to sync is examined last, so it stays selected.
                statuses = session.examine_folders(folders.mapped("name")[::-1])
                for folder in folders:
                    sync_engine.sync_folder(
                        session,
                        sync_engine.FolderState(
                            folder.name,
                            folder.direction,
                            folder.uidvalidity,
                            folder.last_uid,
                        ),
                        store,
                        index,
                        blocked,
                        attachment_cap=self.company_id.mail_sync_attachment_cap_bytes,
                        batch_size=self.env.context.get(
                            "mail_sync_batch_size", sync_engine.HEADER_BATCH
                        ),
                        status=statuses.get(folder.name),
                    )
        except errors.MailSyncError as err:
            self._sync_failed(err, auto_commit)
            return False
        except UserError as exc:  # e.g. an undecryptable password
            self._sync_failed(
                errors.MailSyncError("auth_failed", str(exc), side="imap"), auto_commit
            )
            return False
        except Exception as exc:
            _logger.exception(
                "mail_sync_crm: unexpected error syncing mailbox %s", self.id
            )
            self._sync_failed(errors.classify(exc, side="imap"), auto_commit)
            return False
        self.write({"last_sync_date": fields.Datetime.now()})
        self._record_success()
        return True

    def _sync_failed(self, err, auto_commit):
        if auto_commit:
            self.env.cr.rollback()  # drop the unfinished batch; checkpoints hold
        self.env.invalidate_all()
        self._record_error(err)
        if auto_commit:
            self.env.cr.commit()  # pylint: disable=invalid-commit  # keep the Error

    @api.model
    def _cron_update_status(self):
        """Error for 48 hours -> Connection: no longer tried, not billed; the owner
        is told. Freed places go to Pending mailboxes."""
        limit = fields.Datetime.now() - CONNECTION_DECAY
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
            self.sudo()._promote_pending(decayed.company_id)
        return decayed

    # ------------------------------------------------------------------
    # Smart Mail: mail sent from Odoo leaves through the owner's own SMTP
    # server, within the provider's limits (personal ir.mail_server, governor
    # and usage: ir_mail_server.py, mail_mail.py, mail_sync_send_event.py,
    # mail_sync_quota_override.py)
    # ------------------------------------------------------------------
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


CREDENTIAL_FIELDS = {
    "email",
    "provider",
    "imap_host",
    "imap_port",
    "imap_encryption",
    "imap_allow_self_signed",
    "imap_login",
    "imap_password",
    "smtp_host",
    "smtp_port",
    "smtp_encryption",
    "smtp_allow_self_signed",
    "smtp_same_credentials",
    "smtp_login",
    "smtp_password",
}
