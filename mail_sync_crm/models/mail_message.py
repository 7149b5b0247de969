# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from markupsafe import Markup

from odoo import SUPERUSER_ID, models
from odoo.exceptions import AccessError
from odoo.osv import expression

from odoo.addons.mail.tools.discuss import Store

from ..lib.message import conversation
from ..superuser import addon_sudo

# A chatter in date order (context ``mail_sync_date_order``): newest first.
DATE_ORDER = "date DESC, id DESC"

# What an email says, kept on its message: a ``mail.mail`` takes its subject,
# author, From, Reply-To, attachments and server from its ``mail.message``
# (``_inherits``), so a change of these is a change of the mail.
MAIL_CONTENT_FIELDS = frozenset(
    {
        "author_id",
        "email_from",
        "reply_to",
        "subject",
        "body",
        "attachment_ids",
        "mail_server_id",
    }
)

# A synced email is a mailbox's record of what was exchanged (the ledger,
# ``mail.sync.message``, points at it): what it says, who wrote it to whom and
# when, and where it is. Only Mail Sync changes or removes it (as superuser: the
# vault, the erasure, a disconnect that removes the history); in stock Odoo any
# user who may write a lead may rewrite or delete its messages over RPC.
SYNCED_FIELDS = MAIL_CONTENT_FIELDS | {
    "model",
    "res_id",
    "message_id",
    "date",
    "partner_ids",
    "message_type",
    "subtype_id",
}


