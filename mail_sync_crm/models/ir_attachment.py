# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import SUPERUSER_ID, models

# What an attachment holds: a change of these on an attachment of a mailbox
# owner's queued mail would send other bytes through the owner's login, on a
# synced email would change the record of what was exchanged.
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

    def unlink(self):
        # sudo: a guard: a client removes no attachment of a synced email (the
        # erasure, the retention and a disconnect remove them as superuser).
        if not self.env.su and self.ids:
            messages = self._mail_sync_messages()
            if messages:
                messages._mail_sync_check_synced()
        return super().unlink()

    def _mail_sync_check_owner_mail(self):
        """Refuse a change of the attachments of a mailbox owner's own mail
        (Smart Mail) to anyone but that owner, and a client's change of the
        attachments of a synced email: whoever may write the lead may write its
        attachments in stock Odoo."""
        if not self.ids:
            return
        messages = self._mail_sync_messages()
        if messages:
            messages._mail_sync_check_owner_mail()
            # sudo: a guard: the addon's own superuser code moves synced
            # attachments (the vault), a client does not change them.
            if not self.env.su:
                messages._mail_sync_check_synced()

    def _mail_sync_messages(self):
        """The messages these attachments are on, whatever the caller may read."""
        # sudo: read-only: the messages these attachments are on, whatever the
        # writer may read; only the guards of mail.message look at them.
        messages = (
            self.env["mail.message"].sudo().search([("attachment_ids", "in", self.ids)])
        )
        return self.env["mail.message"].browse(messages.ids)
