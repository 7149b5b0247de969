# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The Odoo side of a sync run (plain classes used by the models, not models)."""

from .chatter_store import MailSyncStore
from .lead_index import LeadIndex
