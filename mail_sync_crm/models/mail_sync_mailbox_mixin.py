# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models


class MailSyncMailboxMixin(models.AbstractModel):
    """A record that belongs to one synced mailbox (its log entries, its ledger,
    its held-back messages): the mailbox, and its owner and company stored for
    record rules and searches. Deleted with the mailbox."""

    _name = "mail.sync.mailbox.mixin"
    _description = "Record of a Mailbox"

    account_id = fields.Many2one(
        "mail.sync.account",
        string="Mailbox",
        required=True,
        index=True,
        ondelete="cascade",
        readonly=True,
    )
    user_id = fields.Many2one(
        related="account_id.user_id", store=True, index=True, string="Owner"
    )
    company_id = fields.Many2one(
        related="account_id.company_id", store=True, index=True
    )
