# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The mailbox: one per user, its own state and settings, and who may change them.

Every field of the mailbox is declared here, with its computes, onchanges,
constraints, the write guard (``OWNER_FIELDS``, ``ADMINISTRATOR_FIELDS``) and
the form's buttons. What the buttons start is done by services, each a model
of its own: ``mail.sync.connector`` (Connect, Confirm Address, Disconnect, the
server settings), ``mail.sync.oauth`` (Connect with Google / Microsoft),
``mail.sync.oauth.token`` (the tokens), ``mail.sync.secret.key`` (the key of
the passwords), ``mail.sync.scheduler`` (the scheduled run and Sync Now: rounds,
claims, locks, read-ahead), ``mail.sync.news`` (the check for news),
``mail.sync.turn`` (one mailbox's turn and its outcome) and
``mail.sync.status`` (the company's limit, the 48-hour decay)."""

from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from ..client_context import client_defaults
from ..exceptions import MailSyncUserError
from ..lib import errors
from ..lib.privacy import visibility
from ..lib.secrets import crypto
from ..lib.sync import completeness
from .mail_sync_oauth import OAUTH_PROVIDERS

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
# The fields whose change moves where a password goes
# (``mail.sync.connector._secret_destinations``):
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
# certificates, the folders found, folders and checkpoints, rounds, the back-off,
# errors and the log's mark, the encrypted secrets, the address proof, the OAuth
# notice, the completeness the turns and the reconciliation found (waiting
# since, last reconciliation, held count, held growing); all declared in this
# file), is written by the addon's own code only, as
# superuser (``env.su``, which no RPC client reaches). The form shows those
# read-only, but readonly=True is a UI hint only: this is the guard.
# - the owner: where and as whom the mailbox connects, the passwords (write-only),
#   the sending limits that apply and what colleagues see of the synced mail;
OWNER_FIELDS = frozenset(CREDENTIAL_FIELDS | {"quota_profile", "visibility"})
# - an administrator, on anyone's mailbox: the sending limits only.
ADMINISTRATOR_FIELDS = frozenset({"quota_profile"})
# What a new mailbox may say of itself besides the owner's fields: only what
# the addon sets anyway (its creator, the current company, Not Connected).
CREATE_DEFAULTS = ("user_id", "company_id", "state")
# The encrypted passwords (key rotation: _reencrypt_passwords).
SECRET_FIELDS = ("imap_secret", "smtp_secret")


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
    # Address and servers: secrets, write-only (mail.sync.secret.key holds the key)
    imap_password = fields.Char(
        string="IMAP Password",
        compute="_compute_imap_password",
        inverse="_inverse_imap_password",
        help="Stored encrypted; nobody can read it back, administrators included. "
        "With Gmail or Microsoft, use an app password.",
    )
    imap_password_set = fields.Boolean(compute="_compute_password_set")
    imap_secret = fields.Char(groups="mail_sync_crm.group_mail_sync_secret", copy=False)
    smtp_password = fields.Char(
        string="SMTP Password",
        compute="_compute_smtp_password",
        inverse="_inverse_smtp_password",
        help="Stored encrypted; nobody can read it back, administrators included.",
    )
    smtp_password_set = fields.Boolean(compute="_compute_password_set")
    smtp_secret = fields.Char(groups="mail_sync_crm.group_mail_sync_secret", copy=False)
    # What Connect found (mail.sync.connector)
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
    # Signed in with the provider (mail.sync.oauth, mail.sync.oauth.token)
    oauth_provider = fields.Selection(
        [("google", "Google"), ("microsoft", "Microsoft")],
        compute="_compute_oauth_provider",
    )
    oauth_ready = fields.Boolean(
        compute="_compute_oauth_provider",
        help="An administrator entered the provider's client ID and secret.",
    )
    oauth_connected = fields.Boolean(
        string="Signed In With Provider", compute="_compute_oauth_connected"
    )
    oauth_notice = fields.Text(readonly=True, copy=False)
    oauth_notice_level = fields.Selection(
        [("success", "Success"), ("warning", "Warning"), ("danger", "Danger")],
        readonly=True,
        copy=False,
    )
    # Status: errors, back-off, Pending (mail.sync.turn, mail.sync.status)
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
    # Sending (ir.mail_server, mail.sync.quota.override)
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
    # Sync progress (mail.sync.scheduler, mail.sync.turn)
    last_sync_date = fields.Datetime(readonly=True, copy=False)
    folder_ids = fields.One2many("mail.sync.folder", "account_id", string="Folders")
    skip_count_ids = fields.One2many(
        "mail.sync.skip.count",
        "account_id",
        string="Skipped",
        help="The messages scanned and not recorded, by folder and reason.",
    )
    sync_scanned = fields.Integer(
        compute="_compute_sync_progress", string="Messages Scanned"
    )
    sync_total = fields.Integer(compute="_compute_sync_progress")
    sync_historical_done = fields.Boolean(compute="_compute_sync_progress")
    synced_count = fields.Integer(
        compute="_compute_synced_count",
        string="Emails Recorded",
        help="Distinct emails this mailbox put on chatters (an email on a lead and "
        "its opportunity counts once): the total of Emails in Personal Emails by "
        "Stage on this mailbox's recorded emails (the button opens it).",
    )
    synced_lead_count = fields.Integer(
        compute="_compute_synced_count", string="Leads Reached"
    )
    last_attempt_date = fields.Datetime(
        string="Last Try",
        readonly=True,
        copy=False,
        help="When a sync of this mailbox last started, whatever came of it. The "
        "scheduled sync takes the mailboxes tried longest ago first.",
    )
    sync_round = fields.Integer(
        readonly=True,
        copy=False,
        help="The round of scheduled runs that last tried this mailbox: runs "
        "overlapping in time share a round, and try each mailbox once.",
    )
    # Completeness (mail.sync.completeness): the folders' figures summed, the
    # lag, and what the reconciliation found.
    waiting_since = fields.Datetime(
        readonly=True,
        copy=False,
        help="Since when the message that has waited longest for the sync (in any "
        "folder) has waited; empty when every folder is caught up.",
    )
    reconciled_date = fields.Datetime(
        string="Last Reconciliation",
        readonly=True,
        copy=False,
        help="When the hourly reconciliation last counted this mailbox on its server.",
    )
    reconciled_held_count = fields.Integer(
        string="Held at Last Reconciliation", readonly=True, copy=False
    )
    held_growing = fields.Boolean(
        string="Held Messages Growing",
        readonly=True,
        copy=False,
        help="The last reconciliation found more held messages than the one before.",
    )
    server_count = fields.Integer(
        string="On the Server", compute="_compute_completeness"
    )
    scanned_count = fields.Integer(string="Scanned", compute="_compute_completeness")
    recorded_count = fields.Integer(string="Recorded", compute="_compute_completeness")
    held_count = fields.Integer(string="Held", compute="_compute_completeness")
    skipped_count = fields.Integer(
        string="Messages Skipped", compute="_compute_completeness"
    )
    completeness = fields.Float(
        string="Complete (%)",
        digits=(5, 1),
        compute="_compute_completeness",
        help="Messages scanned out of those on the server, all folders together.",
    )
    completeness_summary = fields.Char(
        string="Completeness", compute="_compute_completeness"
    )
    lag_seconds = fields.Integer(compute="_compute_completeness")
    lag_display = fields.Char(
        string="Lag",
        compute="_compute_completeness",
        help="How long the oldest message not yet scanned has waited.",
    )
    falling_behind = fields.Boolean(
        compute="_compute_completeness",
        search="_search_falling_behind",
        help="The lag is above the threshold (system parameter "
        "mail_sync_crm.lag_threshold_minutes, 30 by default), or the last "
        "reconciliation found more held messages than the one before.",
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
    # Computes
    # ------------------------------------------------------------------
    def _compute_imap_password(self):
        self.imap_password = False

    def _compute_smtp_password(self):
        self.smtp_password = False

    def _inverse_imap_password(self):
        Key = self.env["mail.sync.secret.key"]
        for account in self:
            if account.imap_password:
                Key._store(account, "imap_secret", account.imap_password)

    def _inverse_smtp_password(self):
        Key = self.env["mail.sync.secret.key"]
        for account in self:
            if account.smtp_password:
                Key._store(account, "smtp_secret", account.smtp_password)

    def _compute_password_set(self):
        # sudo: read-only: whether each secret is set (a bool leaves, never the secret).
        for account, sudo in zip(self, self.sudo(), strict=True):
            account.imap_password_set = bool(sudo.imap_secret)
            account.smtp_password_set = bool(sudo.smtp_secret)

    @api.depends_context("uid")
    @api.depends("user_id")
    def _compute_is_owner(self):
        for account in self:
            account.is_owner = account.user_id == self.env.user

    def _compute_oauth_provider(self):
        OAuth = self.env["mail.sync.oauth"]
        for account in self:
            name = OAUTH_PROVIDERS.get(account.provider)
            account.oauth_provider = name or False
            account.oauth_ready = bool(name) and OAuth._configured(name)

    def _compute_oauth_connected(self):
        # sudo: read-only: whether each of these mailboxes has a token row (a bool
        # leaves; no one may read the tokens model).
        rows = (
            self.env["mail.sync.oauth.token"]
            .sudo()
            .search([("account_id", "in", self.ids)])
        )
        connected = set(rows.account_id.ids)
        for account in self:
            account.oauth_connected = account.id in connected

    @api.depends("log_cleared_id", "log_ids")
    def _compute_log_count(self):
        """``log_count``: the entries that still tell something is wrong (see
        ``mail.sync.log._current_domain``); ``log_total``: the whole log."""
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
                Log.search_count(Log._current_domain(account))
                if account.log_total
                else 0
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

    @api.depends("folder_ids.scanned", "folder_ids.total", "folder_ids.historical_done")
    def _compute_sync_progress(self):
        for account in self:
            folders = account.folder_ids
            account.sync_scanned = sum(folders.mapped("scanned"))
            account.sync_total = sum(folders.mapped("total"))
            account.sync_historical_done = bool(folders) and all(
                folders.mapped("historical_done")
            )

    def _compute_completeness(self):
        threshold = self.env["mail.sync.completeness"]._lag_threshold()
        now = fields.Datetime.now()
        for account in self:
            folders = account.folder_ids
            on_server = sum(folders.mapped("server_count"))
            scanned = sum(folders.mapped("scanned_count"))
            held = sum(folders.mapped("held_count"))
            skipped = sum(folders.mapped("skipped_count"))
            lag = completeness.lag_seconds(account.waiting_since, now)
            account.server_count = on_server
            account.scanned_count = scanned
            account.recorded_count = sum(folders.mapped("recorded_count"))
            account.held_count = held
            account.skipped_count = skipped
            account.completeness = completeness.completeness_percent(scanned, on_server)
            account.lag_seconds = lag
            account.lag_display = folders._duration(lag)
            account.falling_behind = account.held_growing or (
                completeness.falling_behind(lag, threshold, held, None)
            )
            account.completeness_summary = self.env._(
                "%(percent)s%% scanned · %(held)s held, %(skipped)s skipped",
                percent=account.completeness,
                held=held,
                skipped=skipped,
            )

    def _search_falling_behind(self, operator, value):
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise UserError(_("Search Falling Behind with = or != and a yes or no."))
        threshold = self.env["mail.sync.completeness"]._lag_threshold()
        oldest = fields.Datetime.now() - timedelta(seconds=threshold)
        domain = [
            "|",
            ("held_growing", "=", True),
            ("waiting_since", "<", oldest),
        ]
        behind = (operator == "=") == value
        return domain if behind else ["!", *domain]

    def _compute_synced_count(self):
        """Distinct emails this mailbox put on chatters (one email on a lead and
        its opportunity counts once)."""
        self.synced_count = 0
        self.synced_lead_count = 0
        if not self.ids:
            return
        self.env["mail.sync.message"].flush_model()
        self.env.cr.execute(
            """SELECT account_id, COUNT(DISTINCT message_id), COUNT(DISTINCT lead_id)
                 FROM mail_sync_message
                WHERE account_id = ANY(%s) AND introduced GROUP BY account_id""",
            [list(self.ids)],
        )
        counts = {row[0]: row[1:] for row in self.env.cr.fetchall()}
        for account in self:
            emails, leads = counts.get(account.id, (0, 0))
            account.synced_count = emails
            account.synced_lead_count = leads

    # ------------------------------------------------------------------
    # The mailbox's own derived values
    # ------------------------------------------------------------------
    def _mail_sync_smtp_login(self):
        self.ensure_one()
        if self.smtp_same_credentials:
            return (self.imap_login or self.email or "").strip()
        return (self.smtp_login or "").strip()

    def _mail_sync_uses_oauth(self):
        """Whether this mailbox signs in with OAuth tokens (not a password)."""
        self.ensure_one()
        return bool(self.id) and bool(self.env["mail.sync.oauth.token"]._of(self))

    def _describe(self, err):
        return errors.describe(err, translate=lambda text: self.env._(text))  # pylint: disable=translation-required

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
        connector = self.env["mail.sync.connector"]
        before = (
            {a.id: connector._secret_destinations(a) for a in self} if moved else None
        )
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
        # OAuth tokens are the consent of one account at one provider: another
        # address or provider erases them (as a moved password is erased).
        reconsent = self.browse()
        if "email" in vals or "provider" in vals:
            reconsent = self.filtered(
                lambda a: (
                    (a.email or "").strip().lower()
                    != (vals.get("email", a.email) or "").strip().lower()
                    or a.provider != vals.get("provider", a.provider)
                )
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
            connector._erase_moved_secrets(self, before, vals)
        if reconsent:
            self.env["mail.sync.oauth.token"]._erase(reconsent)
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
        connector = testing.env["mail.sync.connector"]
        for account in testing.browse(connected.ids):
            self.env["mail.sync.connect.attempt"]._mail_sync_count_attempt(
                self.env.user
            )
            try:
                with self.env.cr.savepoint():
                    account.write(vals)
                    connector._check_ready(account)
                    connector._test_and_enable(account)
            except (errors.MailSyncError, UserError) as err:
                self.env.invalidate_all()
                connector._refuse_untested_change(account, err)
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
    # Passwords re-encrypted by a key rotation (mail.sync.secret.key._rotate)
    # ------------------------------------------------------------------
    @api.model
    def _secret_tokens(self):
        """``[(mailbox id, field, token)]`` of every stored secret."""
        self.flush_model(list(SECRET_FIELDS))
        self.env.cr.execute(
            """SELECT id, imap_secret, smtp_secret FROM mail_sync_account
                WHERE COALESCE(imap_secret, '') != '' OR COALESCE(smtp_secret, '') != ''
                ORDER BY id"""
        )
        return [
            (account_id, field, token)
            for account_id, *tokens in self.env.cr.fetchall()
            for field, token in zip(SECRET_FIELDS, tokens, strict=True)
            if token
        ]

    @api.model
    def _reencrypt_passwords(self, old_key, new_key, forget_undecryptable):
        """Every stored password re-encrypted with ``new_key`` (key rotation,
        mail.sync.secret.key._rotate); returns (reencrypted, forgotten)."""
        tokens = self._secret_tokens()
        accounts = self.browse(sorted({account_id for account_id, *_rest in tokens}))
        if accounts:
            self.env.cr.execute(
                "SELECT id FROM mail_sync_account WHERE id = ANY(%s) FOR NO KEY UPDATE",
                [accounts.ids],
            )
        reencrypted = forgotten = 0
        for account in accounts:
            vals = {}
            for field in SECRET_FIELDS:
                token = account[field]
                if not token:
                    continue
                try:
                    if not old_key:
                        raise crypto.SecretKeyError("no key")
                    plaintext = crypto.decrypt(old_key, token)
                except crypto.SecretKeyError as exc:
                    if not forget_undecryptable:
                        raise UserError(
                            self.env._(
                                "A password of %(mailbox)s cannot be decrypted with "
                                "the current key: nothing was changed. Restore the "
                                "key it was stored with, or rotate with "
                                "forget_undecryptable=True to erase such passwords "
                                "(their owners then enter them again).",
                                mailbox=account.display_name,
                            )
                        ) from exc
                    vals[field] = False
                    forgotten += 1
                else:
                    vals[field] = crypto.encrypt(new_key, plaintext)
                    reencrypted += 1
            account.write(vals)
        return reencrypted, forgotten

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

    # ------------------------------------------------------------------
    # The form's buttons: who may press them, then the services
    # ------------------------------------------------------------------
    def action_connect(self):
        """Test IMAP and SMTP for real, then enable the mailbox, or leave it
        Pending when the company's limit is reached (mail.sync.connector)."""
        self.ensure_one()
        self._check_owner()
        return self.env["mail.sync.connector"]._connect(self)

    def action_confirm_address(self):
        """Send a new confirmation email and watch the Inbox for it again."""
        self.ensure_one()
        self._check_owner()
        return self.env["mail.sync.connector"]._confirm_address(self)

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
        """Disconnect: keep or remove the synced communication, then return to
        draft with credentials, pinned certificates and checkpoints erased. The
        owner or an administrator (force-disconnect) may do it."""
        self._check_owner_or_admin()
        return self.env["mail.sync.connector"]._disconnect(self, keep_history)

    def action_connect_oauth(self):
        """Start "Connect with Google / Microsoft" (mail.sync.oauth)."""
        self.ensure_one()
        self._check_owner()
        return self.env["mail.sync.oauth"]._start(self)

    def action_dismiss_oauth_notice(self):
        self.ensure_one()
        self._check_owner()
        self.env["mail.sync.oauth"]._notify(self, False, False)
        return True

    def action_sync_now(self):
        """A turn at once, unless the mailbox is being synced already; a
        historical sync still running continues in the background (scheduled
        action). The owner's Sync Now ends a login back-off."""
        self.ensure_one()
        self._check_owner_or_admin()
        if self.state not in ("enabled", "error"):
            raise MailSyncUserError(
                _("Only a connected mailbox (Enabled or Error) syncs."),
                _("Mailbox not connected"),
            )
        by_owner = self.user_id == self.env.user
        if not self.sync_historical_done:
            if by_owner:
                self.env["mail.sync.turn"]._reset_backoff(self)
            self.env.ref("mail_sync_crm.ir_cron_mail_sync")._trigger()
            return self._notification(
                _("The historical sync continues in the background."), "info"
            )
        return self.env["mail.sync.scheduler"]._sync_now(self, by_owner)

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
        """Personal Emails by Stage on the emails this mailbox put on chatters:
        its total of "Emails" is the mailbox's Emails Recorded."""
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "mail_sync_crm.mail_sync_message_action_report"
        )
        action.update(
            name=self.env._("Emails Recorded: %(mailbox)s", mailbox=self.display_name),
            domain=[("account_id", "=", self.id), ("introduced", "=", True)],
            view_mode="pivot,graph,list,form",
            views=[
                (False, "pivot"),
                (False, "graph"),
                (False, "list"),
                (False, "form"),
            ],
            context={"create": False},
        )
        return action
