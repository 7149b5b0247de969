# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The Odoo side of a sync run (not a model): what ``lib.sync_engine`` calls to
read the lead index, check the ledger, write chatter messages and checkpoints."""

import datetime
from collections import defaultdict

from markupsafe import Markup

from odoo import fields


def _naive_utc(value):
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(datetime.UTC).replace(tzinfo=None)
    return value


def _format_size(size):
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f} MB"
    return f"{max(1, size // 1024)} KB"


class MailSyncStore:
    def __init__(self, account, auto_commit):
        self.account = account
        self.env = account.env
        self.auto_commit = auto_commit
        self.connected = account.connected_date or fields.Datetime.now()
        self.lead_created = {}
        self.lead_partner = {}
        self.subtype = self.env.ref("mail_sync_crm.mt_synced_email")

    # -- reading --------------------------------------------------------------
    def lead_index(self):
        """Normalised email -> lead ids, from the leads' and their partners'
        addresses, in one query."""
        self.env["crm.lead"].flush_model(["email_normalized", "partner_id", "active"])
        self.env["res.partner"].flush_model(["email_normalized"])
        self.env.cr.execute(
            """
            SELECT l.id, l.email_normalized, p.email_normalized, l.create_date,
                   l.partner_id
              FROM crm_lead l
         LEFT JOIN res_partner p ON p.id = l.partner_id
             WHERE l.active
               AND (l.company_id IS NULL OR l.company_id = %s)
               AND (l.email_normalized IS NOT NULL OR p.email_normalized IS NOT NULL)
            """,
            [self.account.company_id.id],
        )
        index = defaultdict(set)
        for lead, email, partner_email, created, partner in self.env.cr.fetchall():
            for address in (email, partner_email):
                if address:
                    index[address].add(lead)
            self.lead_created[lead] = created
            self.lead_partner[lead] = (partner, partner_email or email)
        return index

    def allowed_leads(self, lead_ids, date):
        """Leads that existed at connect get the history; a lead created later
        only mail dated from its creation on."""
        date = _naive_utc(date)
        return {
            lead
            for lead in lead_ids
            if self.lead_created[lead] <= self.connected
            or (date is not None and date >= self.lead_created[lead])
        }

    def known_pairs(self, folder, candidates):
        pairs = {(h.message_id, lead) for h, leads in candidates for lead in leads}
        if not pairs:
            return set()
        message_ids = list({m for m, _l in pairs})
        lead_ids = list({lead for _m, lead in pairs})
        cr = self.env.cr
        self.env["mail.sync.message"].flush_model()
        cr.execute(
            """SELECT message_id, lead_id FROM mail_sync_message
                WHERE account_id = %s AND message_id = ANY(%s) AND lead_id = ANY(%s)""",
            [self.account.id, message_ids, lead_ids],
        )
        mine = set(cr.fetchall()) & pairs
        self.env["mail.message"].flush_model(["message_id", "model", "res_id"])
        cr.execute(
            """SELECT message_id, res_id, id FROM mail_message
                WHERE model = 'crm.lead' AND message_id = ANY(%s) AND res_id = ANY(%s)
             ORDER BY id""",
            [message_ids, lead_ids],
        )
        on_chatter = {}
        for message_id, lead, mail_message in cr.fetchall():
            on_chatter.setdefault((message_id, lead), mail_message)
        headers = {h.message_id: h for h, _leads in candidates}
        found = [pair for pair in on_chatter if pair in pairs and pair not in mine]
        if found:
            # Already on the chatter (sent from Odoo, or synced by a colleague):
            # this mailbox has it too, nothing to write on the lead.
            self.env["mail.sync.message"].sudo().create(
                [
                    self._ledger_values(folder, headers[m], lead, on_chatter[(m, lead)])
                    for m, lead in found
                ]
            )
        return mine | set(found)

    def cap_left(self):
        cap = self.account.company_id.mail_sync_daily_cap
        if not cap:
            return None
        today = fields.Datetime.now().replace(hour=0, minute=0, second=0, microsecond=0)
        self.env["mail.sync.message"].flush_model()
        self.env.cr.execute(
            """SELECT COUNT(DISTINCT message_id) FROM mail_sync_message
                WHERE account_id = %s AND introduced AND create_date >= %s""",
            [self.account.id, today],
        )
        return max(0, cap - self.env.cr.fetchone()[0])

    # -- writing --------------------------------------------------------------
    def _ledger_values(self, folder, header, lead, mail_message, introduced=False):
        return {
            "account_id": self.account.id,
            "message_id": header.message_id,
            "folder": folder.name,
            "uid": header.uid,
            "direction": folder.direction,
            "date": _naive_utc(header.date) or fields.Datetime.now(),
            "subject": (header.subject or "")[:500],
            "lead_id": lead,
            "mail_message_id": mail_message,
            "introduced": introduced,
        }

    def _body(self, message):
        body = Markup(message.body_html or "")
        if message.omitted_attachments:
            items = Markup("").join(
                Markup("<li>%s (%s)</li>") % (name, _format_size(size))
                for name, size in message.omitted_attachments
            )
            note = self.env._(
                "Attachments left out (over the %(cap)s MB per message limit):",
                cap=self.account.company_id.mail_sync_attachment_cap,
            )
            body += Markup("<p><em>%s</em></p><ul>%s</ul>") % (note, items)
        return body

    def _author(self, folder, message, lead):
        if folder.direction == "out":
            return self.account.user_id.partner_id.id
        partner, partner_email = self.lead_partner.get(lead, (False, None))
        if partner and partner_email in message.from_:
            return partner
        return False

    def record(self, folder, items):
        """One chatter message per (email, lead), with its original date, author,
        subject, sanitised body, attachments and Message-ID; nobody notified."""
        Attachment = self.env["ir.attachment"].sudo()
        message_vals, ledger_keys = [], []
        for item in items:
            message = item.message
            header = item.header
            email_from = (
                self.account.email
                if folder.direction == "out"
                else (header.from_[0] if header.from_ else False)
            )
            for lead in sorted(item.lead_ids):
                attachments = Attachment.create(
                    [
                        {
                            "name": name,
                            "raw": content,
                            "mimetype": mimetype,
                            "res_model": "crm.lead",
                            "res_id": lead,
                        }
                        for name, content, mimetype in message.attachments
                    ]
                )
                message_vals.append(
                    {
                        "model": "crm.lead",
                        "res_id": lead,
                        "message_type": "email",
                        "subtype_id": self.subtype.id,
                        "message_id": header.message_id,
                        "subject": header.subject or message.subject or False,
                        "body": self._body(message),
                        "date": _naive_utc(header.date) or fields.Datetime.now(),
                        "author_id": self._author(folder, message, lead),
                        "email_from": email_from,
                        "attachment_ids": [fields.Command.set(attachments.ids)],
                        "reply_to": email_from,
                    }
                )
                ledger_keys.append((header, lead))
        created = (
            self.env["mail.message"]
            .sudo()
            .with_context(mail_create_nosubscribe=True)
            .create(message_vals)
        )
        self.env["mail.sync.message"].sudo().create(
            [
                self._ledger_values(folder, header, lead, mail_message.id, True)
                for (header, lead), mail_message in zip(
                    ledger_keys, created, strict=True
                )
            ]
        )

    def skip(self, folder, uid, err):
        self.account._log_error(err)

    def checkpoint(self, folder, progress):
        record = self.account.folder_ids.filtered(lambda f: f.name == folder.name)
        record.write(
            {
                "uidvalidity": progress.uidvalidity,
                "last_uid": progress.last_uid,
                "scanned": progress.scanned,
                "total": progress.total,
                "historical_done": record.historical_done or progress.done,
            }
        )
        folder.uidvalidity = progress.uidvalidity
        folder.last_uid = progress.last_uid
        if self.auto_commit:
            # batch done: a failure later resumes from here
            self.env.cr.commit()  # pylint: disable=invalid-commit
