"""OAuth 2.0 sign-in: the client, its errors, the identity, the OAuth providers."""
