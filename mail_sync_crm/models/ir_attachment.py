# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import SUPERUSER_ID, models

# What an attachment holds: a change of these on an attachment of a mailbox
# owner's queued mail would send other bytes through the owner's login.
CONTENT_FIELDS = frozenset(
    {"datas", "raw", "db_datas", "store_fname", "url", "type", "name", "mimetype"}
)


class IrAttachment(models.Model):
    _inherit = "ir.attachment"

    def write(self, vals):
        # sudo: a guard, on the real user behind any sudo() too; only Odoo's
        # scheduled actions (SUPERUSER_ID) are not someone who could change
        # another's mail.
        if CONTENT_FIELDS & set(vals) and self.env.uid != SUPERUSER_ID:
            self._mail_sync_check_owner_mail()
        return super().write(vals)

    def _mail_sync_check_owner_mail(self):
        """Refuse a change of the attachments of a mailbox owner's own mail
        (Smart Mail) to anyone but that owner: whoever may write the lead may
        write its attachments, the owner's mail's among them."""
        if not self.ids:
            return
        # sudo: read-only: the messages these attachments are on, whatever the
        # writer may read; their emails are checked by mail.message's guard.
        messages = (
            self.env["mail.message"].sudo().search([("attachment_ids", "in", self.ids)])
        )
        if messages:
            self.env["mail.message"].browse(messages.ids)._mail_sync_check_owner_mail()
