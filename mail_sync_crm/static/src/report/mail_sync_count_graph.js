/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
// "Personal Emails by Stage": a count reads 12, not 12.00. Odoo's graph
// formats the y axis as decimals whatever the measure; here, when every value
// is a whole number (counts), the axis steps by whole numbers and shows them
// as such.
import { registry } from "@web/core/registry";
import { graphView } from "@web/views/graph/graph_view";
import { GraphRenderer } from "@web/views/graph/graph_renderer";

export class MailSyncCountGraphRenderer extends GraphRenderer {
    getScaleOptions() {
        const scales = super.getScaleOptions();
        // Odoo sets allIntegers to false only (undefined: all whole numbers)
        if (scales.y && this.model.metaData.allIntegers !== false) {
            scales.y.ticks = {
                ...scales.y.ticks,
                precision: 0,
                callback: (value) => this.formatValue(value, true),
            };
        }
        return scales;
    }
}

registry.category("views").add("mail_sync_count_graph", {
    ...graphView,
    Renderer: MailSyncCountGraphRenderer,
});
