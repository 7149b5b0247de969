# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The synced mailbox: one per user, its settings and who may change them.

The model is declared here and extended by concern in the files beside it:
``mail_sync_account_secrets`` (write-only passwords), ``..._connect``
(connect/disconnect), ``..._sync`` (one mailbox's sync run), ``..._run`` (the
cron and Sync Now: claims, lock, budget, order), ``..._status`` (errors, backoff,
Pending, the 48-hour decay) and ``..._smart_mail`` (sending limits)."""

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from ..client_context import client_defaults
from ..lib import errors
from ..lib.privacy import visibility

FORM_VIEW = "mail_sync_crm.mail_sync_account_view_form"

PROVIDER_PRESETS = {
    # The providers' published IMAP and SMTP servers (README, "Connecting a mailbox").
    "gmail": {
        "imap_host": "imap.gmail.com",
        "imap_port": 993,
        "imap_encryption": "ssl",
        "smtp_host": "smtp.gmail.com",
        "smtp_port": 465,
        "smtp_encryption": "ssl",
        # Certificates signed by an authority: nothing to pin.
        "imap_allow_self_signed": False,
        "smtp_allow_self_signed": False,
    },
    "microsoft": {
        "imap_host": "outlook.office365.com",
        "imap_port": 993,
        "imap_encryption": "ssl",
        "smtp_host": "smtp.office365.com",
        "smtp_port": 587,
        "smtp_encryption": "starttls",
        # Certificates signed by an authority: nothing to pin.
        "imap_allow_self_signed": False,
        "smtp_allow_self_signed": False,
    },
}
# What colleagues see of a mailbox's synced mail (lib/privacy/visibility.py), from the
# most shared to the most private.
VISIBILITY_LEVELS = [
    ("full", "Everything"),
    ("subject", "Subject, participants and date"),
    ("metadata", "Participants and date only"),
]
ENCRYPTIONS = [
    ("ssl", "SSL/TLS"),
    ("starttls", "STARTTLS"),
    ("none", "None (unencrypted)"),
]
# Fields that say where and as whom the mailbox connects: only its owner writes them.
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
# The fields whose change moves where a password goes (``_secret_destinations``):
# changing one erases the password it would now be sent with.
DESTINATION_FIELDS = frozenset(
    {
        "email",
        "imap_host",
        "imap_port",
        "imap_encryption",
        "imap_login",
        "smtp_host",
        "smtp_port",
        "smtp_encryption",
        "smtp_login",
        "smtp_same_credentials",
    }
)
# A connected mailbox keeps its working connection until a change of these is
# tested (``_write_tested``): where and as whom it connects, the passwords.
RETESTED_FIELDS = DESTINATION_FIELDS | {
    "provider",
    "imap_password",
    "smtp_password",
    "imap_allow_self_signed",
    "smtp_allow_self_signed",
}
# (Connection: two days of errors, no longer tried: nothing works to keep.)
CONNECTED_STATES = ("enabled", "error", "pending")
# Context key of the write inside ``_write_tested`` (the value is a marker no
# client's JSON can carry).
TESTED_WRITE = "mail_sync_tested_write"
_TESTING = object()

# The fields a client may write, and nothing else: every other field of the
# mailbox, present or added later (owner, company, status and dates, pinned
# certificates, folders, checkpoints, rounds, errors, the encrypted secrets,
# the address proof), is written by the addon's own code only, as superuser
# (``env.su``, which no RPC client reaches). The form shows those read-only,
# but readonly=True is a UI hint only: this is the guard.
# - the owner: where and as whom the mailbox connects, the passwords (write-only),
#   the sending limits that apply and what colleagues see of the synced mail;
OWNER_FIELDS = frozenset(CREDENTIAL_FIELDS | {"quota_profile", "visibility"})
# - an administrator, on anyone's mailbox: the sending limits only.
ADMINISTRATOR_FIELDS = frozenset({"quota_profile"})
# What a new mailbox may say of itself besides the owner's fields: only what
# the addon sets anyway (its creator, the current company, Not Connected).
CREATE_DEFAULTS = ("user_id", "company_id", "state")


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
        string="Status",
        selection=[
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
    email_proof = fields.Selection(
        [
            ("login", "It is the mailbox's username"),
            ("oauth", "Confirmed by the provider's sign-in"),
            ("round_trip", "Confirmation email received"),
        ],
        string="Address Confirmed",
        readonly=True,
        copy=False,
        help="How Mail Sync knows the address is this mailbox's: it is the IMAP "
        "username, the provider confirmed it at sign-in, or a confirmation email "
        "sent to it through this mailbox arrived in its Inbox. Until then, mail "
        "sent from Odoo leaves through the company's server with Odoo's usual "
        "sender, not through this mailbox.",
    )
    visibility = fields.Selection(
        VISIBILITY_LEVELS,
        string="Colleagues See",
        required=True,
        default="full",
        help="What colleagues (administrators included, unless the company lets "
        "them read hidden mail) see of the mail this mailbox syncs; you always "
        "see your own mail in full. A change applies to the mail already synced. "
        "The company may force a level, or set the most you may share.",
    )
    visibility_effective = fields.Selection(
        VISIBILITY_LEVELS,
        string="Colleagues Actually See",
        compute="_compute_visibility_effective",
        help="Your choice within the company's rules.",
    )
    visibility_forced = fields.Boolean(compute="_compute_visibility_effective")
    skip_count_ids = fields.One2many(
        "mail.sync.skip.count",
        "account_id",
        string="Skipped",
        help="The messages scanned and not recorded, by folder and reason.",
    )

    _sql_constraints = [
        ("user_uniq", "UNIQUE(user_id)", "Each user has one synced mailbox."),
    ]

    @api.depends(
        "visibility",
        "company_id.mail_sync_visibility",
        "company_id.mail_sync_visibility_floor",
    )
    def _compute_visibility_effective(self):
        for account in self:
            company = account.company_id
            account.visibility_effective = visibility.effective_level(
                account.visibility,
                floor=company.mail_sync_visibility_floor,
                forced=company.mail_sync_visibility,
            )
            account.visibility_forced = bool(company.mail_sync_visibility)

    # ------------------------------------------------------------------
    # Display
    # ------------------------------------------------------------------
    @api.depends("email", "user_id")
    def _compute_display_name(self):
        for account in self:
            account.display_name = f"{account.user_id.name} <{account.email or ''}>"

    # ------------------------------------------------------------------
    # ORM: only the owner changes the connection
    # ------------------------------------------------------------------
    @api.model_create_multi
    def create(self, vals_list):
        accounts = self
        # sudo: a guard: a client's new mailbox goes through the allow-list, the
        # context's default_<field> values too; no RPC call or route runs with env.su
        # (a client's call runs as its user), and the addon creates no mailbox as
        # superuser.
        client = not self.env.su
        if client:
            accounts = self.with_env(
                self.env(
                    context=client_defaults(self.env.context, OWNER_FIELDS.__contains__)
                )
            )
        prepared = []
        for vals in vals_list:
            if client:
                vals = self._check_create_values(vals)
            prepared.append({**PROVIDER_PRESETS.get(vals.get("provider"), {}), **vals})
        return super(MailSyncAccount, accounts).create(prepared)

    def write(self, vals):
        # sudo: a guard: every write goes through the allow-list but the addon's own
        # superuser writes (docs/superuser-paths.rst, values computed by the addon); no
        # RPC call or route runs with env.su (a client's call runs as its user).
        if not self.env.su:
            self._check_client_fields(vals)
            # Switching to a preset writes the servers it shows (the form shows
            # them read-only and so does not send them).
            vals = {**PROVIDER_PRESETS.get(vals.get("provider"), {}), **vals}
            retest = self._connected_settings_changed(vals)
            if retest and self.env.context.get(TESTED_WRITE) is not _TESTING:
                return self._write_tested(vals, retest)
        moved = set(vals) & DESTINATION_FIELDS
        before = {a.id: a._secret_destinations() for a in self} if moved else None
        readdressed = self.browse()
        if "email" in vals:
            readdressed = self.filtered(
                lambda a: (
                    a.email_proof
                    and (a.email or "").strip().lower()
                    != (vals["email"] or "").strip().lower()
                )
            )
        moved_state = (
            self.filtered(lambda a: a.state != vals["state"])
            if "state" in vals
            else self.browse()
        )
        result = super().write(vals)
        if "visibility" in vals:
            # the new level applies to the mail already synced
            self.env["mail.sync.content"]._mail_sync_apply_mailboxes(self)
        if moved_state:
            # the owners' open pages update their top-bar badge
            moved_state.user_id._mail_sync_notify_top_bar()
        if readdressed:
            # sudo: the proof was of the old address; nothing from vals is written.
            readdressed.sudo().email_proof = False
        if moved:
            self._erase_moved_secrets(before, vals)
        return result

    def _connected_settings_changed(self, vals):
        """The connected mailboxes among these whose connection ``vals``
        changes (where or as whom they connect, or a password typed)."""
        if not set(vals) & RETESTED_FIELDS:
            return self.browse()

        def changes(account):
            for name in set(vals) & RETESTED_FIELDS:
                if name in ("imap_password", "smtp_password"):
                    if vals[name]:
                        return True
                    continue
                field = self._fields[name]
                if field.convert_to_write(account[name], account) != vals[name]:
                    return True
            return False

        return self.filtered(lambda a: a.state in CONNECTED_STATES and changes(a))

    def _write_tested(self, vals, connected):
        """Write ``vals`` (every override of ``write`` included), test the new
        connection of each of ``connected`` (IMAP and SMTP for real, as Connect
        does) and keep the change only when it works: a failure leaves the
        working settings and password in place, logs what failed and says so."""
        testing = self.with_context(**{TESTED_WRITE: _TESTING})
        others = self - connected
        if others:
            testing.browse(others.ids).write(vals)
        for account in testing.browse(connected.ids):
            self.env["mail.sync.connect.attempt"]._mail_sync_count_attempt(
                self.env.user
            )
            try:
                with self.env.cr.savepoint():
                    account.write(vals)
                    account._check_ready_to_connect()
                    account._test_and_enable()
            except (errors.MailSyncError, UserError) as err:
                self.env.invalidate_all()
                account._refuse_untested_change(err)
        return True

    def unlink(self):
        owners = self.user_id
        result = super().unlink()
        owners._mail_sync_notify_top_bar()
        return result

    @api.model
    def _check_create_values(self, vals):
        """A mailbox is created by its owner, for themself, in their current
        company, not connected: the values only the addon writes are refused
        (those equal to what the addon sets anyway are let through)."""
        if vals.get("user_id", self.env.uid) != self.env.uid:
            raise AccessError(
                _("Only the mailbox's owner can connect it, not an administrator.")
            )
        allowed = {
            "user_id": self.env.uid,
            "company_id": self.env.company.id,
            "state": "draft",
        }
        self._refuse_addon_fields(
            name
            for name, value in vals.items()
            if name not in OWNER_FIELDS
            and not (name in CREATE_DEFAULTS and value in (False, allowed[name]))
        )
        return {**vals, "user_id": self.env.uid, "company_id": self.env.company.id}

    def _check_client_fields(self, vals):
        """A client (anyone but the addon's own code) writes only the fields of
        its allow-list: the owner ``OWNER_FIELDS`` of their own mailbox, an
        administrator ``ADMINISTRATOR_FIELDS`` of any."""
        self._refuse_addon_fields(name for name in vals if name not in OWNER_FIELDS)
        if set(vals) - ADMINISTRATOR_FIELDS:
            self._check_owner()
        elif vals:
            self._check_owner_or_admin()

    def _refuse_addon_fields(self, names):
        refused = sorted(set(names))
        if refused:
            raise AccessError(
                _(
                    "Only Mail Sync itself sets these fields of a mailbox: %(fields)s.",
                    fields=", ".join(
                        self._fields[name].get_description(self.env)["string"]
                        if name in self._fields
                        else name
                        for name in refused
                    ),
                )
            )

    @api.onchange("provider")
    def _onchange_provider(self):
        """A preset shows its servers (and writes them: ``write``); the custom
        servers it replaces come back when Custom is chosen again before
        saving, and the switch says so."""
        preset = PROVIDER_PRESETS.get(self.provider)
        origin = self._origin
        custom = {
            name: origin[name]
            for name in PROVIDER_PRESETS["gmail"]
            if origin.provider == "custom"
        }
        if preset:
            replaced = [
                host
                for host in (custom.get("imap_host"), custom.get("smtp_host"))
                if host and host not in (preset["imap_host"], preset["smtp_host"])
            ]
            self.update(preset)
            if replaced:
                return {
                    "warning": {
                        "title": _("Your custom servers are replaced"),
                        "message": _(
                            "%(provider)s's servers replace %(servers)s. Choose "
                            "Custom again before saving to keep yours.",
                            provider=dict(
                                self._fields["provider"]._description_selection(
                                    self.env
                                )
                            )[self.provider],
                            servers=", ".join(replaced),
                        ),
                    }
                }
        elif self.provider == "custom" and custom:
            self.update(custom)
        return None

    @api.constrains("imap_port", "smtp_port")
    def _check_ports(self):
        for account in self:
            for name in ("imap_port", "smtp_port"):
                if not 1 <= (account[name] or 0) <= 65535:
                    raise ValidationError(
                        _(
                            "%(field)s must be a port number from 1 to 65535 (for "
                            "example 993 for IMAP over SSL, 465 or 587 for SMTP).",
                            field=self._fields[name].get_description(self.env)[
                                "string"
                            ],
                        )
                    )

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
    # Actions
    # ------------------------------------------------------------------
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

    def _notification(self, message, kind, title=None, sticky=None):
        """Odoo's notification of what a button did (``kind``: success, info,
        warning or danger; sticky when it failed), then the view reloads."""
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": title or _("Mail Sync"),
                "message": message,
                "type": kind,
                "sticky": kind == "danger" if sticky is None else sticky,
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }
