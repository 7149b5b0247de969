/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import { registry } from "@web/core/registry";

// The lead's Emails view (tests/test_conversation.py): the "Robots?" thread
// (latest email Mar 5) above "Invoice" (Mar 3); within it Alice, then the
// salesperson, then Alice, with direction chips and the mailbox; her quoted text
// folded until asked; Reply opens the composer with "Re: Robots?".
const thread = (n) => `div.o_mail_sync_thread:nth-of-type(${n + 1})`;
const email = (n) => `.o_mail_sync_email:nth-child(${n})`;

registry.category("web_tour.tours").add("mail_sync_crm_conversation_tour", {
    steps: () => [
        {
            content: "Open the Emails view from the lead's smart button",
            trigger: ".o_form_view button[name=action_view_conversation]:contains(Emails)",
            run: "click",
        },
        {
            content: "The newest thread comes first",
            trigger: `${thread(0)} .o_mail_sync_thread_subject:contains("Robots?")`,
        },
        {
            content: "then the older one",
            trigger: `${thread(1)} .o_mail_sync_thread_subject:contains("Invoice")`,
        },
        {
            content: "Alice's first email opens the thread, by her name, Received",
            trigger: `${thread(0)} ${email(1)}:has(.o_mail_sync_sender:contains("Alice Martin")):has(.o_mail_sync_direction:contains("Received")):has(.o_mail_sync_body:contains("Do you sell robots?"))`,
        },
        {
            content: "then the salesperson's answer, Sent",
            trigger: `${thread(0)} ${email(2)}:has(.o_mail_sync_direction:contains("Sent")):has(.o_mail_sync_body:contains("We do, how many?"))`,
        },
        {
            content: "then Alice's reply, with its Cc, mailbox and attachment",
            trigger: `${thread(0)} ${email(3)}:has(.o_mail_sync_sender:contains("Alice Martin")):has(.o_mail_sync_cc:contains("bob@acme.example.com")):has(.o_mail_sync_owner:contains("mailbox")):has(.o_mail_sync_attachment:contains("specs.txt"))`,
        },
        {
            content: "Her quoted text is folded",
            trigger: `${thread(0)} ${email(3)} .o_mail_sync_body:contains("Forty, please.") [data-o-mail-quote]:not(:visible)`,
        },
        {
            content: "Show it",
            trigger: `${thread(0)} ${email(3)} .o_mail_sync_toggle_quote`,
            run: "click",
        },
        {
            content: "The quote shows",
            trigger: `${thread(0)} ${email(3)} .o_mail_sync_body [data-o-mail-quote]:visible`,
        },
        {
            content: "Reply to the thread",
            trigger: `${thread(0)} .o_mail_sync_reply`,
            run: "click",
        },
        {
            content: "The composer opens with the thread's subject",
            trigger: `.modal div[name=subject] input:value("Re: Robots?")`,
        },
    ],
});
