/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
// "The page is out of date" on every page reload, with Odoo 18 trees of early
// May 2025 (the 18.0-20250506 nightly among them): Odoo's watcher asks the
// server whether the last bus notification the page saw is still there, but a
// page that has seen none yet (any freshly loaded one whose bus worker was
// already connected, from the page before) asks about "null", which never
// exists, so the server always answers "missed". Odoo reworked it upstream in
// May 2025 (odoo/odoo#208625, #209609): the last notification id every tab
// shares (local storage) is asked about instead. This does the same for the
// trees without it; with it, the id is already set and nothing changes.
import { OutdatedPageWatcherService } from "@bus/outdated_page_watcher_service";
import { patch } from "@web/core/utils/patch";

patch(OutdatedPageWatcherService.prototype, {
    async checkHasMissedNotifications() {
        if (this.lastNotificationId === null || this.lastNotificationId === undefined) {
            this.lastNotificationId = this.multi_tab.getSharedValue("last_notification_id");
        }
        if (!this.lastNotificationId) {
            return; // no notification seen by any tab yet: none can have been missed
        }
        return super.checkHasMissedNotifications(...arguments);
    },
});
