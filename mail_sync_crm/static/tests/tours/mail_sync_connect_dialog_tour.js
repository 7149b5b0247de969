/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import { registry } from "@web/core/registry";

// A wrong password: the dialog says the incoming mail (IMAP) side failed, not
// "Invalid Operation".
registry.category("web_tour.tours").add("mail_sync_crm_connect_dialog_tour", {
    steps: () => [
        {
            content: "Open the mailbox from the top bar",
            trigger: ".o_mail_sync_not_configured",
            run: "click",
        },
        {
            content: "Type a wrong password",
            trigger: ".o_form_view div[name=imap_password] input",
            run: "edit not-the-password",
        },
        {
            content: "Connect",
            trigger: ".o_form_view button[name=action_connect]:not(:disabled)",
            run: "click",
        },
        {
            content: "The dialog is titled after the failing side",
            trigger: `.modal .modal-title:contains("Incoming mail (IMAP) failed")`,
        },
        {
            content: "and says how to fix it",
            trigger: `.modal .modal-body:contains("How to fix it")`,
        },

    ],
});

// A mailbox in Error shows "Errors 1"; after a Test & Reconnect that works, the
// form reloads with no error count, an "Error Log" button instead (the old
// entry stays in its log).
registry.category("web_tour.tours").add("mail_sync_crm_reconnect_errors_tour", {
    steps: () => [
        {
            content: "The mailbox in Error counts its error",
            trigger: `.o_form_view button[name=action_open_logs] .o_stat_value:contains("1")`,
        },
        {
            content: "Test & Reconnect",
            trigger: ".o_form_view button[name=action_connect]:contains(Reconnect)",
            run: "click",
        },
        {
            content: "Connected again",
            trigger: ".o_notification:contains(Mailbox connected)",
        },
        {
            content: "No error count any more: the button says Error Log",
            trigger: `.o_form_view button[name=action_open_logs]:visible:contains("Error Log")`,
        },
        {
            content: "and its log keeps the old error",
            trigger: ".o_form_view button[name=action_open_logs]:visible:contains('Error Log')",
            run: "click",
        },
        {
            content: "The log lists the old error",
            trigger: ".o_list_view .o_data_row",
        },
    ],
});
