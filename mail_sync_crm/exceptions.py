# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A UserError whose dialog is titled after what went wrong.

Odoo titles every UserError "Invalid Operation". These carry their own title
to the web client (in the error's context, ``mail_sync_title``), where
``static/src/errors/`` shows it."""

from odoo.exceptions import UserError


class MailSyncUserError(UserError):
    """``message`` under the dialog title ``title``."""

    def __init__(self, message, title):
        super().__init__(message)
        self.context = {"mail_sync_title": title}


class MailSyncConnectError(MailSyncUserError):
    """Connect failed: the dialog is titled after the failing side (``title``)
    and closing it reloads the form (the new Error Log entry). See
    static/src/errors/."""
