"""Secrets at rest (mailbox passwords, tokens): Fernet symmetric encryption.

The key is a Fernet key (32 random bytes, url-safe base64 text) kept outside
the encrypted column; tokens are url-safe base64 text safe to store in a
``Char`` field. Every encryption uses a fresh IV, so two tokens of the same
text differ. Errors never include the key or the plaintext.
"""

from cryptography.fernet import Fernet, InvalidToken

__all__ = ["SecretKeyError", "check_key", "decrypt", "encrypt", "generate_key"]


class SecretKeyError(Exception):
    """The key is malformed, or the token was not made with this key."""


def _fernet(key: str | bytes) -> Fernet:
    try:
        return Fernet(key)
    except (TypeError, ValueError) as exc:  # binascii.Error is a ValueError
        raise SecretKeyError(
            "The encryption key is malformed: it must be 32 url-safe"
            " base64-encoded bytes, as made by generate_key()."
        ) from exc


def check_key(key: str | bytes) -> None:
    """Raise :class:`SecretKeyError` unless ``key`` is a Fernet key."""
    _fernet(key)


def generate_key() -> str:
    """Return a new random Fernet key as text."""
    return Fernet.generate_key().decode("ascii")


def encrypt(key: str | bytes, plaintext: str | None) -> str:
    """Encrypt ``plaintext`` with ``key``; empty or None gives ''."""
    if not plaintext:
        return ""
    token = _fernet(key).encrypt(plaintext.encode("utf-8"))
    return token.decode("ascii")


def decrypt(key: str | bytes, token: str | None) -> str:
    """Decrypt a token made by :func:`encrypt`; an empty token gives ''.

    Raises :class:`SecretKeyError` when the key is malformed or the token was
    encrypted with another key (or is corrupted).
    """
    if not token:
        return ""
    fernet = _fernet(key)
    try:
        data = token.encode("ascii") if isinstance(token, str) else token
        return fernet.decrypt(data).decode("utf-8")
    except (InvalidToken, UnicodeError, TypeError) as exc:
        raise SecretKeyError(
            "The stored secret cannot be decrypted: it was encrypted with"
            " another key or is corrupted. Enter the password again."
        ) from exc
