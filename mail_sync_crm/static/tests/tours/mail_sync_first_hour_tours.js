/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
// The first hour of a salesperson and an administrator (tests/test_first_hour_ui.py).
import { registry } from "@web/core/registry";

const tours = registry.category("web_tour.tours");

function fail(message) {
    throw new Error(message);
}

/** The texts of the chatter's messages, top to bottom (email bodies live in
 * a shadow root: their subjects and authors are outside it). */
function chatterTexts() {
    return [...document.querySelectorAll(".o-mail-Chatter .o-mail-Message")].map(
        (el) => el.innerText
    );
}

/** The shadow root holding the body of the chatter's email whose text
 * (outside the body) contains ``text``. */
function emailBody(text) {
    const message = [...document.querySelectorAll(".o-mail-Chatter .o-mail-Message")].find(
        (el) => el.innerText.includes(text)
    );
    return message?.querySelector(".o-mail-Message-body .overflow-x-auto")?.shadowRoot;
}

// 1, 2, 7, 12: a salesperson connects from the top bar, is told it worked, the
// badge goes without a reload; Disconnect says so and the badge comes back.
tours.add("mail_sync_crm_first_hour_connect_tour", {
    steps: () => [
        {
            content: "The top bar says Mail Sync is not configured",
            trigger: ".o_mail_sync_top_bar.o_mail_sync_not_configured",
            run: "click",
        },
        {
            content: "The mailbox form opens, without New (one mailbox per user)",
            trigger: ".o_form_view .o_form_statusbar",
            run() {
                if (document.querySelector(".o_control_panel .o_form_button_create")) {
                    fail("the mailbox form offers New");
                }
            },
        },
        {
            content: "Connect without a password",
            trigger: ".o_form_view button[name=action_connect]:not(:disabled)",
            run: "click",
        },
        {
            content: "The dialog is titled after what is wrong, not Invalid Operation",
            trigger: ".modal .modal-title:contains(Settings missing)",
        },
        {
            content: "Close it",
            trigger: ".modal .modal-footer .btn-primary",
            run: "click",
        },
        {
            content: "Type the password",
            trigger: ".o_form_view:not(:has(.modal)) div[name=imap_password] input",
            run: "edit S3cret-pa55word!",
        },
        {
            content: "Connect",
            trigger: ".o_form_view button[name=action_connect]:not(:disabled)",
            run: "click",
        },
        {
            content: "Odoo's notification says the mailbox is connected",
            trigger: ".o_notification:contains(Mailbox connected)",
        },
        {
            content: "The mailbox is enabled",
            trigger: ".o_form_view .o_statusbar_status button.o_arrow_button_current:contains(Enabled)",
        },
        {
            content: "A historical sync in progress reads with a space before the counts",
            trigger: ".o_form_view .alert-info:contains(Historical sync in progress)",
            run() {
                const text = document.querySelector(".o_form_view .alert-info").innerText;
                if (!/Inbox and Sent; \d/.test(text)) {
                    fail(`the progress reads "${text}"`);
                }
            },
        },
        {
            content: "The badge is gone without a reload (the bus told this page)",
            trigger: ".o_main_navbar:not(:has(.o_mail_sync_top_bar))",
        },
        {
            content: "Disconnect",
            trigger: ".o_form_view button[name=action_open_disable_wizard]",
            run: "click",
        },
        {
            content: "Confirm, keeping the history",
            trigger: ".modal button[name=action_confirm]",
            run: "click",
        },
        {
            content: "Odoo's notification says it is disconnected",
            trigger: ".o_notification:contains(Mailbox disconnected):contains(stay on the leads)",
        },
        {
            content: "The form shows it Not Connected",
            trigger: ".o_form_view:not(:has(.modal)) .o_statusbar_status button.o_arrow_button_current:contains(Not Connected)",
        },
        {
            content: "The not-configured badge is back, without a reload",
            trigger: ".o_main_navbar .o_mail_sync_top_bar.o_mail_sync_not_configured",
        },
    ],
});

// 7: a salesperson without a mailbox opens My Mail Sync: a new mailbox to fill
// in, saved once; the form never offers a second one.
tours.add("mail_sync_crm_first_hour_new_mailbox_tour", {
    steps: () => [
        {
            content: "A new mailbox form, the address filled in",
            trigger: ".o_form_view .o_form_editable div[name=email] input:value(tour_new@ourcompany.example.com)",
        },
        {
            content: "No New button on it",
            trigger: ".o_form_view .o_form_statusbar",
            run() {
                if (document.querySelector(".o_control_panel .o_form_button_create")) {
                    fail("the mailbox form offers New");
                }
            },
        },
        {
            content: "Fill in the IMAP server",
            trigger: ".o_form_view div[name=imap_host] input",
            run: "edit imap.example.com",
        },
        {
            content: "Save",
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            content: "Saved; still no New",
            trigger: ".o_form_view .o_form_saved",
            run() {
                if (document.querySelector(".o_control_panel .o_form_button_create")) {
                    fail("the saved mailbox form offers New");
                }
            },
        },
    ],
});

