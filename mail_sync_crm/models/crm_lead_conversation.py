# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The lead's Emails view: its synced emails as conversations (threads by
References / In-Reply-To, see ``lib.conversation``), and Reply, which opens
Odoo's composer so that the mail that leaves continues the thread."""

import ast
from email.utils import parseaddr

from markupsafe import Markup

from odoo import _, models
from odoo.tools.misc import format_datetime

from ..exceptions import MailSyncUserError
from ..lib import conversation


class CrmLead(models.Model):
    _inherit = "crm.lead"

    def action_view_conversation(self):
        """The Emails view of this lead (``static/src/conversation/``)."""
        self.ensure_one()
        return {
            "type": "ir.actions.client",
            "tag": "mail_sync_crm.conversation",
            "name": _("Emails: %(lead)s", lead=self.display_name),
            "context": {"active_id": self.id, "active_model": "crm.lead"},
            "params": {"lead_id": self.id},
        }

    def _mail_sync_ledger_rows(self):
        """The ledger rows of this lead's synced emails, one per email (the row
        of the mailbox that put it on the chatter first), and every row by
        Message-ID. sudo: whoever reads the lead reads its chatter, these
        emails included; the rows add whose mailbox has each email."""
        self.ensure_one()
        self.check_access("read")
        rows = (
            self.env["mail.sync.message"]
            .sudo()
            .search([("lead_id", "=", self.id)], order="introduced desc, id")
        )
        first, every = {}, {}
        for row in rows:
            first.setdefault(row.message_id, row)
            every.setdefault(row.message_id, []).append(row)
        return first, every

    def mail_sync_conversation(self):
        """The lead's synced emails as threads, newest thread first, emails
        oldest first: what the Emails view shows (plain JSON)."""
        first, every = self._mail_sync_ledger_rows()
        emails = [
            conversation.Email(
                key=row,
                message_id=row.message_id,
                subject=row.subject or "",
                date=row.date,
                in_reply_to=row.in_reply_to,
                references=conversation.split_references(row.references),
            )
            for row in first.values()
        ]
        threads = []
        for thread in conversation.thread_emails(emails):
            rows = [email.key for email in thread.emails]
            threads.append(
                {
                    "key": thread.first.message_id,
                    "subject": thread.subject or _("(no subject)"),
                    "reply_subject": conversation.reply_subject(rows[-1].subject),
                    "last_message_id": rows[-1].mail_message_id.id,
                    "emails": [
                        self._mail_sync_email_values(
                            row, every[row.message_id], thread.subject
                        )
                        for row in rows
                    ],
                }
            )
        return {"lead": self.display_name, "threads": threads}

    def _mail_sync_email_values(self, row, rows, thread_subject):
        message = row.mail_message_id.sudo()
        name, address = parseaddr(message.email_from or "")
        if message.author_id:
            sender = message.author_id.name
            address = message.author_id.email or address
        else:
            sender = name or address
        body = str(message.body or "")
        if "data-o-mail-quote" not in body:
            # Odoo's sanitiser marks the quotes of an HTML body; a plain-text
            # body has its "> " lines marked here
            body = conversation.mark_text_quotes(body)
        owners = list(dict.fromkeys(r.account_id.user_id.name for r in rows))
        return {
            "id": row.id,
            "message_id": message.id,
            "subject": row.subject or message.subject or "",
            # a subject of its own, not the thread's with "Re:" before it
            "own_subject": conversation.normalise_subject(row.subject)
            != conversation.normalise_subject(thread_subject),
            "date": row.date and row.date.isoformat(sep=" "),
            "direction": row.direction,
            "direction_label": dict(row._fields["direction"].selection)[row.direction],
            "sender": sender or _("Unknown sender"),
            "sender_email": address,
            "to": row.email_to or "",
            "cc": row.email_cc or "",
            "owners": owners,
            "body": body,
            "attachments": [
                {"id": a.id, "name": a.name, "mimetype": a.mimetype}
                for a in message.attachment_ids
            ],
        }

    def action_mail_sync_reply(self, mail_message_id):
        """Reply to the thread whose last email is ``mail_message_id``: Odoo's
        composer on this lead, "Re: <subject>", to the lead's contact, the
        email as parent, so that the mail carries In-Reply-To and References
        (``_notify_by_email_get_base_mail_values``)."""
        self.ensure_one()
        self.check_access("write")
        first, _every = self._mail_sync_ledger_rows()
        row = next(
            (r for r in first.values() if r.mail_message_id.id == mail_message_id),
            None,
        )
        if row is None:
            raise MailSyncUserError(
                _("This email is not on this lead."), _("Email not found")
            )
        thread = conversation.strip_prefixes(row.subject or "")
        original = row.mail_message_id.sudo()
        partners = self.partner_id
        if not partners and self.email_from:
            partners = self._mail_sync_recipient_partners([self.email_from])
        return {
            "type": "ir.actions.act_window",
            "name": _("Reply"),
            "res_model": "mail.compose.message",
            "view_mode": "form",
            "views": [[False, "form"]],
            "target": "new",
            "context": {
                "default_composition_mode": "comment",
                "default_model": self._name,
                "default_res_ids": self.ids,
                "default_parent_id": mail_message_id,
                "default_subject": conversation.reply_subject(thread),
                "default_partner_ids": partners.ids,
                "default_subtype_xmlid": "mail.mt_comment",
                "default_message_type": "comment",
                "default_body": self._mail_sync_quoted(original),
                # the composer says from which address and server it leaves
                "mail_sync_show_route": True,
            },
        }

    def _mail_sync_quoted(self, message):
        """The body a reply starts with: a blank line to write on, then the
        original email quoted as mail clients quote it ("On <date>, <sender>
        wrote:" above it), marked as a quote for Odoo's folding."""
        name, address = parseaddr(message.email_from or "")
        sender = message.author_id.name or name or address
        if address and sender != address:
            sender = f"{sender} <{address}>"
        attribution = _(
            "On %(date)s, %(sender)s wrote:",
            date=format_datetime(self.env, message.date, dt_format="medium"),
            sender=sender or _("Unknown sender"),
        )
        return Markup(
            '<p><br></p><p data-o-mail-quote="1">%s</p>'
            '<blockquote data-o-mail-quote="1">%s</blockquote>'
        ) % (attribution, message.body or "")

    def _notify_by_email_get_base_mail_values(self, message, additional_values=None):
        """A reply to a synced email continues its thread in the customer's mail
        client: References are that email's References and Message-ID (RFC
        5322), In-Reply-To its Message-ID (Odoo sets only References, from the
        chatter's latest messages)."""
        values = super()._notify_by_email_get_base_mail_values(
            message, additional_values=additional_values
        )
        parent = message.sudo().parent_id
        if not parent.message_id or parent.model != self._name:
            return values
        row = (
            self.env["mail.sync.message"]
            .sudo()
            .search(
                [("mail_message_id", "=", parent.id)],
                order="introduced desc, id",
                limit=1,
            )
        )
        if not row:
            return values
        references = conversation.reply_references(
            parent.message_id, row.references, row.in_reply_to
        )
        headers = ast.literal_eval(values.get("headers") or "{}")
        headers["In-Reply-To"] = parent.message_id
        values["headers"] = repr(headers)
        values["references"] = " ".join(references)
        return values
