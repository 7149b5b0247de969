"""OAuth 2.0 sign-in: the client, its errors, the account's identity, the OAuth providers."""
