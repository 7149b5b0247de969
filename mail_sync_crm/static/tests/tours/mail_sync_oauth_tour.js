/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import { registry } from "@web/core/registry";

// A salesperson presses "Connect with Google" on their Gmail mailbox; the browser
// goes to the (local) authorization server, which consents at once, comes back
// through the callback and lands on the mailbox, enabled.
registry.category("web_tour.tours").add("mail_sync_crm_oauth_tour", {
    steps: () => [
        {
            content: "Connect with Google is the main action",
            trigger: ".o_form_view button.btn-primary[name=action_connect_oauth]:contains(Connect with Google)",
            run: "click",
        },
        {
            content: "Back on the mailbox: connected",
            trigger: ".o_form_view .alert-success:contains(Mailbox connected)",
        },
        {
            content: "The mailbox is enabled",
            trigger: ".o_form_view .o_statusbar_status button.o_arrow_button_current:contains(Enabled)",
        },
    ],
});
