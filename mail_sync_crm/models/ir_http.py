# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import models


class IrHttp(models.AbstractModel):
    _inherit = "ir.http"

    def session_info(self):
        info = super().session_info()
        if self.env.user._is_internal():
            users = self.env["res.users"]
            info["mail_sync_configured"] = users._mail_sync_configured()
            info["mail_sync_state"] = users._mail_sync_top_bar_state()
        return info
