/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import { registry } from "@web/core/registry";

/**
 * A lead's form follows its search for past emails: the server sends
 * ``mail_sync_crm/past_emails`` to whoever asked (created the lead, changed its
 * address, pressed Find past emails) when the first emails are on the lead and
 * when the search is done; the form showing that lead is reloaded, so that its
 * history and "Looking for past emails…" / "N past emails found" are current
 * without a page reload. Any other page is left alone.
 */
export const mailSyncPastEmailsService = {
    dependencies: ["bus_service", "action"],
    start(env, { bus_service, action }) {
        bus_service.subscribe("mail_sync_crm/past_emails", async ({ lead_id }) => {
            const controller = action.currentController;
            const props = controller?.props;
            const resId = controller?.currentState?.resId ?? props?.resId;
            if (props?.type === "form" && props.resModel === "crm.lead" && resId === lead_id) {
                await action.restore(controller.jsId);
            }
        });
    },
};

registry.category("services").add("mail_sync_crm.past_emails", mailSyncPastEmailsService);
