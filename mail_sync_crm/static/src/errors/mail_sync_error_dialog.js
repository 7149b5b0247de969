/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
// A failed Connect is titled after the side that failed ("Incoming mail (IMAP)
// failed") instead of Odoo's "Invalid Operation" for every UserError.
import { WarningDialog } from "@web/core/errors/error_dialogs";
import { registry } from "@web/core/registry";

export class MailSyncErrorDialog extends WarningDialog {
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
