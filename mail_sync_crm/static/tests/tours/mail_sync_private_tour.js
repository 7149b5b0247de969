/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import { registry } from "@web/core/registry";

// tests/test_privacy.py: the owner makes the thread of Alice's email private from
// the lead's Emails view and still reads it whole in the chatter; the colleague
// whose lead it is then sees who sent it and when, not its text nor attachment.
const received = `.o-mail-Message:has(.o-mail-Message-author:contains("Alice Martin"))`;
// An email's body is drawn in a shadow root of its own (Odoo's chatter).
const body = (text) =>
    `${received} .o-mail-Message-body .overflow-x-auto:shadow span:contains("${text}")`;

registry.category("web_tour.tours").add("mail_sync_crm_private_owner_tour", {
    steps: () => [
        {
            content: "The owner reads Alice's email and its attachment in the chatter",
            trigger: `${received}:has(.o-mail-AttachmentCard:contains("kangaroo")) .o-mail-Message-body`,
        },
        {
            content: "its text",
            trigger: body("Quokka4711"),
        },
        {
            content: "Open the Emails view",
            trigger: ".o_form_view button[name=action_view_conversation]",
            run: "click",
        },
        {
            content: "Make the thread private",
            trigger: ".o_mail_sync_thread .o_mail_sync_private:contains(Make private)",
            run: "click",
        },
        {
            content: "The thread says it is private; the owner still reads it",
            trigger: `.o_mail_sync_thread:has(.o_mail_sync_private_badge):has(.o_mail_sync_private:contains(Share again)) .o_mail_sync_body:contains("Quokka4711")`,
        },
        {
            content: "and is told what colleagues see of each email",
            trigger: ".o_mail_sync_email .o_mail_sync_hidden_note:contains(Private)",
        },
        {
            content: "Back to the lead",
            trigger: ".o_breadcrumb .breadcrumb-item a:contains(Acme robots)",
            run: "click",
        },
        {
            content: "The chatter marks it Private",
            trigger: `${received} .o_mail_sync_hidden_badge:contains(Private)`,
        },
        {
            content: "and shows the owner its text",
            trigger: body("Quokka4711"),
        },
    ],
});

registry.category("web_tour.tours").add("mail_sync_crm_private_colleague_tour", {
    steps: () => [
        {
            content: "The colleague sees that Alice wrote, and when",
            trigger: body("Private email"),
        },
        {
            content: "but not its text, subject nor attachment",
            trigger: `${received} .o-mail-Message-body`,
            run({ anchor }) {
                const shown = anchor.closest(".o-mail-Message").textContent;
                const host = anchor.querySelector(".overflow-x-auto");
                const text = host?.shadowRoot?.textContent ?? anchor.textContent;
                for (const secret of ["Quokka4711", "Zurich", "kangaroo"]) {
                    if (shown.includes(secret) || text.includes(secret)) {
                        throw new Error(`the colleague sees "${secret}"`);
                    }
                }
            },
        },
    ],
});
