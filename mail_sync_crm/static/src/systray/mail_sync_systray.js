/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import { Component, reactive, useState } from "@odoo/owl";
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

/**
 * The user's top-bar state, from the session at page load, then from the bus:
 * the server sends ``mail_sync_crm/top_bar`` to the owner's partner whenever
 * their mailbox changes status (Connect, Disconnect, an error in the scheduled
 * sync, the company's limit), so every open page updates its badge without a
 * reload. "enabled" (or an unknown state) shows nothing.
 */
export const mailSyncTopBarService = {
    dependencies: ["bus_service"],
    start(env, { bus_service }) {
        const topBar = reactive({ state: session.mail_sync_state || "enabled" });
        bus_service.subscribe("mail_sync_crm/top_bar", ({ state }) => {
            topBar.state = state;
        });
        return topBar;
    },
};

export class MailSyncSystray extends Component {
    static template = "mail_sync_crm.MailSyncSystray";
    static props = {};

    setup() {
        this.action = useService("action");
        this.topBar = useState(useService("mail_sync_crm.top_bar"));
    }

    get state() {
        return this.topBar.state;
    }

    /** What the badge says, or undefined when there is nothing to say. */
    get info() {
        return MAIL_SYNC_TOP_BAR_STATES[this.state];
    }

    onClick() {
        this.action.doAction("mail_sync_crm.mail_sync_account_action_my");
    }
}

// Internal users only (the session has no state for others).
if (session.mail_sync_state) {
    registry.category("services").add("mail_sync_crm.top_bar", mailSyncTopBarService);
    registry.category("systray").add(
        "mail_sync_crm.MailSyncSystray",
        { Component: MailSyncSystray },
        { sequence: 30 }
    );
}
