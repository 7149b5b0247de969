/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import { registry } from "@web/core/registry";

// The tour's test sends the email once the edit is typed: the page tells it by
// subscribing to this bus channel (the test watches the server's subscriptions).
const TYPED_CHANNEL = "mail_sync_crm_tour_new_email_typed";
const EDITED_NAME = "Acme robots - call back Tuesday";
const SUBJECT = "Robots: the live quote";

// The salesperson is on the lead, typing: an email arrives in the mailbox and
// the listener's turn records it; its chatter shows it with no reload, and what
// was typed (not saved) is still there.
registry.category("web_tour.tours").add("mail_sync_crm_new_email_live_tour", {
    steps: () => [
        {
            content: "The lead's chatter is loaded",
            trigger: `.o_form_view .o-mail-Chatter .o-mail-Thread`,
        },
        {
            content: "The salesperson edits the lead's name, without saving",
            trigger: `.o_form_view .o_field_widget[name=name] textarea`,
            run: `edit ${EDITED_NAME}`,
        },
        {
            content: "The form has unsaved changes",
            trigger: `.o_form_status_indicator_buttons:not(.invisible) .o_form_button_save`,
        },
        {
            content: "No email yet: the test may send it",
            trigger: `.o-mail-Chatter:not(:has(.o-mail-Message:contains("${SUBJECT}")))`,
            run() {
                odoo.__WOWL_DEBUG__.root.env.services.bus_service.addChannel(TYPED_CHANNEL);
            },
        },
        {
            content: "The email arrives in the chatter, no reload",
            trigger: `.o-mail-Chatter .o-mail-Message:contains("${SUBJECT}")`,
            timeout: 60000,
        },
        {
            content: "What was typed is still there, still unsaved",
            trigger: `.o_form_view:has(.o_form_status_indicator_buttons:not(.invisible) .o_form_button_save) .o_field_widget[name=name] textarea:value("${EDITED_NAME}")`,
        },
    ],
});
