# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""18.0.1.2.0: the quoted lines of plain-text synced emails are marked in the
stored body, so that the chatter folds them ("Read More"); the emails recorded
before are marked here."""

from odoo import SUPERUSER_ID, api


def migrate(cr, version):
    env = api.Environment(cr, SUPERUSER_ID, {})
    env["mail.message"]._mail_sync_mark_text_quotes()
