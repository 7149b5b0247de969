/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
// Mail Sync's errors are titled after what went wrong ("Settings missing",
// "Incoming mail (IMAP) failed") instead of Odoo's "Invalid Operation" for
// every UserError: the title comes in the error's context (``mail_sync_title``,
// exceptions.py). A failed Connect also reloads the view behind when closed,
// which the failed call could not refresh: the mailbox's "Errors" button and
// its log show the entry just written.
import { onWillDestroy } from "@odoo/owl";
import { WarningDialog } from "@web/core/errors/error_dialogs";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";

export class MailSyncTitledDialog extends WarningDialog {
    inferTitle() {
        return this.props.data?.context?.mail_sync_title || super.inferTitle();
    }
}

export class MailSyncErrorDialog extends MailSyncTitledDialog {
    setup() {
        super.setup();
        const action = useService("action");
        onWillDestroy(() => action.doAction({ type: "ir.actions.client", tag: "soft_reload" }));
    }
}

registry
    .category("error_dialogs")
    .add("odoo.addons.mail_sync_crm.exceptions.MailSyncUserError", MailSyncTitledDialog)
    .add(
        "odoo.addons.mail_sync_crm.exceptions.MailSyncConnectError",
        MailSyncErrorDialog
    );
