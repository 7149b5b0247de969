# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Move a synced email (or its thread) to the right lead: the owner's choice,
kept by the ledger (``mail.sync.moved``) so that no later sync puts it back."""

from odoo import _, api, fields, models


class MailSyncMoveWizard(models.TransientModel):
    _name = "mail.sync.move.wizard"
    _description = "Move an Email to Another Lead"

    lead_id = fields.Many2one("crm.lead", string="From", required=True, readonly=True)
    mail_message_id = fields.Many2one(
        "mail.message",
        string="Email",
        required=True,
        readonly=True,
        ondelete="cascade",
    )
    subject = fields.Char(related="mail_message_id.subject")
    target_lead_id = fields.Many2one(
        "crm.lead",
        string="Move To",
        required=True,
        help="The lead or opportunity this email belongs to (one you may edit).",
    )
    whole_thread = fields.Boolean(
        string="Whole thread",
        help="Move every email of this conversation that your mailbox recorded on "
        "this lead, not only this one.",
    )

    @api.model_create_multi
    def create(self, vals_list):
        records = super().create(vals_list)
        # the email must be the caller's own synced email on that lead: refused
        # at once (AccessError) rather than after choosing the target
        for wizard in records:
            self.env["mail.sync.moved"]._mail_sync_movable(
                wizard.lead_id, wizard.mail_message_id.id
            )
            if wizard.target_lead_id:
                wizard.target_lead_id.check_access("write")
        return records

    def action_move(self):
        """Move, then show the lead the email went to."""
        self.ensure_one()
        # read first: the email's copy on this lead may go (and this wizard with it)
        target = self.target_lead_id
        count = self.env["mail.sync.moved"]._mail_sync_move(
            self.lead_id,
            target,
            self.mail_message_id.id,
            whole_thread=self.whole_thread,
        )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": _("Email moved"),
                "message": _(
                    "%(count)s email(s) moved to %(lead)s; the sync will not put "
                    "them back here.",
                    count=count,
                    lead=target.display_name,
                ),
                "type": "success",
                "next": {"type": "ir.actions.act_window_close"},
            },
        }
