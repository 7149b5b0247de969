# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import _, api, fields, models
from odoo.exceptions import AccessError, ValidationError

from ..client_context import client_defaults
from ..lib.privacy import blocklist

# The fields a client writes (whose entry it is: the record rules decide);
# every other field is computed by the addon.
CLIENT_FIELDS = frozenset({"value", "user_id", "company_id"})


class MailSyncBlocklist(models.Model):
    _name = "mail.sync.blocklist"
    _description = "Mail Sync Blocklist Entry"
    _order = "user_id desc, value"
    _rec_name = "value"

    value = fields.Char(
        string="Email or Domain",
        required=True,
        help="An address (ceo@acme.com) or a whole domain (acme.com, which also "
        "covers its subdomains). Mail exchanged with it is never recorded.",
    )
    kind = fields.Selection(
        [("email", "Email"), ("domain", "Domain")],
        string="Type",
        compute="_compute_kind",
        store=True,
    )
    user_id = fields.Many2one(
        "res.users",
        index=True,
        ondelete="cascade",
        help="Empty: blocked for the whole company. Set: only for this user's mailbox.",
    )
    company_id = fields.Many2one(
        "res.company",
        required=True,
        index=True,
        default=lambda self: self.env.company,
    )

    erased_date = fields.Datetime(
        string="Erased On",
        readonly=True,
        help="An administrator erased everything synced about this address on "
        "this date: no email naming it is recorded again.",
    )

    _sql_constraints = [
        (
            "value_uniq",
            "UNIQUE NULLS NOT DISTINCT (value, user_id, company_id)",
            "This email or domain is already blocked.",
        ),
    ]

    @api.depends("value")
    def _compute_kind(self):
        for entry in self:
            entry.kind = "email" if "@" in (entry.value or "") else "domain"

    @api.model
    def _canonical(self, vals):
        if vals.get("value"):
            try:
                vals["value"] = blocklist.validate_entry(vals["value"])
            except ValueError as exc:
                raise ValidationError(
                    _(
                        "%(value)s is neither an email nor a domain.",
                        value=vals["value"],
                    )
                ) from exc
        return vals

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._check_client_fields(vals)
        entries = self
        # sudo: a guard: a client's context gives defaults of CLIENT_FIELDS only
        # (erased_date is the erasure's, as superuser).
        if not self.env.su:
            entries = self.with_env(
                self.env(
                    context=client_defaults(
                        self.env.context, CLIENT_FIELDS.__contains__
                    )
                )
            )
        return super(MailSyncBlocklist, entries).create(
            [self._canonical(dict(vals)) for vals in vals_list]
        )

    def write(self, vals):
        self._check_client_fields(vals)
        return super().write(self._canonical(dict(vals)))

    def _check_client_fields(self, vals):
        # sudo: a guard: a client writes CLIENT_FIELDS only (no RPC call or route runs
        # with env.su); the addon's superuser code only reads entries (_blocklist_for).
        refused = sorted(set(vals) - CLIENT_FIELDS) if not self.env.su else []
        if refused:
            raise AccessError(
                _(
                    "Only Mail Sync itself sets these fields of a blocklist entry: "
                    "%(fields)s.",
                    fields=", ".join(refused),
                )
            )

    @api.model
    def _blocklist_for(self, user, company):
        """The compiled blocklist of ``user``'s mailbox in ``company``: company-wide
        entries, the user's own, and the company's own domain when its setting is
        on."""
        # sudo: read-only: the blocklist values of the synced mailbox's own user and
        # company (the sync passes them), company-wide entries included.
        entries = self.sudo().search_read(
            [
                ("company_id", "=", company.id),
                ("user_id", "in", (False, user.id)),
            ],
            ["value", "erased_date"],
        )
        return blocklist.Blocklist(
            (e["value"] for e in entries),
            own_domains=company._mail_sync_own_domains(),
            erased=(e["value"] for e in entries if e["erased_date"]),
        )
