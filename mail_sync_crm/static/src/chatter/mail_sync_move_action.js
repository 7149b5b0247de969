/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
// "Move to another lead" on the owner's own synced email in a lead's chatter
// (``mail_sync_mine``, models/mail_message.py): the wizard of
// models/crm_lead_conversation.py's action_mail_sync_move.

import { messageActionsRegistry } from "@mail/core/common/message_actions";
import { useComponent } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { useService } from "@web/core/utils/hooks";

export const mailSyncMoveAction = {
    condition: (component) =>
        component.props.message.mail_sync_mine &&
        component.props.thread?.model === "crm.lead",
    icon: "fa fa-share",
    title: _t("Move to another lead"),
    setup: () => {
        const component = useComponent();
        component.mailSyncAction = useService("action");
        component.mailSyncOrm = useService("orm");
    },
    onClick: async (component) => {
        const thread = component.props.thread;
        const action = await component.mailSyncOrm.call(
            "crm.lead",
            "action_mail_sync_move",
            [[thread.id], component.props.message.id]
        );
        await component.mailSyncAction.doAction(action, {
            onClose: () => component.mailSyncAction.doAction("soft_reload"),
        });
    },
    sequence: 95,
};

messageActionsRegistry.add("mail_sync_move", mailSyncMoveAction);
