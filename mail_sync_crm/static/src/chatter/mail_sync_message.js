/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
// A synced email in the chatter: its sender by name (the From header's display
// name, not the bare address) and a label outside the body saying which way it
// went and whose mailbox recorded it (``mail_sync_label``, models/mail_message.py).

import { Message } from "@mail/core/common/message";
import { patch } from "@web/core/utils/patch";

/** "Alice Martin" from '"Alice Martin" <alice@acme.example.com>' (else the text). */
export function senderName(emailFrom) {
    const match = /^\s*"?([^"<]*?)"?\s*<[^>]*>\s*$/.exec(emailFrom || "");
    return match && match[1] ? match[1].replace(/\\(.)/g, "$1") : emailFrom;
}

const MailSyncMessage = {
    get authorName() {
        if (this.message.mail_sync_label && !this.message.author) {
            return senderName(this.message.email_from);
        }
        return super.authorName;
    },
};

patch(Message.prototype, MailSyncMessage);
