/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import { registry } from "@web/core/registry";

// A salesperson sends a message from an opportunity that has an email but no
// contact: the suggested recipient is ticked, and the message is posted to it.
registry.category("web_tour.tours").add("mail_sync_crm_send_without_contact_tour", {
    steps: () => [
        {
            content: "Open the composer",
            trigger: ".o-mail-Chatter-sendMessage",
            run: "click",
        },
        {
            content: "The lead's address is the suggested recipient, ticked",
            trigger: `.o-mail-SuggestedRecipient:contains("alice.martin@acme.example.com") input:checked`,
        },
        {
            content: "Write",
            trigger: ".o-mail-Composer-input",
            run: "edit Our offer for the robots",
        },
        {
            content: "Send",
            trigger: ".o-mail-Composer-send:enabled",
            run: "click",
        },
        {
            content: "The message is posted to Alice",
            trigger: `.o-mail-Message:contains("Our offer for the robots")`,
        },
    ],
});
