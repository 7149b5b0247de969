/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import { registry } from "@web/core/registry";

// On the opportunity's chatter, the synced email received from Alice shows her
// name (not her address) and, outside its body, "Received · synced from ...'s
// mailbox"; the one sent shows "Sent · ...".
registry.category("web_tour.tours").add("mail_sync_crm_synced_chatter_tour", {
    steps: () => [
        {
            content: "The received email names its sender and the mailbox",
            trigger: `.o-mail-Message:has(.o-mail-Message-author:contains("Alice Martin")):not(:has(.o-mail-Message-author:contains("acme.example.com"))) .o_mail_sync_label:contains("Received · synced from")`,
        },
        {
            content: "The label is outside the body",
            trigger: `.o-mail-Message:has(.o_mail_sync_label:contains("Received")) .o-mail-Message-body:not(:contains("synced from"))`,
        },
        {
            content: "The sent email says Sent",
            trigger: `.o-mail-Message .o_mail_sync_label:contains("Sent · synced from")`,
        },
    ],
});
