/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import { registry } from "@web/core/registry";

// A salesperson whose mailbox is not syncing follows the top-bar link, types the
// password and connects (the test points the mailbox at real test servers).
registry.category("web_tour.tours").add("mail_sync_crm_connect_tour", {
    steps: () => [
        {
            content: "The top bar says Mail Sync is not configured",
            trigger: ".o_mail_sync_not_configured",
            run: "click",
        },
        {
            content: "The mailbox form opens on the Connection page",
            trigger: ".o_form_view div[name=imap_password] input",
            run: "edit S3cret-pa55word!",
        },
        {
            content: "Ports read as ports (the test servers' are above 1,000), not as amounts",
            trigger: ".o_form_view div[name=imap_port] input",
            run() {
                for (const name of ["imap_port", "smtp_port"]) {
                    const input = document.querySelector(`.o_form_view div[name=${name}] input`);
                    if (!/^[0-9]{4,5}$/.test(input.value)) {
                        throw new Error(`${name} shows "${input.value}", not a plain number`);
                    }
                }
            },
        },
        {
            content: "Connect: IMAP and SMTP are tested for real",
            trigger: ".o_form_view button[name=action_connect]:not(:disabled)",
            run: "click",
        },
        {
            content: "The mailbox is enabled",
            trigger: ".o_form_view .o_statusbar_status button.o_arrow_button_current:contains(Enabled)",
        },
    ],
});
