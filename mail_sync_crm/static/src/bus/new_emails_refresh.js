/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import { Thread } from "@mail/core/common/thread";
import { useEffect } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { patch } from "@web/core/utils/patch";

/**
 * A lead's chatter follows the emails a sync writes on it: once they are
 * committed, the server sends ``mail_sync_crm/new_emails`` with the lead's id,
 * nothing else, on the lead's own channel (store/new_emails.py). A page joins
 * that channel while it shows the lead's messages, by asking for
 * ``mail_sync_crm.lead_<id>``; the server grants it only if the user may read
 * the lead (models/ir_websocket.py). Each chatter of the lead then fetches its
 * new messages, with the user's own rights, as Odoo's form does when it
 * reloads the same record ("MAIL:RELOAD-THREAD", heard by every mounted thread
 * of that record): the rest of the form, unsaved edits included, is left
 * alone.
 */
export const mailSyncNewEmailsService = {
    dependencies: ["bus_service"],
    start(env, { bus_service }) {
        bus_service.subscribe("mail_sync_crm/new_emails", ({ lead_ids }) => {
            for (const id of lead_ids || []) {
                env.bus.trigger("MAIL:RELOAD-THREAD", { model: "crm.lead", id });
            }
        });
        const shown = new Map(); // lead id -> how many threads show it
        return {
            /** Hear the new emails of lead ``id`` until the returned function is called. */
            follow(id) {
                const channel = `mail_sync_crm.lead_${id}`;
                shown.set(id, (shown.get(id) || 0) + 1);
                if (shown.get(id) === 1) {
                    bus_service.addChannel(channel);
                }
                return () => {
                    shown.set(id, shown.get(id) - 1);
                    if (!shown.get(id)) {
                        shown.delete(id);
                        bus_service.deleteChannel(channel);
                    }
                };
            },
        };
    },
};

registry.category("services").add("mail_sync_crm.new_emails", mailSyncNewEmailsService);

patch(Thread.prototype, {
    setup() {
        super.setup(...arguments);
        const newEmails = useService("mail_sync_crm.new_emails");
        useEffect(
            (model, id) => {
                if (model === "crm.lead" && Number.isInteger(id) && id > 0) {
                    return newEmails.follow(id);
                }
            },
            () => [this.props.thread.model, this.props.thread.id]
        );
    },
});
