# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, models

from ..lib import conversation


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

    @api.model
    def _mail_sync_mark_text_quotes(self):
        """Mark the quoted lines of the synced emails recorded before the
        sync marked them (``store/chatter_store.py``), so that the chatter
        folds them as it folds any quote; returns how many changed. Only
        spans are added: the text stays as it was."""
        subtype = self.env.ref(
            "mail_sync_crm.mt_synced_email", raise_if_not_found=False
        )
        if not subtype:
            return 0
        self.env["mail.message"].flush_model(["body", "subtype_id"])
        self.env.cr.execute(
            """SELECT id, body FROM mail_message
                WHERE subtype_id = %s AND body LIKE %s
                  AND body NOT LIKE %s""",
            [subtype.id, "%&gt;%", "%data-o-mail-quote%"],
        )
        rows = [
            (message_id, marked)
            for message_id, body in self.env.cr.fetchall()
            if (marked := conversation.mark_text_quotes(body)) != body
        ]
        if rows:
            self.env.cr.execute_values(
                """UPDATE mail_message m SET body = v.body
                     FROM (VALUES %s) AS v(id, body) WHERE m.id = v.id""",
                rows,
                template="(%s::int, %s::text)",
            )
            self.env["mail.message"].invalidate_model(["body"])
        return len(rows)
