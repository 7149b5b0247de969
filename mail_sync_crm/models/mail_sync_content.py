# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The vault: what colleagues may not read of a synced email, kept out of the
chatter message itself.

A synced email whose level (``lib.visibility``) hides something from colleagues
keeps on its chatter message (``mail.message``) only what they may see: the
participants and date, the subject at level ``subject``, and a placeholder body
saying whose email it is. Its text, its subject at level ``metadata`` and its
attachments move to one row of ``mail.sync.content``, readable by its owner only
(record rules; administrators too when their company allows it). Its attachments
are linked to that row (``res_model`` = this model), so Odoo's attachment access
(``ir.attachment``, ``/web/content``, ``/web/image``) follows the row's rules,
and searching messages by their text finds nothing of it. The owner's chatter
and Emails view show the row's content (``mail.message._extras_to_store``,
``crm.lead.mail_sync_conversation``).

Content moves between the message and the vault whenever the level that
applies to an email changes (``_mail_sync_apply``): the owner's choice, the
company's rules, a thread made private or shared again, the mailbox that owns
the email. It moves as superuser with none of the caller's context
(``addon_sudo``): the caller chooses at most which messages, never what is
written; the level comes from the ledger and the mailboxes. Retention
(``_cron_retention``) removes the content of old synced mail for everyone, owner
included.
"""

import logging
from datetime import timedelta

from markupsafe import Markup

from odoo import api, fields, models

from ..lib.privacy import visibility
from ..superuser import addon_sudo
from .mail_sync_scheduler import auto_commit

_logger = logging.getLogger(__name__)

LEVEL_SELECTION = [
    ("subject", "Subject, participants and date"),
    ("metadata", "Participants and date only"),
]
BATCH = 1000


class MailSyncContent(models.Model):
    _name = "mail.sync.content"
    _description = "Hidden Content of a Synced Email"
    _rec_name = "subject"
    _order = "id"

    mail_message_id = fields.Many2one(
        "mail.message",
        string="Chatter Message",
        required=True,
        readonly=True,
        index=True,
        ondelete="cascade",
    )
    user_id = fields.Many2one(
        "res.users",
        string="Owner",
        readonly=True,
        index=True,
        help="Whose mailbox put the email on the chatter: the one who reads it.",
    )
    company_id = fields.Many2one("res.company", readonly=True, index=True)
    level = fields.Selection(
        LEVEL_SELECTION,
        string="Colleagues See",
        readonly=True,
        required=True,
    )
    private = fields.Boolean(readonly=True, help="The owner made its thread private.")
    subject = fields.Char(readonly=True)
    ledger_subject = fields.Char(readonly=True)
    # Already sanitised when the email was recorded: kept exactly as it was.
    body = fields.Html(readonly=True, sanitize=False)
    attachment_ids = fields.One2many(
        "ir.attachment",
        "res_id",
        string="Attachments",
        domain=[("res_model", "=", "mail.sync.content")],
        readonly=True,
    )

    _sql_constraints = [
        (
            "message_uniq",
            "UNIQUE(mail_message_id)",
            "A chatter message has one vault row.",
        ),
    ]

    def unlink(self):
        # The attachments point at these rows by res_model/res_id: no cascade.
        # sudo: the attachments of rows being removed (by their own rules).
        self.sudo().attachment_ids.unlink()
        return super().unlink()

    # ------------------------------------------------------------------
    # Which level applies to which chatter message
    # ------------------------------------------------------------------
    @api.model
    def _mail_sync_targets(self, messages):
        """{message id: (owner, company, level, private)} for the synced emails
        among ``messages`` (those a mailbox put on the chatter) whose content
        is still there (retention removes it for good). ``messages`` are the
        superuser's (``_mail_sync_apply``): so is the ledger read here."""
        rows = messages.env["mail.sync.message"].search(
            [("mail_message_id", "in", messages.ids), ("introduced", "=", True)],
            order="id",
        )
        targets = {}
        for row in rows:
            if row.content_removed or row.mail_message_id.id in targets:
                continue
            account = row.account_id
            targets[row.mail_message_id.id] = (
                account.user_id,
                account.company_id,
                visibility.shown_level(account.visibility_effective, row.private),
                row.private,
            )
        return targets

    @api.model
    def _mail_sync_apply(self, messages):
        """Bring the content of these chatter messages where the level that
        applies to each says: on the message (``full``), or in the vault with a
        placeholder on the message. Idempotent."""
        # sudo: the addon moves content between these chatter messages and the vault
        # as their levels say (ledger, mailboxes, company); a caller chooses at most
        # which messages (its own mail, its company's), nothing that is written, and
        # none of its context comes along (addon_sudo).
        messages = addon_sudo(messages).exists()
        Content = messages.env[self._name]
        for start in range(0, len(messages), BATCH):
            Content._mail_sync_apply_batch(messages[start : start + BATCH])

    @api.model
    def _mail_sync_apply_batch(self, messages):
        targets = self._mail_sync_targets(messages)
        vaults = {
            row.mail_message_id.id: row
            for row in self.search([("mail_message_id", "in", messages.ids)])
        }
        to_hide, to_reveal, to_change = [], self.browse(), []
        for message in messages:
            target = targets.get(message.id)
            if target is None:
                continue  # not synced, or its content removed: nothing to move
            level = target[2]
            vault = vaults.get(message.id)
            if level == "full":
                to_reveal |= vault or to_reveal.browse()
            elif not vault:
                to_hide.append((message, target))
            elif (
                vault.user_id,
                vault.company_id,
                vault.level,
                vault.private,
            ) != target:
                to_change.append((vault, target))
        if to_hide:
            self._mail_sync_hide(to_hide)
        if to_change:
            self._mail_sync_rehide(to_change)
        if to_reveal:
            to_reveal._mail_sync_reveal()
        self._mail_sync_ledger_subjects(messages.ids)

    @api.model
    def _mail_sync_ledger_subjects(self, message_ids):
        """The ledger rows of these chatter messages show no subject the chatter
        hides: rows another mailbox writes for an email already on the chatter
        (``store/chatter_store.py``, ``_insert_ledger``) are cleared like the
        rest. One UPDATE, a no-op for mail shown whole."""
        message_ids = [m for m in message_ids if m]
        if not message_ids:
            return
        self.env["mail.sync.message"].flush_model(["subject"])
        self.env.cr.execute(
            """UPDATE mail_sync_message l SET subject = NULL
                 FROM mail_sync_content c
                WHERE c.mail_message_id = l.mail_message_id AND c.level = 'metadata'
                  AND l.mail_message_id = ANY(%s) AND l.subject IS NOT NULL""",
            [message_ids],
        )
        if self.env.cr.rowcount:
            self.env["mail.sync.message"].invalidate_model(["subject"])

    @api.model
    def _mail_sync_apply_mailboxes(self, accounts):
        """Apply the levels of ``accounts`` (mailboxes) to the mail they synced."""
        if not accounts:
            return
        # sudo: read-only: the messages these mailboxes introduced (mailboxes whose
        # owner or company just changed their level), to move their content.
        rows = addon_sudo(self.env["mail.sync.message"]).search(
            [("account_id", "in", accounts.ids), ("introduced", "=", True)]
        )
        self._mail_sync_apply(rows.mail_message_id)

    @api.model
    def _mail_sync_protect(self, account, messages):
        """What the sync calls once it wrote ``messages`` on chatters for
        ``account`` (``store/chatter_store.py``, in the same transaction as the
        claim): a new email answering one of the owner's private emails is
        private too; then each new message's content goes where its level says.
        Costs one query when the mailbox shares everything and has no private
        thread."""
        cr = self.env.cr
        self.env["mail.sync.message"].flush_model()
        cr.execute(
            """SELECT 1 FROM mail_sync_message
                WHERE account_id = %s AND introduced AND private LIMIT 1""",
            [account.id],
        )
        has_private = bool(cr.fetchone())
        if not has_private and account.visibility_effective == "full":
            return
        if has_private:
            self._mail_sync_inherit_privacy(account, messages)
        self._mail_sync_apply(messages)

    @api.model
    def _mail_sync_inherit_privacy(self, account, messages):
        cr = self.env.cr
        cr.execute(
            """SELECT id, message_id, in_reply_to, "references" FROM mail_sync_message
                WHERE account_id = %s AND introduced AND mail_message_id = ANY(%s)
                  AND private IS NOT TRUE""",
            [account.id, messages.ids],
        )
        rows = cr.fetchall()
        named = set()
        for _id, message_id, in_reply_to, references in rows:
            # the email itself too: a private email recorded on another lead
            # later (the past-emails search, a history read again) stays private
            named.add(message_id)
            named.update((references or "").split())
            if in_reply_to:
                named.add(in_reply_to)
        if not named:
            return
        cr.execute(
            """SELECT message_id FROM mail_sync_message
                WHERE account_id = %s AND introduced AND private
                  AND message_id = ANY(%s)""",
            [account.id, list(named)],
        )
        private_ids = {row[0] for row in cr.fetchall()}
        answers = [
            row_id
            for row_id, message_id, in_reply_to, references in rows
            if message_id in private_ids
            or visibility.in_private_thread(
                in_reply_to, (references or "").split(), private_ids
            )
        ]
        if answers:
            cr.execute(
                "UPDATE mail_sync_message SET private = TRUE WHERE id = ANY(%s)",
                [answers],
            )
            self.env["mail.sync.message"].invalidate_model(["private"])

    # ------------------------------------------------------------------
    # Moving content
    # ------------------------------------------------------------------
    @api.model
    def _mail_sync_placeholder(self, owner, level, private):
        """The body colleagues read instead of a hidden email's: whose it is
        and what they do not see (the chatter shows the sender and date)."""
        env = self.with_context(lang=owner.lang or self.env.lang).env
        if private:
            text = env._("Private email: only %(owner)s sees its content.")
        elif level == "subject":
            text = env._("Only %(owner)s sees the text and attachments of this email.")
        else:
            text = env._(
                "Only %(owner)s sees the subject, text and attachments of this email."
            )
        return Markup('<p class="o_mail_sync_hidden"><em>%s</em></p>') % (
            text % {"owner": owner.name or ""}
        )

    def _ledger_subjects(self, messages):
        self.env["mail.sync.message"].flush_model(["subject"])
        self.env.cr.execute(
            """SELECT DISTINCT ON (mail_message_id) mail_message_id, subject
                 FROM mail_sync_message WHERE mail_message_id = ANY(%s)
             ORDER BY mail_message_id, introduced DESC, id""",
            [messages.ids],
        )
        return dict(self.env.cr.fetchall())

    @api.model
    def _mail_sync_hide(self, items):
        """Move the content of each (message, target) of ``items`` to a new
        vault row and leave the placeholder on the message."""
        messages = items[0][0].browse([m.id for m, _t in items])
        messages.flush_recordset(["body", "subject", "attachment_ids"])
        ledger_subjects = self._ledger_subjects(messages)
        vaults = self.create(
            [
                {
                    "mail_message_id": message.id,
                    "user_id": owner.id,
                    "company_id": company.id,
                    "level": level,
                    "private": private,
                    "subject": message.subject,
                    "ledger_subject": ledger_subjects.get(message.id),
                    "body": message.body,
                }
                for message, (owner, company, level, private) in items
            ]
        )
        for (message, _target), vault in zip(items, vaults, strict=True):
            attachments = message.attachment_ids
            if attachments:
                attachments.write({"res_model": self._name, "res_id": vault.id})
        self.env.cr.execute(
            "DELETE FROM message_attachment_rel WHERE message_id = ANY(%s)",
            [messages.ids],
        )
        self._mail_sync_show([(message, target) for message, target in items], vaults)

    def _mail_sync_rehide(self, items):
        """Another level, owner or privacy for rows already in the vault."""
        for vault, (owner, company, level, private) in items:
            vault.write(
                {
                    "user_id": owner.id,
                    "company_id": company.id,
                    "level": level,
                    "private": private,
                }
            )
        vaults = self.browse([vault.id for vault, _t in items])
        self._mail_sync_show(
            [(vault.mail_message_id, target) for vault, target in items], vaults
        )

    @api.model
    def _mail_sync_show(self, items, vaults):
        """Write on each message of ``items`` what colleagues see at its level:
        the placeholder, the subject or none; the ledger's subject likewise."""
        rows = []
        for (message, (owner, _company, level, private)), vault in zip(
            items, vaults, strict=True
        ):
            shown = vault.subject if level == "subject" else None
            rows.append(
                (
                    message.id,
                    str(self._mail_sync_placeholder(owner, level, private)),
                    shown,
                    vault.ledger_subject if level == "subject" else None,
                )
            )
        self._mail_sync_write_messages(rows)

    def _mail_sync_reveal(self):
        """Put the content of these vault rows back on their messages (the
        level became ``full``) and drop the rows."""
        for vault in self:
            message = vault.mail_message_id
            attachments = vault.attachment_ids
            if attachments:
                attachments.write(
                    {
                        "res_model": message.model or "mail.message",
                        "res_id": message.res_id or message.id,
                    }
                )
                self.env.cr.execute_values(
                    """INSERT INTO message_attachment_rel (message_id, attachment_id)
                       VALUES %s ON CONFLICT DO NOTHING""",
                    [(message.id, attachment.id) for attachment in attachments],
                )
        self._mail_sync_write_messages(
            [
                (
                    vault.mail_message_id.id,
                    str(vault.body or ""),
                    vault.subject,
                    vault.ledger_subject,
                )
                for vault in self
            ]
        )
        self.invalidate_recordset(["attachment_ids"])
        self.unlink()

    @api.model
    def _mail_sync_write_messages(self, rows):
        """(message id, body, subject, ledger subject) written as they are: the
        bodies were sanitised when recorded (the ORM would sanitise again)."""
        if not rows:
            return
        self.env["mail.message"].flush_model(["body", "subject"])
        self.env["mail.sync.message"].flush_model(["subject"])
        cr = self.env.cr
        cr.execute_values(
            """UPDATE mail_message m SET body = v.body, subject = v.subject
                 FROM (VALUES %s) AS v(id, body, subject) WHERE m.id = v.id""",
            [(row[0], row[1], row[2]) for row in rows],
            template="(%s::int, %s::text, %s::varchar)",
        )
        cr.execute_values(
            """UPDATE mail_sync_message l SET subject = v.subject
                 FROM (VALUES %s) AS v(id, subject) WHERE l.mail_message_id = v.id""",
            [(row[0], row[3]) for row in rows],
            template="(%s::int, %s::varchar)",
        )
        self.env["mail.message"].invalidate_model(["body", "subject", "attachment_ids"])
        self.env["mail.sync.message"].invalidate_model(["subject"])

    # ------------------------------------------------------------------
    # Retention
    # ------------------------------------------------------------------
    @api.model
    def _cron_retention(self):
        """Reduce the synced mail older than each company's retention to its
        participants and date, for everyone (the owner included)."""
        companies = self.env["res.company"].search(
            [("mail_sync_retention_months", ">", 0)]
        )
        for company in companies:
            cutoff = fields.Datetime.now() - timedelta(
                days=round(30.44 * company.mail_sync_retention_months)
            )
            # sudo: the scheduled action's read of the company's synced mail older
            # than its retention (no client call; the dates are the ledger's).
            rows = addon_sudo(self.env["mail.sync.message"]).search(
                [
                    ("company_id", "=", company.id),
                    ("introduced", "=", True),
                    ("content_removed", "=", False),
                    ("date", "<", cutoff),
                ]
            )
            for start in range(0, len(rows), BATCH):
                self._mail_sync_remove_content(
                    rows[start : start + BATCH].mail_message_id
                )
                if auto_commit():
                    # batch done: a failure later keeps what was reduced
                    self.env.cr.commit()  # pylint: disable=invalid-commit
            if rows:
                _logger.info(
                    "mail_sync_crm: retention reduced %s synced emails of company %s",
                    len(rows),
                    company.id,
                )

    @api.model
    def _mail_sync_remove_content(self, messages):
        """Remove the text, subject and attachments of these synced chatter
        messages for good; they keep their participants and date."""
        # sudo: the retention's (and only the retention's) removal of these synced
        # messages' content: the messages are chosen by their date, nothing written
        # comes from a client (addon_sudo: no caller context).
        messages = addon_sudo(messages).exists()
        if not messages:
            return
        messages.env[self._name].search(
            [("mail_message_id", "in", messages.ids)]
        ).unlink()
        messages.attachment_ids.unlink()
        note = Markup('<p class="o_mail_sync_removed"><em>%s</em></p>') % self.env._(
            "The content of this email was removed after the retention period."
        )
        self._mail_sync_write_messages(
            [(message.id, str(note), None, None) for message in messages]
        )
        self.env["mail.sync.message"].flush_model()
        self.env.cr.execute(
            "UPDATE mail_sync_message SET content_removed = TRUE "
            "WHERE mail_message_id = ANY(%s)",
            [messages.ids],
        )
        self.env["mail.sync.message"].invalidate_model(["content_removed"])
