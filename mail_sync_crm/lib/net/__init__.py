"""Reaching a server: the server settings, the host policy, TLS and deadlines."""