class MailMessage(models.Model):
    _inherit = "mail.message"

    def write(self, vals):
        # sudo: a guard: a client's change of a synced email is refused (a client's
        # call runs as its user, never with env.su); Odoo's own superuser writes (a
        # merge of leads moves and renames their messages) go through.
        if not self.env.su and SYNCED_FIELDS & set(vals):
            self._mail_sync_check_synced()
        # sudo: a guard, on the real user behind any sudo() too: Odoo's own routes
        # write messages as superuser for their author or an administrator
        # (/mail/message/update_content); only Odoo's scheduled actions
        # (SUPERUSER_ID) are not someone who could change another's mail.
        if MAIL_CONTENT_FIELDS & set(vals) and self.env.uid != SUPERUSER_ID:
            self._mail_sync_check_owner_mail()
        return super().write(vals)

    def _mail_sync_check_synced(self):
        """Refuse a client's change or removal of synced emails."""
        if not self.ids:
            return
        # sudo: read-only: whether any of these messages is a synced email (the
        # ledger, which the caller may not read); nothing leaves but the refusal.
        Ledger = self.env["mail.sync.message"].sudo()
        if Ledger.search_count([("mail_message_id", "in", self.ids)], limit=1):
            raise AccessError(
                self.env._(
                    "A synced email is the record of what was exchanged: only Mail "
                    "Sync changes or removes it (an administrator erases everything "
                    "synced about an address under CRM > Configuration > Mail Sync)."
                )
            )

    def _mail_sync_check_owner_mail(self):
        """Refuse a change of what these messages' emails say when one of them
        is a mailbox owner's own mail (Smart Mail: it leaves through their
        server, with their login) and the writer is not that owner: a colleague
        who may write the lead (or is a recipient), an administrator."""
        if not self.ids:
            return
        # sudo: read-only: the emails of these messages, only to see who created
        # them (mail.mail's own guard decides); nothing is written.
        mails = (
            self.env["mail.mail"].sudo().search([("mail_message_id", "in", self.ids)])
        )
        if mails:
            self.env["mail.mail"].browse(mails.ids)._mail_sync_check_content_change()

    def unlink(self):
        # sudo: a guard: a client removes no synced email (a lead's own removal,
        # the erasure and a disconnect remove theirs as superuser).
        if not self.env.su:
            self._mail_sync_check_synced()
        # The vault rows go with their message (SQL cascade), their attachments
        # not: removed here.
        if self:
            # sudo: the vault rows (and their attachments) of messages the caller
            # may delete (mail.message's own unlink checks that below), nothing else.
            addon_sudo(self.env["mail.sync.content"]).search(
                [("mail_message_id", "in", self.ids)]
            ).unlink()
        return super().unlink()

    def _message_fetch(
        self, domain, search_term=None, before=None, after=None, around=None, limit=30
    ):
        """Odoo pages a chatter by id; with context ``mail_sync_date_order``
        (a lead's chatter, ``controllers/thread.py``) it pages by (date, id),
        ``before``/``after``/``around`` naming the message the page starts
        from. With ``mail_sync_date_order="new"``, ``after`` is the last
        message the page knows: every message written since, in date order."""
        order = self.env.context.get("mail_sync_date_order")
        if not order:
            return super()._message_fetch(
                domain,
                search_term=search_term,
                before=before,
                after=after,
                around=around,
                limit=limit,
            )
        result = {}
        if search_term:
            # as Odoo's own _message_fetch searches
            term = search_term.replace(" ", "%")
            # sudo: the attachments of the messages being read
            attachments = (
                self.env["ir.attachment"].sudo()._search([("name", "ilike", term)])
            )
            domain = expression.AND(
                [
                    domain,
                    expression.OR(
                        [
                            [("attachment_ids", "in", attachments)],
                            [("body", "ilike", term)],
                            [("subject", "ilike", term)],
                            [("subtype_id.description", "ilike", term)],
                        ]
                    ),
                    [("message_type", "not in", ["user_notification", "notification"])],
                ]
            )
            result["count"] = self.search_count(domain)
        if around is not None:
            older = self.search(
                expression.AND([domain, self._mail_sync_date_domain("<=", around)]),
                limit=limit // 2,
                order=DATE_ORDER,
            )
            newer = self.search(
                expression.AND([domain, self._mail_sync_date_domain(">", around)]),
                limit=limit // 2,
                order="date ASC, id ASC",
            )
            return {**result, "messages": newer[::-1] + older}
        if after and order == "new":
            domain = expression.AND([domain, [("id", ">", after)]])
        elif after:
            newer = self.search(
                expression.AND([domain, self._mail_sync_date_domain(">", after)]),
                limit=limit,
                order="date ASC, id ASC",
            )
            return {**result, "messages": newer[::-1]}
        if before:
            domain = expression.AND([domain, self._mail_sync_date_domain("<", before)])
        return {
            **result,
            "messages": self.search(domain, limit=limit, order=DATE_ORDER),
        }

    def _mail_sync_date_domain(self, operator, message_id):
        """The messages before (``<``, ``<=``) or after (``>``) the message
        ``message_id`` in date order (then id)."""
        # the message as its reader may see it (a message they may not read
        # bounds the page by id, as Odoo's own paging does)
        date = self.search([("id", "=", int(message_id))], limit=1).date
        if not date:
            return [("id", operator, message_id)]
        strict = operator.rstrip("=")
        return expression.OR(
            [
                [("date", strict, date)],
                [("date", "=", date), ("id", operator, message_id)],
            ]
        )

    def _extras_to_store(self, store, format_reply):
        """A synced email tells the chatter, outside its body, which way it went
        and whose mailbox it came from (``mail_sync_label``, shown by
        ``static/src/chatter/mail_sync_message.js``); to whoever may read its
        hidden content (its owner: ``mail.sync.content``'s record rules), the
        content replaces what colleagues see."""
        result = super()._extras_to_store(store, format_reply=format_reply)
        for message, label in self._mail_sync_labels().items():
            values = {"mail_sync_label": label}
            body = str(message.body or "")
            if "data-o-mail-quote" not in body:
                # Odoo's chatter folds what its sanitiser marked as quoted
                # (``data-o-mail-quote``, "Read More"); it never sees the "> "
                # lines of plain text: they are marked for the chatter here,
                # as for the Emails view, the stored body left as it is.
                marked = conversation.mark_text_quotes(body)
                if marked != body:
                    values["body"] = Markup(marked)
            store.add(message, values)
        self._mail_sync_content_to_store(store)
        return result

    def _mail_sync_readable_content(self):
        """{message: vault row} for the messages whose hidden content the
        current user may read (never under sudo: a sudo environment is no
        user's, and a store built in one may be sent to anyone)."""
        # sudo: a guard: a superuser environment gets no hidden content at all.
        if self.env.su or not self:
            return {}
        Content = self.env["mail.sync.content"]
        if not Content.has_access("read"):
            return {}
        rows = Content.search([("mail_message_id", "in", self.ids)])
        return {self.browse(row.mail_message_id.id): row for row in rows}

    def _mail_sync_mine(self):
        """The synced emails among these that the current user's mailbox put on
        the chatter (theirs to make private or share again)."""
        Ledger = self.env["mail.sync.message"]
        # sudo: a guard: "mine" is a user's, never a superuser environment's.
        if self.env.su or not self or not Ledger.has_access("read"):
            return self.browse()
        rows = Ledger.search(
            [
                ("mail_message_id", "in", self.ids),
                ("introduced", "=", True),
                ("user_id", "=", self.env.uid),
            ]
        )
        return self.browse(rows.mail_message_id.ids)

    def _mail_sync_content_to_store(self, store):
        for message in self._mail_sync_mine():
            store.add(message, {"mail_sync_mine": True})
        for message, content in self._mail_sync_readable_content().items():
            record = self.env[message.model].browse(message.res_id)
            attachments = content.attachment_ids.sorted("id")
            store.add(
                message,
                {
                    "body": content.body,
                    "subject": content.subject,
                    "attachment_ids": Store.many(attachments),
                    "mail_sync_hidden": content.level,
                    "mail_sync_private": content.private,
                },
            )
            for attachment in attachments:
                # shown as the lead's, as before it moved to the vault
                store.add(
                    attachment,
                    {"thread": Store.one(record, as_thread=True, only_id=True)},
                )

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
