"""The OAuth errors: one exception per outcome the user must act on, each a
``MailSyncError`` with its catalogue code (``lib.errors.catalogue``), and the
mapping of what the HTTP layer raises (Authlib's OAuth errors, ``requests``'
network errors) onto them. No token or secret ever reaches an error's text.
"""

from .. import errors

__all__ = [
    "RECONNECT_ERRORS",
    "OAuthDenied",
    "OAuthError",
    "OAuthInvalidGrant",
    "OAuthNotConfigured",
    "OAuthProviderError",
    "OAuthWrongAccount",
    "from_exception",
]

# Token endpoint errors that only a new consent cures (RFC 6749 and OpenID).
RECONNECT_ERRORS = frozenset(
    {"invalid_grant", "interaction_required", "consent_required", "login_required"}
)


class OAuthError(errors.MailSyncError):
    """A failure of the OAuth flow; ``params["provider"]`` is the provider's
    label ("Google", "Microsoft") for the catalogue's messages."""

    default_code = "oauth_provider_error"

    def __init__(
        self,
        detail: str = "",
        *,
        provider: str = "",
        code: str | None = None,
        host: str = "",
        params: dict | None = None,
    ) -> None:
        values = dict(params or {})
        if provider:
            values["provider"] = provider
        super().__init__(code, detail, side="oauth", host=host, params=values)


class OAuthNotConfigured(OAuthError):
    """The provider's client id or secret is missing."""

    default_code = "oauth_not_configured"


class OAuthDenied(OAuthError):
    """The user cancelled, or did not grant access to the mailbox."""

    default_code = "oauth_denied"


class OAuthInvalidGrant(OAuthError):
    """The grant is gone (revoked, password changed, expired): connect again."""

    default_code = "oauth_invalid_grant"


class OAuthWrongAccount(OAuthError):
    """The consenting account is not the mailbox's address."""

    default_code = "oauth_wrong_account"


class OAuthProviderError(OAuthError):
    """The provider answered an error, or something unreadable."""

    default_code = "oauth_provider_error"


def from_exception(
    exc: Exception,
    *,
    provider: str,
    host: str = "",
    timeout: float | None = None,
    secrets=(),
) -> OAuthError:
    """The :class:`OAuthError` of a failed HTTP exchange with the provider:
    an OAuth error answer (``exc.error``: ``invalid_grant`` and the like ->
    :class:`OAuthInvalidGrant`, others -> :class:`OAuthProviderError`), a
    timeout or an unreachable host (codes ``timeout``/``host_unreachable``),
    anything else a provider error. ``secrets`` are redacted from the detail."""
    import requests

    error = getattr(exc, "error", None)
    code = None
    if isinstance(error, str) and error:
        text = f"{error}: {getattr(exc, 'description', '') or ''}".strip(": ")
        cls = OAuthInvalidGrant if error in RECONNECT_ERRORS else OAuthProviderError
    elif isinstance(exc, requests.Timeout):
        cls, code, text = OAuthError, "timeout", f"no answer within {timeout} s"
    elif isinstance(exc, requests.ConnectionError):
        cls, code, text = OAuthError, "host_unreachable", type(exc).__name__
    else:
        cls, text = OAuthProviderError, f"{type(exc).__name__}: {exc}"
    detail = errors.redact(text, secrets)[: errors.MAX_DETAIL]
    return cls(detail, provider=provider, code=code, host=host)
