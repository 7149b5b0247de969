"""The consenting account of an OAuth grant: its address, read from the
``id_token`` or the userinfo endpoint, and the check that it is the mailbox's.

The ``id_token`` is read without checking its signature: it comes straight
from the provider's token endpoint over TLS, in answer to this client's own
code (OpenID Connect Core 3.1.3.7); its audience must be this client. Microsoft
names the address in ``email`` (or ``preferred_username``); Google also says
whether it is verified (``email_verified``). Either way, IMAP and SMTP then
only accept the token for the account that consented.
"""

import base64
import binascii
import json
from dataclasses import dataclass

from .errors import OAuthProviderError, OAuthWrongAccount
from .providers import Provider

__all__ = ["Identity", "check_account", "from_id_token", "from_userinfo"]


@dataclass(frozen=True)
class Identity:
    """The consenting account: its address, whether the provider says it is
    verified (None: not said), and where it was read ("id_token", "userinfo")."""

    email: str
    verified: bool | None
    source: str


def from_id_token(id_token: str, client_id: str, provider: str = "") -> Identity | None:
    """The account named by ``id_token`` (None when it names no address)."""
    claims = _jwt_claims(id_token, provider)
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if client_id not in audiences:
        raise OAuthProviderError("id_token issued to another client", provider=provider)
    email = claims.get("email") or claims.get("preferred_username") or ""
    if not isinstance(email, str) or "@" not in email:
        return None
    return Identity(email, _verified(claims.get("email_verified")), "id_token")


def from_userinfo(answer, provider: str = "", host: str = "") -> Identity:
    """The account of a userinfo answer (a ``requests.Response``)."""
    try:
        info = answer.json() if answer.status_code == 200 else {}
    except ValueError:
        info = {}
    email = info.get("email") if isinstance(info, dict) else None
    if not email:
        raise OAuthProviderError(
            f"userinfo answered {answer.status_code} without an email address",
            provider=provider,
            host=host,
        )
    verified = info.get("email_verified", info.get("verified_email"))
    return Identity(email, _verified(verified), "userinfo")


def check_account(
    identity: Identity, expected_email: str, provider: Provider | None = None
) -> None:
    """Raise :class:`OAuthWrongAccount` unless the consenting account is
    ``expected_email`` (the same bare address, case aside) with an address
    the provider did not say is unverified. No parsing: a display name or a
    second address in either value is a mismatch."""
    seen = (identity.email or "").strip().lower()
    expected = (expected_email or "").strip().lower()
    params = {"expected": expected_email, "seen": identity.email}
    label = provider.label if provider else ""
    if not seen or seen != expected:
        raise OAuthWrongAccount(
            f"signed in as {identity.email}, the mailbox is {expected_email}",
            provider=label,
            params=params,
        )
    if identity.verified is False:
        raise OAuthWrongAccount(
            f"the address {identity.email} is not verified by the provider",
            provider=label,
            params=params,
        )


def _jwt_claims(token: str, provider: str = "") -> dict:
    """The claims of a JWT, unverified: an id_token read straight from the
    token endpoint over TLS (OpenID Connect Core 3.1.3.7)."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (IndexError, ValueError, binascii.Error, UnicodeError) as exc:
        raise OAuthProviderError("unreadable id_token", provider=provider) from exc
    if not isinstance(claims, dict):
        raise OAuthProviderError("unreadable id_token", provider=provider)
    return claims


def _verified(value) -> bool | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)
