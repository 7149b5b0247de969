# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import models


class MailMessage(models.Model):
    _inherit = "mail.message"

    def _extras_to_store(self, store, format_reply):
        """A synced email tells the chatter, outside its body, which way it went
        and whose mailbox it came from (``mail_sync_label``, shown by
        ``static/src/chatter/mail_sync_message.js``)."""
        result = super()._extras_to_store(store, format_reply=format_reply)
        for message, label in self._mail_sync_labels().items():
            store.add(message, {"mail_sync_label": label})
        return result

    def _mail_sync_labels(self):
        """{message: "Received · from Sally Sales's mailbox"} for the synced
        emails among these (the mailbox that recorded each)."""
        subtype = self.env.ref(
            "mail_sync_crm.mt_synced_email", raise_if_not_found=False
        )
        synced = self.filtered(lambda m: subtype and m.subtype_id == subtype)
        if not synced:
            return {}
        # sudo: the ledger row of a message the user may read says only whose
        # mailbox recorded it and which way it went
        rows = (
            self.env["mail.sync.message"]
            .sudo()
            .search(
                [("mail_message_id", "in", synced.ids), ("introduced", "=", True)],
                order="id",
            )
        )
        labels = {}
        for row in rows:
            message = synced.browse(row.mail_message_id.id)
            if message in labels:
                continue
            owner = row.account_id.user_id.name
            if row.direction == "out":
                labels[message] = self.env._(
                    "Sent · synced from %(owner)s's mailbox", owner=owner
                )
            else:
                labels[message] = self.env._(
                    "Received · synced from %(owner)s's mailbox", owner=owner
                )
        return labels
