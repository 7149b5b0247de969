# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A lead's past emails: queued when it gets an address (company setting
"Past emails of new leads": Automatic), or by its "Find past emails" button
(Automatic or On request only); found in the background by
``mail.sync.history.request``. The form says "Looking for past emails…" while
a request is queued or running, then how many it found."""

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import email_normalize

from ..superuser import addon_sudo


class CrmLead(models.Model):
    _inherit = "crm.lead"

    mail_sync_past_mode = fields.Selection(
        [("auto", "Automatic"), ("on_request", "On request only"), ("off", "Off")],
        string="Past Emails",
        compute="_compute_mail_sync_past",
        help='The company\'s setting "Past emails of new leads".',
    )
    mail_sync_past_state = fields.Selection(
        [("none", "Not searched"), ("looking", "Looking"), ("done", "Found")],
        string="Past Emails Search",
        compute="_compute_mail_sync_past",
    )
    mail_sync_past_can_search = fields.Boolean(
        compute="_compute_mail_sync_past",
        help="Whether the current user may ask for this lead's past emails (they "
        "may edit it).",
    )
    mail_sync_past_count = fields.Integer(
        string="Past Emails Found",
        compute="_compute_mail_sync_past",
        help="The emails the searches for this lead's past emails added to it.",
    )

    @api.depends_context("company")
    def _compute_mail_sync_past(self):
        # sudo: read-only: the state and counts of the searches for the past
        # emails of leads the caller reads (this compute runs on them), nothing
        # of the mail itself.
        requests = (
            self.env["mail.sync.history.request"]
            .sudo()
            .search([("lead_id", "in", [lead.id for lead in self if lead.id])])
        )
        writable = self._filtered_access("write")
        for lead in self:
            lead.mail_sync_past_can_search = lead in writable
            company = lead.company_id or self.env.company
            lead.mail_sync_past_mode = company.mail_sync_past_mail or "auto"
            mine = requests.filtered(lambda r, lead=lead: r.lead_id.id == lead.id)
            if any(r.state in ("queued", "running") for r in mine):
                lead.mail_sync_past_state = "looking"
            elif mine:
                lead.mail_sync_past_state = "done"
            else:
                lead.mail_sync_past_state = "none"
            lead.mail_sync_past_count = sum(mine.mapped("recorded_count"))

    @api.model_create_multi
    def create(self, vals_list):
        leads = super().create(vals_list)
        addressed = leads.filtered(lambda lead: lead._mail_sync_addresses())
        if addressed:
            # sudo: queueing the search of the past emails of leads the caller just
            # created (so may write): the leads and their addresses, nothing the
            # client chose beyond them, in the caller's company (addon_sudo).
            addon_sudo(self.env["mail.sync.history.request"])._queue(addressed)
        return leads

    def write(self, vals):
        if not {"email_from", "partner_id"} & set(vals):
            return super().write(vals)
        before = {lead.id: lead._mail_sync_addresses() for lead in self}
        result = super().write(vals)
        new = {
            lead.id: lead._mail_sync_addresses() - before.get(lead.id, set())
            for lead in self
        }
        changed = self.filtered(lambda lead: new[lead.id])
        if changed:
            # sudo: queueing the search of the past emails of the new addresses of
            # leads the caller just wrote: the leads and their addresses only.
            addon_sudo(self.env["mail.sync.history.request"])._queue(changed, only=new)
        return result

    def _mail_sync_addresses(self):
        """The normalised addresses the sync matches this lead by."""
        self.ensure_one()
        # sudo: read-only: the email of the lead's contact, as the sync's lead
        # index reads it.
        partner_email = self.sudo().partner_id.email or ""
        return {
            address
            for address in (self.email_normalized, email_normalize(partner_email))
            if address
        }

    def action_mail_sync_find_past_emails(self):
        """Queue the search of these leads' past emails in the connected
        mailboxes of their company (for a user who may write them)."""
        self.check_access("write")
        for lead in self:
            company = lead.company_id or self.env.company
            if company.mail_sync_past_mail == "off":
                raise UserError(
                    self.env._(
                        "Finding past emails is turned off for %(company)s.",
                        company=company.name,
                    )
                )
            if not lead._mail_sync_addresses():
                raise UserError(
                    self.env._("This lead has no email address to look for.")
                )
        # sudo: queueing the search of leads the caller may write (checked above):
        # their ids and addresses only, in the caller's company (addon_sudo).
        Request = addon_sudo(self.env["mail.sync.history.request"])
        queued = Request._queue(self, trigger="button")
        self.invalidate_recordset(["mail_sync_past_state", "mail_sync_past_count"])
        if not queued and not Request._connected_mailboxes(
            self[:1].company_id or self.env.company
        ):
            message = self.env._("No mailbox of this company is connected.")
            kind = "warning"
        else:
            message = self.env._(
                "Looking for past emails: they appear on the lead as they are found."
            )
            kind = "info"
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "message": message,
                "type": kind,
                "sticky": False,
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def _mail_sync_past_mail_refresh(self, request):
        """Have the form of this lead reloaded where whoever queued ``request``
        shows it (``static/src/bus/past_emails_refresh.js``)."""
        user = request.requested_by
        if not user or not user.active or user._is_public():
            return False
        self.env["bus.bus"]._sendone(
            user.partner_id, "mail_sync_crm/past_emails", {"lead_id": self.id}
        )
        return True

    def _mail_sync_past_mail_notify(self, request):
        """Tell whoever queued ``request`` (finished) what it found."""
        if not self._mail_sync_past_mail_refresh(request):
            return
        user = request.requested_by
        count = request.recorded_count
        if count:
            message = self.env._(
                "%(count)s past emails found for %(lead)s.",
                count=count,
                lead=self.display_name,
            )
        else:
            message = self.env._(
                "No new past email found for %(lead)s.", lead=self.display_name
            )
        self.env["bus.bus"]._sendone(
            user.partner_id,
            "simple_notification",
            {"type": "info", "message": message, "sticky": False},
        )
