# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import models
from odoo.tools.sql import create_index

# The sync finds leads by their contact's address too; dropped by the uninstall
# hook.
PARTNER_EMAIL_INDEX = "mail_sync_crm_partner_email_normalized_index"


class ResPartner(models.Model):
    _inherit = "res.partner"

    def init(self):
        result = super().init()
        create_index(
            self.env.cr, PARTNER_EMAIL_INDEX, self._table, ["email_normalized"]
        )
        return result
