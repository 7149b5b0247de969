"""Sending mail: the SMTP session, smart mail, the quotas, the address proof."""
