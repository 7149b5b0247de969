# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The lead's Emails view: its synced emails as conversations (threads by
References / In-Reply-To, see ``lib.conversation``), and Reply, which opens
Odoo's composer so that the mail that leaves continues the thread."""

import ast
from email.utils import parseaddr

from markupsafe import Markup

from odoo import _, models
from odoo.exceptions import UserError
from odoo.tools.misc import format_datetime

from odoo.addons.mail.tools.discuss import Store

from ..exceptions import MailSyncUserError
from ..lib.message import conversation
from ..superuser import addon_sudo


class _SentFromOdoo:
    """An email written on the lead in Odoo and sent (the chatter's Send
    message, a Reply), shown in its thread at once, before any sync finds its
    copy in a Sent folder. The copy a sync records later has the same
    Message-ID (Odoo sends the message's own): from then on the ledger row
    stands for it, one entry, never two. Reads like a ledger row."""

    introduced = False
    private = False
    direction = "out"
    email_cc = ""
    references = None

    def __init__(self, message):
        self.mail_message_id = message
        self.id = f"odoo-{message.id}"
        self.message_id = message.message_id
        self.date = message.date
        self.subject = message.subject or ""
        self.in_reply_to = message.parent_id.message_id or None
        self.email_to = ", ".join(p.email_formatted for p in message.partner_ids)
        self.user_id = message.create_uid


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
        Message-ID."""
        self.ensure_one()
        self.check_access("read")
        # sudo: read-only: the ledger rows of this lead, whose chatter (these emails
        # included) the caller may read (check_access above); the rows add whose mailbox
        # has each email.
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

    def _mail_sync_threads(self):
        """The lead's synced emails as ``conversation.Thread`` s of their first
        ledger rows (keys), threaded by the subjects the current user may read
        (the owner's hidden subjects from the vault), and every row by
        Message-ID, and {message: vault row} readable by the current user."""
        first, every = self._mail_sync_ledger_rows()
        for message in self._mail_sync_sent_from_odoo(set(first)):
            first[message.message_id] = _SentFromOdoo(message)
            every[message.message_id] = []
        contents = (
            self.env["mail.message"]
            .browse([row.mail_message_id.id for row in first.values()])
            ._mail_sync_readable_content()
        )
        subjects = {
            row: (
                contents[row.mail_message_id].ledger_subject
                if row.mail_message_id in contents
                else row.subject
            )
            or ""
            for row in first.values()
        }
        emails = [
            conversation.Email(
                key=row,
                message_id=row.message_id,
                subject=subjects[row],
                date=row.date,
                in_reply_to=row.in_reply_to,
                references=conversation.split_references(row.references),
            )
            for row in first.values()
        ]
        return conversation.thread_emails(emails), every, contents, subjects

    def _mail_sync_sent_from_odoo(self, recorded):
        """The emails written on this lead in Odoo and sent to someone (a
        comment with recipients), whose Message-ID no sync has recorded yet
        (``recorded``), oldest first. Read as the caller may read them."""
        comment = self.env.ref("mail.mt_comment")
        messages = self.env["mail.message"].search(
            [
                ("model", "=", self._name),
                ("res_id", "=", self.id),
                ("message_type", "=", "comment"),
                ("subtype_id", "=", comment.id),
                ("partner_ids", "!=", False),
            ],
            order="date, id",
        )
        return messages.filtered(
            lambda m: m.message_id and m.message_id not in recorded
        )

    def mail_sync_conversation(self):
        """The lead's synced emails as threads, newest thread first, emails
        oldest first: what the Emails view shows (plain JSON). Hidden content
        (``mail.sync.content``) only to whoever may read it."""
        thread_list, every, contents, subjects = self._mail_sync_threads()
        threads = []
        for thread in thread_list:
            rows = [email.key for email in thread.emails]
            mine = [r for r in rows if r.introduced and r.user_id == self.env.user]
            threads.append(
                {
                    "key": thread.first.message_id,
                    "subject": thread.subject or _("(no subject)"),
                    "reply_subject": conversation.reply_subject(subjects[rows[-1]]),
                    "last_message_id": rows[-1].mail_message_id.id,
                    # the current user's own emails in it: theirs to make
                    # private (or share again)
                    "can_private": bool(mine),
                    "private": bool(mine) and all(r.private for r in mine),
                    # the emails the current user may move to another lead
                    "movable": [r.mail_message_id.id for r in mine],
                    "emails": [
                        self._mail_sync_email_values(
                            row,
                            every[row.message_id],
                            thread.subject,
                            contents.get(row.mail_message_id),
                            subjects[row],
                        )
                        for row in rows
                    ],
                }
            )
        return {"lead": self.display_name, "threads": threads}

    def _mail_sync_email_values(self, row, rows, thread_subject, content, subject):
        # sudo: read-only: the chatter message of one of this lead's ledger rows
        # (_mail_sync_ledger_rows checked the caller may read the lead), shown as
        # colleagues see it (hidden content comes from ``content``, the vault row
        # the caller may read, or not at all).
        message = row.mail_message_id.sudo()
        name, address = parseaddr(message.email_from or "")
        if message.author_id:
            sender = message.author_id.name
            address = message.author_id.email or address
        else:
            sender = name or address
        body = str(content.body or "") if content else str(message.body or "")
        if "data-o-mail-quote" not in body:
            # Odoo's sanitiser marks the quotes of an HTML body; a plain-text
            # body has its "> " lines marked here
            body = conversation.mark_text_quotes(body)
        attachments = content.attachment_ids if content else message.attachment_ids
        owners = list(dict.fromkeys(r.account_id.user_id.name for r in rows))
        return {
            "id": row.id,
            "message_id": message.id,
            "subject": subject
            or (content.subject if content else message.subject)
            or "",
            # a subject of its own, not the thread's with "Re:" before it
            "own_subject": conversation.normalise_subject(subject)
            != conversation.normalise_subject(thread_subject),
            "date": row.date and row.date.isoformat(sep=" "),
            "direction": row.direction,
            "direction_label": _("Sent from Odoo")
            if isinstance(row, _SentFromOdoo)
            else dict(row._fields["direction"].selection)[row.direction],
            "from_odoo": isinstance(row, _SentFromOdoo),
            "sender": sender or _("Unknown sender"),
            "sender_email": address,
            "to": row.email_to or "",
            "cc": row.email_cc or "",
            "owners": owners,
            "body": body,
            "hidden": content.level if content else False,
            "private": bool(content and content.private),
            "attachments": [
                {"id": a.id, "name": a.name, "mimetype": a.mimetype}
                for a in attachments.sorted("id")
            ],
        }

    def action_mail_sync_private(self, mail_message_id, private=True):
        """Make the thread of the synced email ``mail_message_id`` private (or,
        ``private=False``, share it again): the current user's own emails in it,
        on every lead they are on, show their participants and date only to
        everyone else; answers synced later join it (``mail.sync.content``).
        Returns the mail store's data of those emails on this lead."""
        self.ensure_one()
        self.check_access("read")
        thread_list, _every, _contents, _subjects = self._mail_sync_threads()
        thread = next(
            (
                t
                for t in thread_list
                if any(e.key.mail_message_id.id == mail_message_id for e in t.emails)
            ),
            None,
        )
        if thread is None:
            raise UserError(_("This email is not on this lead."))
        message_ids = [email.message_id for email in thread.emails]
        # sudo: the current user's own ledger rows (user_id is the caller's), given a
        # flag the caller chooses (a bool) for their own mail only; no other value
        # of the call and none of its context (addon_sudo).
        rows = addon_sudo(self.env["mail.sync.message"]).search(
            [
                ("message_id", "in", message_ids),
                ("introduced", "=", True),
                ("user_id", "=", self.env.uid),
            ]
        )
        if not rows:
            raise UserError(
                _("Only the owner of an email can make its thread private.")
            )
        rows.write({"private": bool(private)})
        self.env["mail.sync.content"]._mail_sync_apply(rows.mail_message_id)
        # the lead's chatter, already loaded in the owner's browser, is updated
        # with what it shows now (the Emails view inserts it in the mail store)
        messages = self.env["mail.message"].browse(
            rows.filtered(lambda r: r.lead_id == self).mail_message_id.ids
        )
        return Store(messages, for_current_user=True).get_result()

    def action_mail_sync_reply(self, mail_message_id):
        """Reply to the thread whose last email is ``mail_message_id``: Odoo's
        composer on this lead, "Re: <subject>", to the lead's contact, the
        email as parent, so that the mail carries In-Reply-To and References
        (``_notify_by_email_get_base_mail_values``)."""
        self.ensure_one()
        self.check_access("write")
        thread_list, _every, _contents, subjects = self._mail_sync_threads()
        row = next(
            (
                email.key
                for thread in thread_list
                for email in thread.emails
                if email.key.mail_message_id.id == mail_message_id
            ),
            None,
        )
        if row is None:
            raise MailSyncUserError(
                _("This email is not on this lead."), _("Email not found")
            )
        thread = conversation.strip_prefixes(subjects[row])
        # sudo: read-only: the email being replied to, a row of this lead's own
        # ledger found above among those the caller may see; its body is what
        # the chatter shows them (hidden content stays in the vault).
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

    def action_mail_sync_move(self, mail_message_id):
        """The wizard moving the synced email ``mail_message_id`` of this lead
        (or its thread) to another lead; only its owner gets it (the wizard
        refuses anyone else's email, ``mail.sync.moved._mail_sync_movable``)."""
        self.ensure_one()
        self.env["mail.sync.moved"]._mail_sync_movable(self, int(mail_message_id))
        return {
            "type": "ir.actions.act_window",
            "name": _("Move Email"),
            "res_model": "mail.sync.move.wizard",
            "view_mode": "form",
            "views": [[False, "form"]],
            "target": "new",
            "context": {
                "default_lead_id": self.id,
                "default_mail_message_id": int(mail_message_id),
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
        chatter's latest messages). Only a parent on this lead counts: the
        poster chooses ``parent_id`` (Odoo does not check where it is), and an
        email synced on another lead must not lend its headers."""
        values = super()._notify_by_email_get_base_mail_values(
            message, additional_values=additional_values
        )
        # sudo: read-only: the parent of the message being sent, which the poster chose
        # (parent_id); it counts below only when it is on this very lead.
        parent = message.sudo().parent_id
        on_this_lead = parent.model == self._name and parent.res_id == self.id
        if not parent.message_id or not on_this_lead:
            return values
        # sudo: read-only: the ledger row of that parent, an email of this lead: its
        # References and In-Reply-To are the headers the reply continues.
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
