/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
// A lead's chatter in date order. Odoo lists a record's messages by id (the
// order they were written); mail recorded later (a mailbox reconnected after
// its history was removed, a colleague's mailbox connected later) would sit
// above the messages written since, whatever its date. On a lead, the chatter
// lists, pages and places new messages by (date, id) instead; the server pages
// the same way (controllers/thread.py, models/mail_message.py).

import { Thread } from "@mail/core/common/thread_model";
import { patch } from "@web/core/utils/patch";

/** The models whose chatter reads in date order. */
export const DATE_ORDERED_MODELS = new Set(["crm.lead"]);

/** -1, 0 or 1: ``a`` before, with or after ``b`` in date order (then id). */
export function compareByDate(a, b) {
    const byDate = a.datetime.toMillis() - b.datetime.toMillis();
    if (byDate) {
        return byDate < 0 ? -1 : 1;
    }
    if (a.id === b.id) {
        return 0;
    }
    return a.id < b.id ? -1 : 1;
}

function isPersistent(message) {
    return Number.isInteger(message.id);
}

patch(Thread.prototype, {
    get mailSyncDateOrdered() {
        return DATE_ORDERED_MODELS.has(this.model);
    },

    get nonEmptyMessages() {
        const messages = super.nonEmptyMessages;
        return this.mailSyncDateOrdered ? [...messages].sort(compareByDate) : messages;
    },

    get oldestPersistentMessage() {
        if (!this.mailSyncDateOrdered) {
            return super.oldestPersistentMessage;
        }
        return this.messages
            .filter(isPersistent)
            .reduce((oldest, m) => (!oldest || compareByDate(m, oldest) < 0 ? m : oldest), null);
    },

    get newestPersistentMessage() {
        if (!this.mailSyncDateOrdered) {
            return super.newestPersistentMessage;
        }
        return this.messages
            .filter(isPersistent)
            .reduce((newest, m) => (!newest || compareByDate(m, newest) > 0 ? m : newest), null);
    },

    getFetchParams() {
        const params = super.getFetchParams();
        if (this.mailSyncDateOrdered && this.mailSyncFetchingNew) {
            // "after" is a message id here: every message written since, in
            // date order, whatever its date (see fetchNewMessages)
            params.mail_sync_new = true;
        }
        return params;
    },

    /**
     * The messages written since the chatter was loaded, placed by date. Odoo
     * asks for the messages after the newest shown; in date order an email
     * recorded since may be older than that one, so the server is asked for
     * the messages written after the last one known (by id) instead, and those
     * older than the oldest shown are left for "Load More" (no hole).
     */
    async fetchNewMessages() {
        if (!this.mailSyncDateOrdered || !this.isLoaded || this.status === "loading") {
            return super.fetchNewMessages(...arguments);
        }
        const known = this.messages.filter(isPersistent);
        if (!known.length) {
            return super.fetchNewMessages(...arguments);
        }
        const after = Math.max(...known.map((m) => m.id));
        const oldest = this.oldestPersistentMessage;
        let fetched;
        this.mailSyncFetchingNew = true;
        try {
            fetched = await this.fetchMessages({ after });
        } catch {
            return; // handled in fetchMessages
        } finally {
            this.mailSyncFetchingNew = false;
        }
        if (fetched.length >= this.store.FETCH_LIMIT) {
            // more written since than a page: start again from the newest
            this.messages = await this.fetchMessages();
            this.loadOlder = this.messages.length >= this.store.FETCH_LIMIT;
            return;
        }
        const knownIds = new Set(this.messages.map((m) => m.id));
        const fresh = fetched.filter(
            (m) =>
                !knownIds.has(m.id) && (!this.loadOlder || !oldest || compareByDate(m, oldest) > 0)
        );
        this.messages.push(...fresh);
    },
});
