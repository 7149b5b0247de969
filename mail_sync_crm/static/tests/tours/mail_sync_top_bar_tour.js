/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import { registry } from "@web/core/registry";

// The top bar of a user whose mailbox is Pending, in Error or in Connection says
// so, in the status's colour, and opens the mailbox.
const STATES = {
    pending: ["Mail Sync pending", "text-bg-secondary"],
    error: ["Mail Sync error", "text-bg-warning"],
    connection: ["Mail Sync stopped", "text-bg-danger"],
};
for (const [state, [label, badge]] of Object.entries(STATES)) {
    registry.category("web_tour.tours").add(`mail_sync_crm_top_bar_${state}_tour`, {
        steps: () => [
            {
                content: `The top bar says: ${label}`,
                trigger: `.o_mail_sync_top_bar_${state}.${badge}:contains(${label}):not(.o_mail_sync_not_configured)`,
                run: "click",
            },
            {
                content: "It opens the user's mailbox",
                trigger: `.o_form_view .o_statusbar_status button.o_arrow_button_current`,
            },
        ],
    });
}
