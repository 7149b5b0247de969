/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import { Component } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { session } from "@web/session";

/**
 * "Your Mail Sync is not configured": shown in the top bar to internal users whose
 * mailbox is not syncing; opens their Mail Sync settings.
 */
export class MailSyncSystray extends Component {
    static template = "mail_sync_crm.MailSyncSystray";
    static props = {};

    setup() {
        this.action = useService("action");
    }

    onClick() {
        this.action.doAction("mail_sync_crm.mail_sync_account_action_my");
    }
}

if (session.mail_sync_configured === false) {
    registry.category("systray").add(
        "mail_sync_crm.MailSyncSystray",
        { Component: MailSyncSystray },
        { sequence: 30 }
    );
}
