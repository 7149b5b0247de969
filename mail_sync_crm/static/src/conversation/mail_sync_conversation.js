/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
// The lead's Emails view: its synced emails as conversations, newest thread
// first, each thread's emails in date order, with sender, recipients, direction,
// whose mailbox recorded it and attachments; quoted text folded; Reply opens
// Odoo's composer on the lead; the owner of emails in a thread makes it private
// or shares it again, and moves an email of theirs to another lead
// (models/crm_lead_conversation.py, models/mail_sync_moved.py).
import { Component, markup, onWillStart, useState } from "@odoo/owl";
import { deserializeDateTime } from "@web/core/l10n/dates";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { Layout } from "@web/search/layout";

const { DateTime } = luxon;

const QUOTE = /data-o-mail-quote(?!-)/;

export class MailSyncConversation extends Component {
    static template = "mail_sync_crm.Conversation";
    static props = ["*"];
    static components = { Layout };

    setup() {
        this.orm = useService("orm");
        this.mailStore = useService("mail.store");
        this.actionService = useService("action");
        const action = this.props.action || {};
        this.leadId = action.params?.lead_id || action.context?.active_id;
        this.state = useState({ threads: [], shownQuotes: {}, loaded: false });
        onWillStart(() => this.load());
    }

    async load() {
        const data = await this.orm.call("crm.lead", "mail_sync_conversation", [
            [this.leadId],
        ]);
        for (const thread of data.threads) {
            for (const email of thread.emails) {
                email.html = markup(email.body);
                email.hasQuote = QUOTE.test(email.body);
                email.when = email.date
                    ? deserializeDateTime(email.date).toLocaleString(DateTime.DATETIME_MED)
                    : "";
            }
        }
        Object.assign(this.state, { threads: data.threads, loaded: true });
    }

    emailCount(thread) {
        return thread.emails.length === 1
            ? _t("1 email")
            : _t("%s emails", thread.emails.length);
    }

    ownerLabel(email) {
        if (email.from_odoo) {
            return _t("Sent from Odoo (its copy in Sent, once synced, is this same email)");
        }
        return _t("Recorded from %s's mailbox", email.owners.join(", "));
    }

    /** To the owner: what colleagues see of this email (hidden content). */
    hiddenLabel(email) {
        if (email.private) {
            return _t("Private: colleagues see the participants and date only");
        }
        return email.hidden === "subject"
            ? _t("Colleagues see the subject, participants and date only")
            : _t("Colleagues see the participants and date only");
    }

    async togglePrivate(thread) {
        const data = await this.orm.call("crm.lead", "action_mail_sync_private", [
            [this.leadId],
            thread.last_message_id,
            !thread.private,
        ]);
        // the lead's chatter, if already loaded, shows the change too
        this.mailStore.insert(data, { html: true });
        await this.load();
    }

    /** The owner moves one of their emails (or its thread) to another lead. */
    async move(email) {
        const action = await this.orm.call("crm.lead", "action_mail_sync_move", [
            [this.leadId],
            email.message_id,
        ]);
        await this.actionService.doAction(action, { onClose: () => this.load() });
    }

    toggleQuote(email) {
        this.state.shownQuotes[email.id] = !this.state.shownQuotes[email.id];
    }

    async reply(thread) {
        const action = await this.orm.call("crm.lead", "action_mail_sync_reply", [
            [this.leadId],
            thread.last_message_id,
        ]);
        await this.actionService.doAction(action, { onClose: () => this.load() });
    }
}

registry.category("actions").add("mail_sync_crm.conversation", MailSyncConversation);
