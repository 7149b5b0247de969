# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Erasure of everything synced about one address (a person's request).

``_erase`` removes, across all leads, mailboxes and companies: the chatter
messages a sync recorded that name the address (From, To, Cc, or a Bcc that put
a sent email on a lead of that address), their attachments and hidden content
(``mail.sync.content``), every ledger row of those emails, the messages held
back from that address and the error log entries naming it. Mail sent from
Odoo stays (it is no synced mail), but no ledger row about it does. The address
is then blocklisted in every company with the erasure's date, so that no email
naming it is recorded again (``lib.blocklist.Blocklist.names_erased``). Each
erasure leaves one row of this model: when, by whom, which address and how
many records went, never what they said."""

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

from ..lib.message import addresses
from ..lib.privacy import visibility
from ..superuser import addon_sudo


class MailSyncErasure(models.Model):
    _name = "mail.sync.erasure"
    _description = "Mail Sync Erasure"
    _order = "id desc"
    _rec_name = "email"

    email = fields.Char(string="Address", required=True, readonly=True)
    date = fields.Datetime(string="Erased On", required=True, readonly=True)
    user_id = fields.Many2one("res.users", string="Erased By", readonly=True)
    message_count = fields.Integer(string="Chatter Messages", readonly=True)
    attachment_count = fields.Integer(string="Attachments", readonly=True)
    ledger_count = fields.Integer(string="Ledger Rows", readonly=True)
    lead_count = fields.Integer(string="Leads", readonly=True)
    other_count = fields.Integer(
        string="Held Messages and Log Entries",
        readonly=True,
        help="Messages held back from the address and error log entries naming it.",
    )

    @api.model
    def _erase(self, email):
        """Erase everything synced about ``email``; returns the erasure's row."""
        if not self.env.user.has_group("base.group_system"):
            raise AccessError(_("Only an administrator erases synced mail."))
        address = addresses.normalize(email or "")
        if not address:
            raise UserError(_("%(value)s is not an email address.", value=email or ""))
        # sudo: an administrator's erasure (checked above) reaches every company's
        # synced mail; the only value of the request is the normalised address
        # searched for, and none of its context comes along (addon_sudo).
        return addon_sudo(self)._erase_everywhere(address, self.env.user)

    @api.model
    def _erase_everywhere(self, address, erased_by):
        """``_erase``'s work, as superuser."""
        now = fields.Datetime.now()
        Ledger = self.env["mail.sync.message"]
        rows = Ledger.browse(self._ledger_rows_naming(address))
        messages = rows.filtered("introduced").mail_message_id
        # every mailbox's rows of the emails removed, and the rows naming it
        rows |= Ledger.search([("mail_message_id", "in", messages.ids)])
        contents = self.env["mail.sync.content"].search(
            [("mail_message_id", "in", messages.ids)]
        )
        attachments = messages.attachment_ids | contents.attachment_ids
        counts = {
            "message_count": len(messages),
            "attachment_count": len(attachments),
            "ledger_count": len(rows),
            "lead_count": len(rows.lead_id),
        }
        erased_ids = rows.mapped("message_id")
        messages.attachment_ids.unlink()
        messages.unlink()  # with their vault rows (mail.message.unlink)
        # the owners' moves of those emails (Message-IDs) go with them
        self.env["mail.sync.moved"].search([("message_id", "in", erased_ids)]).unlink()
        rows.exists().unlink()
        counts["other_count"] = self._erase_held_and_logged(address)
        self._blocklist_erased(address, now)
        return self.create(
            {"email": address, "date": now, "user_id": erased_by.id, **counts}
        )

    @api.model
    def _ledger_rows_naming(self, address):
        """Ids of the ledger rows of emails that name ``address``: From (the
        chatter message's sender), To, Cc, or a sent email to a lead of that
        address whose To and Cc name none of the lead's addresses (a Bcc)."""
        cr = self.env.cr
        self.env["mail.sync.message"].flush_model()
        self.env["mail.message"].flush_model(["email_from"])
        self.env["crm.lead"].flush_model(["email_normalized", "partner_id"])
        self.env["res.partner"].flush_model(["email_normalized"])
        pattern = (
            "%"
            + address.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
            + "%"
        )
        cr.execute(
            """
            SELECT l.id, l.direction, l.email_to, l.email_cc, m.email_from,
                   lead.email_normalized, contact.email_normalized
              FROM mail_sync_message l
         LEFT JOIN mail_message m ON m.id = l.mail_message_id
         LEFT JOIN crm_lead lead ON lead.id = l.lead_id
         LEFT JOIN res_partner contact ON contact.id = lead.partner_id
             WHERE l.email_to ILIKE %(pattern)s
                OR l.email_cc ILIKE %(pattern)s
                OR m.email_from ILIKE %(pattern)s
                OR (l.direction = 'out'
                    AND (lead.email_normalized = %(address)s
                         OR contact.email_normalized = %(address)s))
            """,
            {"pattern": pattern, "address": address},
        )
        found = []
        for (
            row_id,
            direction,
            to,
            cc,
            email_from,
            lead_email,
            contact_email,
        ) in cr.fetchall():
            sender = (
                addresses.normalize(email_from or "") if direction == "in" else None
            )
            lead_addresses = [lead_email, contact_email]
            if visibility.names_address(address, sender, to, cc) or (
                address in lead_addresses
                and visibility.bcc_only(lead_addresses, direction, to, cc)
            ):
                found.append(row_id)
        return found

    @api.model
    def _erase_held_and_logged(self, address):
        """Remove the messages held back from ``address`` and the log entries
        naming it; returns how many. Called by ``_erase`` as superuser."""
        held = (
            self.env["mail.sync.failed.message"]
            .search([("sender", "ilike", address)])
            .filtered(lambda h: address in addresses.extract_all(h.sender or ""))
        )
        Log = self.env["mail.sync.log"]
        logs = Log.search(
            [
                "|",
                "|",
                ("failed_message_id", "in", held.ids),
                ("message", "ilike", address),
                ("detail", "ilike", address),
            ]
        )
        count = len(held) + len(logs)
        logs.unlink()
        held.unlink()
        return count

    @api.model
    def _blocklist_erased(self, address, date):
        """The address blocklisted company-wide in every company, with the
        erasure's date (an existing entry gets the date). Called by ``_erase``
        as superuser: the date is the erasure's, no client sets it."""
        Blocklist = self.env["mail.sync.blocklist"]
        companies = self.env["res.company"].search([])
        existing = Blocklist.search(
            [
                ("value", "=", address),
                ("user_id", "=", False),
                ("company_id", "in", companies.ids),
            ]
        )
        existing.write({"erased_date": date})
        Blocklist.create(
            [
                {"value": address, "company_id": company.id, "erased_date": date}
                for company in companies - existing.company_id
            ]
        )
