# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from datetime import timedelta

from odoo import api, fields, models
from odoo.tools.misc import format_datetime

from ..lib import errors
from ..lib.imap import news as imap_news
from ..lib.secrets import secret_key
from .mail_sync_news import POOL_PARAM


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    mail_sync_user_limit = fields.Integer(
        related="company_id.mail_sync_user_limit", readonly=False
    )
    mail_sync_block_own_domain = fields.Boolean(
        related="company_id.mail_sync_block_own_domain", readonly=False
    )
    mail_sync_skip_mailing_lists = fields.Boolean(
        related="company_id.mail_sync_skip_mailing_lists", readonly=False
    )
    mail_sync_skip_automated = fields.Boolean(
        related="company_id.mail_sync_skip_automated", readonly=False
    )
    mail_sync_skip_role_senders = fields.Boolean(
        related="company_id.mail_sync_skip_role_senders", readonly=False
    )
    mail_sync_daily_cap = fields.Integer(
        related="company_id.mail_sync_daily_cap", readonly=False
    )
    mail_sync_attachment_cap = fields.Integer(
        related="company_id.mail_sync_attachment_cap", readonly=False
    )
    mail_sync_past_mail = fields.Selection(
        related="company_id.mail_sync_past_mail", readonly=False
    )
    mail_sync_billable_count = fields.Integer(
        related="company_id.mail_sync_billable_count"
    )
    mail_sync_visibility = fields.Selection(
        related="company_id.mail_sync_visibility", readonly=False
    )
    mail_sync_visibility_floor = fields.Selection(
        related="company_id.mail_sync_visibility_floor", readonly=False
    )
    mail_sync_admins_read_hidden = fields.Boolean(
        related="company_id.mail_sync_admins_read_hidden", readonly=False
    )
    mail_sync_retention_months = fields.Integer(
        related="company_id.mail_sync_retention_months", readonly=False
    )
    mail_sync_allowed_hosts = fields.Char(
        string="Allowed Mail Servers",
        config_parameter="mail_sync_crm.allowed_hosts",
        help="Address ranges (CIDR) or host names, comma-separated, that mailboxes "
        "may connect to besides public addresses (empty: public addresses only).",
    )
    mail_sync_poll_pool_size = fields.Integer(
        string="IMAP Connections per Run",
        config_parameter=POOL_PARAM,
        default=imap_news.DEFAULT_POOL_SIZE,
        help="How many mailboxes a scheduled sync checks for news at once, one "
        "IMAP connection each (1 to 64; 0 means the default, 16).",
    )
    mail_sync_key_ok = fields.Boolean(compute="_compute_mail_sync_key")
    mail_sync_key_status = fields.Char(
        string="Encryption Key", compute="_compute_mail_sync_key"
    )
    mail_sync_key_fingerprint = fields.Char(
        string="Key Fingerprint", compute="_compute_mail_sync_key"
    )
    mail_sync_health = fields.Char(
        string="Mail Sync Status", compute="_compute_mail_sync_health"
    )
    mail_sync_health_ok = fields.Boolean(compute="_compute_mail_sync_health")

    # OAuth: Odoo's own client credentials (the same fields as the google_gmail
    # and microsoft_outlook modules declare, so either can be installed beside).
    google_gmail_client_identifier = fields.Char(
        "Gmail Client Id", config_parameter="google_gmail_client_id"
    )
    google_gmail_client_secret = fields.Char(
        "Gmail Client Secret", config_parameter="google_gmail_client_secret"
    )
    microsoft_outlook_client_identifier = fields.Char(
        "Outlook Client Id", config_parameter="microsoft_outlook_client_id"
    )
    microsoft_outlook_client_secret = fields.Char(
        "Outlook Client Secret", config_parameter="microsoft_outlook_client_secret"
    )
    mail_sync_oauth_redirect_uri = fields.Char(
        string="Redirect URI", compute="_compute_mail_sync_oauth"
    )
    mail_sync_google_ready = fields.Boolean(compute="_compute_mail_sync_oauth")
    mail_sync_microsoft_ready = fields.Boolean(compute="_compute_mail_sync_oauth")

    # Odoo's settings read and store their values as superuser
    # (ir.config_parameter, ir.default, the groups) in default_get, get_values
    # and set_values: public methods that check nothing themselves, and no RPC
    # layer checks the model's access before them. Over XML-RPC any user, a
    # portal user included, read the OAuth client secrets above through
    # default_get, and set_values ran its superuser writes for a salesperson.
    # The settings are their administrators' (ir.model.access: Settings only).
    @api.model
    def default_get(self, fields):
        self.browse().check_access("read")
        return super().default_get(fields)

    @api.model
    def get_values(self):
        self.browse().check_access("read")
        return super().get_values()

    def set_values(self):
        self.check_access("write")
        return super().set_values()

    @api.depends(
        "google_gmail_client_identifier",
        "google_gmail_client_secret",
        "microsoft_outlook_client_identifier",
        "microsoft_outlook_client_secret",
    )
    def _compute_mail_sync_oauth(self):
        uri = self.env["mail.sync.oauth"]._redirect_uri()
        for settings in self:
            settings.mail_sync_oauth_redirect_uri = uri
            settings.mail_sync_google_ready = bool(
                (settings.google_gmail_client_identifier or "").strip()
                and (settings.google_gmail_client_secret or "").strip()
            )
            settings.mail_sync_microsoft_ready = bool(
                (settings.microsoft_outlook_client_identifier or "").strip()
                and (settings.microsoft_outlook_client_secret or "").strip()
            )

    @api.depends("company_id")
    def _compute_mail_sync_key(self):
        """Where this server finds the key of the mailbox passwords and its
        fingerprint (never the key), or what is wrong with it."""
        # sudo: read-only: where the key is found and its fingerprint (never the
        # key) for the settings page of an administrator; no value of theirs.
        Key = self.env["mail.sync.secret.key"].sudo()
        ok, fingerprint = False, False
        try:
            key, source = Key._found()
        except errors.MailSyncError as err:
            message, hint = self.env["mail.sync.account"]._describe(err)
            status = self.env._("%(message)s %(hint)s", message=message, hint=hint)
        else:
            stored = Key._stored_fingerprint()
            if key is None:
                ok = True
                status = self.env._(
                    "No key yet: made at the first password stored, as %(path)s",
                    path=Key._path(),
                )
            else:
                fingerprint = secret_key.fingerprint(key)
                ok = not stored or stored == fingerprint
                status = (
                    self.env._("In use: %(origin)s", origin=source)
                    if ok
                    else self.env._(
                        "Wrong key: the %(origin)s is not the key the stored "
                        "passwords were made with (fingerprint %(stored)s)",
                        origin=source,
                        stored=stored,
                    )
                )
        for settings in self:
            settings.mail_sync_key_ok = ok
            settings.mail_sync_key_status = status
            settings.mail_sync_key_fingerprint = fingerprint

    @api.depends("company_id")
    def _compute_mail_sync_health(self):
        """One line: the scheduled sync's last and next run, the company's
        mailboxes by status, the errors of the last 24 hours and the mailboxes
        falling behind."""
        cron = self.env.ref("mail_sync_crm.ir_cron_mail_sync", raise_if_not_found=False)
        # sudo: read-only: the scheduled action's dates, the counts of mailboxes
        # by status and of the day's errors of the settings' company.
        cron = cron.sudo() if cron else cron
        # sudo: read-only: the same counts, and of the mailboxes falling behind.
        Account = self.env["mail.sync.account"].sudo()
        labels = dict(Account._fields["state"]._description_selection(self.env))
        for settings in self:
            company = settings.company_id
            counts = dict(
                Account._read_group(
                    [("company_id", "=", company.id), ("state", "!=", "draft")],
                    ["state"],
                    ["__count"],
                )
            )
            # sudo: read-only: a count of the company's log entries of the day.
            errors_day = (
                self.env["mail.sync.log"]
                .sudo()
                .search_count(
                    [
                        ("account_id.company_id", "=", company.id),
                        (
                            "create_date",
                            ">=",
                            fields.Datetime.now() - timedelta(days=1),
                        ),
                    ]
                )
            )
            if not cron or not cron.active:
                runs = self.env._("Scheduled sync disabled")
            elif cron.lastcall:
                runs = self.env._(
                    "Last scheduled sync %(last)s, next %(next)s",
                    last=format_datetime(self.env, cron.lastcall, dt_format="short"),
                    next=format_datetime(self.env, cron.nextcall, dt_format="short"),
                )
            else:
                runs = self.env._(
                    "Scheduled sync not run yet, first at %(next)s",
                    next=format_datetime(self.env, cron.nextcall, dt_format="short"),
                )
            mailboxes = ", ".join(
                f"{counts[state]} {labels[state]}"
                for state in ("enabled", "error", "pending", "connection")
                if counts.get(state)
            ) or self.env._("no mailbox connected")
            settings.mail_sync_health = self.env._(
                "%(runs)s · %(mailboxes)s · %(errors)s errors in the last 24 hours",
                runs=runs,
                mailboxes=mailboxes,
                errors=errors_day,
            )
            # the reconciliation's verdict (mail.sync.completeness)
            behind = Account.search_count(
                [("company_id", "=", company.id), ("falling_behind", "=", True)]
            )
            if behind:
                settings.mail_sync_health += self.env._(
                    " · %(count)s falling behind (lag or held messages growing)",
                    count=behind,
                )
            settings.mail_sync_health_ok = bool(
                cron
                and cron.active
                and not counts.get("error")
                and not counts.get("connection")
                and not behind
            )

    @api.onchange("mail_sync_user_limit")
    def _onchange_mail_sync_user_limit(self):
        """Say, before saving, which mailboxes a lower limit moves to Pending."""
        company = self.company_id
        surplus = self.env["mail.sync.status"]._over_limit(
            company, self.mail_sync_user_limit
        )
        if not surplus:
            return None
        return {
            "warning": {
                "title": self.env._("Mailboxes over the limit"),
                "message": self.env._(
                    "%(company)s syncs %(used)s mailboxes. With a limit of "
                    "%(limit)s, the %(count)s most recently connected stop "
                    "syncing when you save and wait as Pending: %(names)s. Their "
                    "owners are told; they start again on their own when the "
                    "limit is raised or someone disconnects.",
                    company=company.name,
                    used=company.mail_sync_billable_count,
                    limit=self.mail_sync_user_limit,
                    count=len(surplus),
                    names=", ".join(surplus.mapped("display_name")),
                ),
            }
        }
