"""Sending mail: the SMTP session, smart mail, the provider quotas, the address proof."""