// 4, 5, 6: a lead whose history was synced again after Disconnect (remove
// history): the chatter reads in date order, quotes folded as Odoo folds
// them; Reply quotes the email and says how it leaves.
tours.add("mail_sync_crm_first_hour_lead_tour", {
    steps: () => [
        {
            content: "The chatter shows the re-synced emails",
            trigger: ".o-mail-Chatter .o-mail-Message:contains(Subject: Robots?)",
        },
        {
            content: "Today's note above the emails of 2025, themselves newest first",
            trigger: ".o-mail-Chatter .o-mail-Message:contains(Called Alice today)",
            run() {
                const texts = chatterTexts();
                const at = (needle) => texts.findIndex((t) => t.includes(needle));
                const order = [
                    "Called Alice today",
                    "Subject: Re: Robots?",
                    "Subject: Robots?",
                ].map(at);
                if (order.includes(-1) || order.some((i, n) => n && i <= order[n - 1])) {
                    fail(`chatter order: ${JSON.stringify(texts.map((t) => t.slice(0, 60)))}`);
                }
            },
        },
        {
            content: "Alice's quoted text is folded behind Odoo's Read More",
            trigger: ".o-mail-Chatter .o-mail-Message:contains(Subject: Re: Robots?)",
            run() {
                const body = emailBody("Subject: Re: Robots?");
                const quote = body?.querySelector("[data-o-mail-quote]");
                const toggle = body?.querySelector(".o-mail-read-more-less");
                if (!quote || !toggle) {
                    fail("no folded quote in the chatter");
                }
                if (quote.style.display !== "none") {
                    fail("the quote shows before Read More");
                }
                toggle.click();
                if (quote.style.display === "none") {
                    fail("Read More does not show the quote");
                }
            },
        },
        {
            content: "Open the Emails view",
            trigger: ".o_form_view button[name=action_view_conversation]",
            run: "click",
        },
        {
            content: "Reply to the thread",
            trigger: ".o_mail_sync_thread .o_mail_sync_reply",
            run: "click",
        },
        {
            content: "The composer says from which address and server it leaves",
            trigger: ".modal .o_mail_sync_sending_route:contains(Leaves from tour_sales@ourcompany.example.com)",
        },
        {
            content: "and opens with the original quoted under its sender",
            trigger: ".modal .o_field_html blockquote:contains(Forty, please.)",
            run() {
                const editor = document.querySelector(".modal .o_field_html");
                if (!/On .*, Alice Martin/.test(editor.innerText)) {
                    fail(`no attribution line: ${editor.innerText.slice(0, 200)}`);
                }
            },
        },
    ],
});

// 9: Personal Emails by Stage keeps Received/Sent apart, counts as whole
// numbers; the pivot counts Emails.
tours.add("mail_sync_crm_first_hour_report_tour", {
    steps: () => [
        {
            content: "The graph is drawn",
            trigger: ".o_graph_view .o_graph_canvas_container canvas",
            async run() {
                const canvas = document.querySelector(".o_graph_canvas_container canvas");
                const chart = window.Chart?.getChart(canvas);
                if (!chart) {
                    fail("no chart");
                }
                const labels = chart.data.datasets.map((d) => d.label);
                if (!labels.includes("Received") || !labels.includes("Sent")) {
                    fail(`the graph's series: ${labels}`);
                }
                const ticks = chart.scales.y.ticks.map((t) => t.label);
                if (!ticks.length || ticks.some((t) => !/^\d+$/.test(t))) {
                    fail(`the count axis reads ${ticks}`);
                }
            },
        },
        {
            content: "Switch to the pivot",
            trigger: ".o_switch_view.o_pivot",
            run: "click",
        },
        {
            content: "The pivot counts Emails, Received and Sent apart",
            trigger: ".o_pivot th:contains(Emails)",
            run() {
                const headers = document.querySelector(".o_pivot thead").innerText;
                if (!headers.includes("Received") || !headers.includes("Sent")) {
                    fail(`pivot headers: ${headers}`);
                }
            },
        },
    ],
});

// 10, 12: the administrator's settings and top bar.
tours.add("mail_sync_crm_first_hour_settings_tour", {
    steps: () => [
        {
            content: "The Mail Sync settings say how it goes",
            trigger: "#mail_sync_health .o_mail_sync_health:contains(errors in the last 24 hours)",
        },
        {
            content: "The encryption key: where it is and its fingerprint",
            trigger: "#mail_sync_key .o_mail_sync_key_status:contains(In use)",
            run() {
                const box = document.querySelector("#mail_sync_key");
                if (!/[0-9a-f]{16}/.test(box.innerText)) {
                    fail(`no fingerprint: ${box.innerText}`);
                }
            },
        },
        {
            content: "The pool size is a setting",
            trigger: "#mail_sync_poll_pool_size input",
        },
        {
            content: "The redirect URI shows whole, and no help points at a README",
            trigger: "#mail_sync_oauth_google .o_mail_sync_redirect_uri span:contains(/mail_sync_crm/oauth/callback)",
            run() {
                for (const span of document.querySelectorAll(".o_mail_sync_redirect_uri span")) {
                    if (span.scrollWidth > span.clientWidth + 1) {
                        fail("the redirect URI is cut off");
                    }
                }
                for (const box of document.querySelectorAll("[id^=mail_sync_]")) {
                    if (box.innerText.includes("README")) {
                        fail(`${box.id} points at the README`);
                    }
                }
            },
        },
        {
            content: "The administrator has no mailbox and no not-configured badge",
            trigger: ".o_main_navbar:not(:has(.o_mail_sync_top_bar))",
        },
        {
            content: "A page that saw no bus notification yet is not out of date",
            trigger: ".o_main_navbar",
            async run() {
                const services = odoo.__WOWL_DEBUG__.root.env.services;
                const watcher = services["bus.outdated_page_watcher"];
                watcher.lastNotificationId = null;
                await watcher.checkHasMissedNotifications();
                await new Promise((resolve) => setTimeout(resolve, 300));
                for (const el of document.querySelectorAll(".o_notification")) {
                    if (el.innerText.includes("out of date")) {
                        fail("the page says it is out of date");
                    }
                }
            },
        },
    ],
});
