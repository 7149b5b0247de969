# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import models

from ..store import new_emails


class IrWebsocket(models.AbstractModel):
    """A page hears a lead's new emails only if its user may read the lead
    (``store/new_emails.py``): the check happens here, once, when the page
    subscribes, and again at each new subscription of that page (another
    channel asked, a reconnection)."""

    _inherit = "ir.websocket"

    def _build_bus_channel_list(self, channels):
        asked, channels = new_emails.split_asked(channels)
        # The strings themselves never carry anything: only what is granted.
        if self.env.uid:
            channels.extend(new_emails.granted(self.env, asked))
        return super()._build_bus_channel_list(channels)
