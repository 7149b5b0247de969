/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import { registry } from "@web/core/registry";

/**
 * A lead's chatter follows the emails a sync writes on it: once they are
 * committed, the server sends ``mail_sync_crm/new_emails`` with the ids of the
 * leads (store/new_emails.py), nothing else. Each chatter open on one of them
 * fetches its new messages, with the user's own rights, as Odoo's form does
 * when it reloads the same record ("MAIL:RELOAD-THREAD", heard by every mounted
 * thread of that record): the rest of the form, unsaved edits included, is
 * left alone. No chatter of those leads open: nothing is fetched.
 */
export const mailSyncNewEmailsService = {
    dependencies: ["bus_service"],
    start(env, { bus_service }) {
        bus_service.subscribe("mail_sync_crm/new_emails", ({ lead_ids }) => {
            for (const id of lead_ids || []) {
                env.bus.trigger("MAIL:RELOAD-THREAD", { model: "crm.lead", id });
            }
        });
    },
};

registry.category("services").add("mail_sync_crm.new_emails", mailSyncNewEmailsService);
