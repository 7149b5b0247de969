/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import { Component } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { session } from "@web/session";

/**
 * The top-bar badge of a user whose mailbox is not syncing: not configured,
 * Pending (the company's limit is reached), Error (still retried) or Connection
 * (no longer tried), in the colour of the status; opens their mailbox.
 */
export const MAIL_SYNC_TOP_BAR_STATES = {
    none: {
        label: _t("Your Mail Sync is not configured"),
        title: _t("Connect your mailbox so your mail with leads lands on their chatter"),
        badge: "text-bg-warning",
    },
    pending: {
        label: _t("Mail Sync pending"),
        title: _t(
            "Your mailbox works but your company's limit of synced mailboxes is reached; it starts syncing when an administrator raises it"
        ),
        badge: "text-bg-secondary",
    },
    error: {
        label: _t("Mail Sync error"),
        title: _t("The last sync of your mailbox failed; it is retried. Open it to see how to fix it"),
        badge: "text-bg-warning",
    },
    connection: {
        label: _t("Mail Sync stopped"),
        title: _t("Your mailbox failed for two days and is no longer synced: connect it again"),
        badge: "text-bg-danger",
    },
};

export class MailSyncSystray extends Component {
    static template = "mail_sync_crm.MailSyncSystray";
    static props = {};

    setup() {
        this.action = useService("action");
        this.state = session.mail_sync_state || "none";
        this.info = MAIL_SYNC_TOP_BAR_STATES[this.state] || MAIL_SYNC_TOP_BAR_STATES.none;
    }

    onClick() {
        this.action.doAction("mail_sync_crm.mail_sync_account_action_my");
    }
}

if (session.mail_sync_state && session.mail_sync_state in MAIL_SYNC_TOP_BAR_STATES) {
    registry.category("systray").add(
        "mail_sync_crm.MailSyncSystray",
        { Component: MailSyncSystray },
        { sequence: 30 }
    );
}
