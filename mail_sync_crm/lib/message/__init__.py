"""Messages: addresses, header fields, full messages, large messages, conversations."""
