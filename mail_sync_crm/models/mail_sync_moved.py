# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Moved emails: the ledger's memory of the synced emails their owner took off a
lead (and put on another one).

The sync records an email on every lead one of its addresses names. When that
lead is the wrong one (two leads of the same contact, a colleague's address on
the wrong opportunity), the owner of the email moves it: its chatter message
goes to the right lead (same content, attachments and date), its ledger rows
follow, and one row here says "this Message-ID is not to be on that lead". The
store's ``known_pairs`` (``store/chatter_store.py``) reads these rows: no later
sync — a resync after a UIDVALIDITY change, a reconnect that reads the history
again, a colleague's mailbox holding the same email — puts it back.

Kept apart from ``mail.sync.message`` so that every count, report and view of
the ledger (one row per email recorded on a lead) stays what it says."""

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

from ..superuser import addon_sudo


class MailSyncMoved(models.Model):
    _name = "mail.sync.moved"
    _inherit = ["mail.sync.mailbox.mixin"]
    _description = "Email Moved off a Lead"
    _order = "id desc"
    _rec_name = "message_id"

    message_id = fields.Char(
        string="Message-ID",
        required=True,
        index=True,
        readonly=True,
        help="The Message-ID of the email moved: no sync records it on this lead "
        "again.",
    )
    lead_id = fields.Many2one(
        "crm.lead",
        string="Moved From",
        required=True,
        index=True,
        readonly=True,
        ondelete="cascade",
    )
    target_lead_id = fields.Many2one(
        "crm.lead", string="Moved To", readonly=True, ondelete="set null"
    )

    _sql_constraints = [
        (
            "moved_uniq",
            "UNIQUE(message_id, lead_id)",
            "An email is moved off a lead once.",
        ),
    ]

    # -- moving ---------------------------------------------------------------
    @api.model
    def _mail_sync_movable(self, lead, message, whole_thread=False):
        """The chatter messages on ``lead`` that moving ``message`` (a chatter
        message id) takes along: that email, or with ``whole_thread`` its
        conversation as the Emails view threads it; only the current user's own
        synced emails (their mailbox put them on the chatter). Raises
        AccessError when ``message`` is not one of them."""
        lead.check_access("read")
        thread_list, _every, _contents, _subjects = lead._mail_sync_threads()
        thread = next(
            (
                t
                for t in thread_list
                if any(
                    getattr(e.key.mail_message_id, "id", None) == message
                    for e in t.emails
                )
            ),
            None,
        )
        if thread is None:
            raise UserError(_("This email is not on this lead."))
        emails = (
            thread.emails
            if whole_thread
            else [e for e in thread.emails if e.key.mail_message_id.id == message]
        )
        message_ids = {e.message_id for e in emails}
        # sudo: read-only: the ledger rows of emails on a lead the caller may read,
        # kept only when the caller's own mailbox put them there (user_id below).
        rows = addon_sudo(self.env["mail.sync.message"]).search(
            [
                ("lead_id", "=", lead.id),
                ("message_id", "in", list(message_ids)),
                ("introduced", "=", True),
                ("user_id", "=", self.env.uid),
            ]
        )
        if message not in rows.mail_message_id.ids:
            raise AccessError(
                _(
                    "Only the owner of a synced email (whose mailbox recorded it) "
                    "can move it to another lead."
                )
            )
        return rows

    @api.model
    def _mail_sync_move(self, lead, target, message, whole_thread=False):
        """Move the current user's synced email ``message`` (a chatter message
        id on ``lead``), or its whole thread, to ``target``: its chatter message
        goes there with its content, attachments and date, the ledger rows
        follow, and a row here keeps the sync from putting it back on ``lead``.
        An email already on ``target`` is only taken off ``lead`` (never twice
        on a lead). Returns the number of emails moved."""
        lead.ensure_one()
        target.ensure_one()
        if target == lead:
            raise UserError(_("Choose another lead than the one the email is on."))
        # the lead the email goes to must be one the user may write
        target.check_access("write")
        rows = self._mail_sync_movable(lead, message, whole_thread)
        # sudo: the ledger of the emails found above (the caller's own, on a lead
        # they may read) and of the lead they chose and may write (check_access
        # above); nothing of the call but these ids is used.
        Ledger = addon_sudo(self.env["mail.sync.message"])
        # sudo: the chatter messages of those emails, moved as Mail Sync moves its
        # own records (mail.message's guard refuses a client's change): their
        # lead only, never what they say.
        Message = addon_sudo(self.env["mail.message"])
        on_target = {
            row.message_id: row.mail_message_id
            for row in Ledger.search(
                [("lead_id", "=", target.id), ("mail_message_id", "!=", False)]
            )
        }
        moved = self.browse()
        for row in rows:
            message = Message.browse(row.mail_message_id.id)
            # every mailbox's ledger rows of this chatter message on ``lead``
            ledger = Ledger.search(
                [("mail_message_id", "=", message.id), ("lead_id", "=", lead.id)]
            )
            moved |= self._mail_sync_note_move(row, lead, target)
            if row.message_id in on_target:
                # already on the target: the copy on ``lead`` goes (its ledger
                # rows with it, SQL cascade)
                message.unlink()
                continue
            attachments = message.attachment_ids.filtered(
                lambda a: a.res_model == "crm.lead" and a.res_id == lead.id
            )
            message.write({"res_id": target.id, "record_name": target.display_name})
            attachments.write({"res_id": target.id})
            ledger.write({"lead_id": target.id})
        # the emails' hidden content follows what their mailboxes' levels say
        self.env["mail.sync.content"]._mail_sync_apply(
            Message.browse(rows.exists().mail_message_id.ids)
        )
        return len(moved)

    def _mail_sync_note_move(self, row, lead, target):
        """Note that ``row``'s email left ``lead`` for ``target``; an email moved
        back to a lead it left may be synced there again."""
        # sudo: the rows of this email's moves (its Message-ID, from a ledger row of
        # the caller's own): the note of this move, and the forgetting of a move
        # off ``target`` when it comes back there.
        Moved = addon_sudo(self)
        message_id = row.mail_message_id.message_id or row.message_id
        Moved.search(
            [("message_id", "=", message_id), ("lead_id", "=", target.id)]
        ).unlink()
        found = Moved.search(
            [("message_id", "=", message_id), ("lead_id", "=", lead.id)]
        )
        if found:
            found.write({"target_lead_id": target.id})
            return found
        return Moved.create(
            {
                "account_id": row.account_id.id,
                "message_id": message_id,
                "lead_id": lead.id,
                "target_lead_id": target.id,
            }
        )
