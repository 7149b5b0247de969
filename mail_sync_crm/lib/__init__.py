"""Plain-Python protocol and decision logic of mail_sync_crm.

Nothing in this package imports ``odoo``: it is unit-tested with plain pytest and
against real IMAP/SMTP servers, and the Odoo models call it.
"""
