/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import { registry } from "@web/core/registry";

// A salesperson asks for the past emails of a lead created after the mailboxes
// were connected ("Past emails of new leads": On request only).
registry.category("web_tour.tours").add("mail_sync_crm_find_past_emails_tour", {
    steps: () => [
        {
            content: "Nothing looked for yet: the lead offers Find past emails",
            trigger: `.o_form_view button[name="action_mail_sync_find_past_emails"]:contains("Find past emails")`,
            run: "click",
        },
        {
            content: "The lead says it is looking",
            trigger: `.o_form_view [name="mail_sync_past_looking"]:contains("Looking for past emails")`,
        },
        {
            content: "The button is gone while it looks",
            trigger: `.o_form_view:not(:has(button[name="action_mail_sync_find_past_emails"]:contains("Find past emails")))`,
        },
    ],
});

// Once the search is done: how many it found, and the emails in the history.
registry.category("web_tour.tours").add("mail_sync_crm_past_emails_found_tour", {
    steps: () => [
        {
            content: "The lead says what was found",
            trigger: `.o_form_view [name="mail_sync_past_found"]:contains("3"):contains("past emails found")`,
        },
        {
            content: "The oldest email is in the history",
            trigger: `.o-mail-Message:contains("C1 first")`,
        },
        {
            content: "And the answer from Sent",
            trigger: `.o-mail-Message:contains("C2 my answer")`,
        },
    ],
});

// Automatic: the lead was just created; its form shows the search going on,
// then, without a reload, the emails and what was found (the bus).
registry.category("web_tour.tours").add("mail_sync_crm_past_emails_live_tour", {
    steps: () => [
        {
            content: "The new lead says it is looking",
            trigger: `.o_form_view [name="mail_sync_past_looking"]:contains("Looking for past emails")`,
        },
        {
            content: "The emails arrive in the history, no reload",
            trigger: `.o-mail-Message:contains("C3 reply")`,
            timeout: 60000,
        },
        {
            content: "And the lead says what was found",
            trigger: `.o_form_view [name="mail_sync_past_found"]:contains("3"):contains("past emails found")`,
            timeout: 60000,
        },
    ],
});
