# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import _, api, fields, models

from ..store import claims


class MailSyncMessage(models.Model):
    """The sync ledger: one row per (mailbox, Message-ID, lead) recorded. It makes
    "exactly once" checkable, powers removal on disconnect and the reports."""

    _name = "mail.sync.message"
    _inherit = ["mail.sync.mailbox.mixin"]
    _description = "Synced Email"
    _order = "date desc, id desc"
    _rec_name = "subject"

    message_id = fields.Char(
        string="Message-ID",
        required=True,
        index=True,
        help="The email's Message-ID; for a second email reusing the Message-ID "
        "of one already on the lead but saying something else, the Message-ID "
        "followed by # and the start of its content fingerprint.",
        # the report's "Emails": each email once per cell (a ledger line is one
        # per email, lead and mailbox)
        aggregator="count_distinct",
    )
    folder = fields.Char(required=True)
    uid = fields.Integer(string="UID")
    direction = fields.Selection(
        [("in", "Received"), ("out", "Sent")], required=True, index=True
    )
    date = fields.Datetime(index=True)
    subject = fields.Char()
    lead_id = fields.Many2one("crm.lead", required=True, index=True, ondelete="cascade")
    stage_id = fields.Many2one(related="lead_id.stage_id", store=True)
    lead_type = fields.Selection(related="lead_id.type", store=True)
    mail_message_id = fields.Many2one(
        "mail.message", string="Chatter Message", index=True, ondelete="cascade"
    )
    email_to = fields.Char(string="To", help="The To addresses of the email.")
    email_cc = fields.Char(string="Cc", help="The Cc addresses of the email.")
    in_reply_to = fields.Char(
        string="In-Reply-To", help="The Message-ID of the email this one answers."
    )
    references = fields.Text(
        help="The Message-IDs of the email's conversation, oldest first: the "
        "lead's Emails view threads by them."
    )
    content_fingerprint = fields.Char(
        help="A digest of what the email says (date, sender, subject, text, "
        "attachments): copies of one email share it, another email reusing its "
        "Message-ID does not. Empty for rows written before it was kept."
    )
    size = fields.Integer(
        help="The size in bytes of the copy this mailbox holds (RFC822.SIZE): "
        "when the sync meets it again, the copy it already read."
    )
    introduced = fields.Boolean(
        help="This mailbox created the chatter message (rather than finding it "
        "already there, e.g. sent from Odoo or synced by a colleague)."
    )
    private = fields.Boolean(
        readonly=True,
        help="The owner made this email's thread private: colleagues see its "
        "participants and date only.",
    )
    content_removed = fields.Boolean(
        readonly=True,
        help="Its subject, text and attachments were removed after the company's "
        "retention period.",
    )

    _sql_constraints = [
        (
            "message_uniq",
            "UNIQUE(account_id, message_id, lead_id)",
            "A message is recorded once per mailbox and lead.",
        ),
    ]

    def init(self):
        # One mailbox only introduces a (Message-ID, lead) pair: the claim that
        # keeps concurrent syncs from writing it twice (see store/claims.py).
        result = super().init()
        claims.ensure_claim_index(self.env)
        return result

    @api.model
    def _action_list(self, domain):
        """The synced emails matching ``domain``, as a list to open."""
        return {
            "type": "ir.actions.act_window",
            "name": _("Synced Emails"),
            "res_model": "mail.sync.message",
            "view_mode": "list,form",
            "domain": domain,
            "context": {"create": False},
        }
