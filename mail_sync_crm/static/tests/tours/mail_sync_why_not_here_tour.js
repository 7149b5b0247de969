/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import { registry } from "@web/core/registry";

// tests/test_why_not_here_ui.py: Alice's quote is blocklisted (acme.example.com,
// the salesperson's own entry); asked on the lead, the wizard says so and what
// to do.
registry.category("web_tour.tours").add("mail_sync_crm_why_not_here_tour", {
    steps: () => [
        {
            content: "Ask why an email is not on the lead",
            trigger: ".o_form_view button.o_mail_sync_why",
            run: "click",
        },
        {
            content: "The lead's address is proposed; ask about Alice",
            trigger: ".modal div[name=question] input",
            run: "edit alice.martin@acme.example.com",
        },
        {
            content: "Ask",
            trigger: ".modal button[name=action_ask]",
            run: "click",
        },
        {
            content: "The answer names the blocklist entry",
            trigger: `.modal .o_mail_sync_why_findings td:contains("Blocklisted by the entry acme.example.com")`,
        },
        {
            content: "and what to do",
            trigger: `.modal .o_mail_sync_why_findings td:contains("Remove the blocklist entry")`,
        },
        {
            content: "with the email it concerns",
            trigger: `.modal .o_mail_sync_why_findings td:contains("Blocked quote")`,
        },
        {
            content: "Close",
            trigger: ".modal button.btn-secondary:contains(Close)",
            run: "click",
        },
        {
            content: "Back on the lead",
            trigger: ".o_form_view:not(:has(.modal))",
        },
    ],
});

// The owner moves "Shop order" from the Emails view to Alice's shop.
registry.category("web_tour.tours").add("mail_sync_crm_move_email_tour", {
    steps: () => [
        {
            content: "Open the Emails view",
            trigger: ".o_form_view button[name=action_view_conversation]",
            run: "click",
        },
        {
            content: "Move the shop order",
            trigger: ".o_mail_sync_thread:has(.o_mail_sync_thread_subject:contains(Shop order)) .o_mail_sync_move",
            run: "click",
        },
        {
            content: "Choose the right lead",
            trigger: ".modal div[name=target_lead_id] input",
            run: "edit Alice's shop",
        },
        {
            content: "pick it",
            trigger: ".ui-autocomplete a:contains(Alice's shop)",
            run: "click",
        },
        {
            content: "Move",
            trigger: ".modal button[name=action_move]",
            run: "click",
        },
        {
            content: "The Emails view no longer shows it",
            trigger: ".o_mail_sync_conversation:not(:has(.modal)):not(:has(.o_mail_sync_thread))",
        },
    ],
});

// The owner moves "Shop order" from the lead's chatter (the message's actions).
const order = '.o-mail-Message:contains("Shop order")';
registry.category("web_tour.tours").add("mail_sync_crm_move_email_chatter_tour", {
    steps: () => [
        {
            content: "Scroll to the lead's chatter",
            trigger: ".o-mail-Chatter",
            run() {
                this.anchor.scrollIntoView();
            },
        },
        {
            content: "Open the email's actions",
            trigger: order,
            run: `hover && click ${order} [title='Expand']`,
        },
        {
            content: "Move to another lead",
            trigger: `.o-mail-Message-moreMenu [title='Move to another lead'], ${order} [title='Move to another lead']`,
            run: "click",
        },
        {
            content: "Choose the right lead",
            trigger: ".modal div[name=target_lead_id] input",
            run: "edit Alice's shop",
        },
        {
            content: "pick it",
            trigger: ".ui-autocomplete a:contains(Alice's shop)",
            run: "click",
        },
        {
            content: "Move",
            trigger: ".modal button[name=action_move]",
            run: "click",
        },
        {
            content: "The lead's chatter no longer shows it",
            trigger: `.o-mail-Chatter:not(:has(${order}))`,
        },
    ],
});
