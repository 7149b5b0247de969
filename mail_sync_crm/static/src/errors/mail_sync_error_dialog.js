/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
// A failed Connect is titled after the side that failed ("Incoming mail (IMAP)
// failed") instead of Odoo's "Invalid Operation" for every UserError. Closing it
// reloads the view behind, which the failed call could not refresh: the mailbox's
// "Errors" button and its log show the entry just written.
import { onWillDestroy } from "@odoo/owl";
import { WarningDialog } from "@web/core/errors/error_dialogs";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";

export class MailSyncErrorDialog extends WarningDialog {
    setup() {
        super.setup();
        const action = useService("action");
        onWillDestroy(() => action.doAction({ type: "ir.actions.client", tag: "soft_reload" }));
    }

    inferTitle() {
        return this.props.data?.context?.mail_sync_title || super.inferTitle();
    }
}

registry
    .category("error_dialogs")
    .add(
        "odoo.addons.mail_sync_crm.models.mail_sync_account_connect.MailSyncConnectError",
        MailSyncErrorDialog
    );
