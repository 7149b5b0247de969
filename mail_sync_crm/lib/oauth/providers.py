"""The OAuth 2.0 providers: Google and Microsoft, their endpoints and scopes.

Data apart from logic (the flows are in :mod:`lib.oauth.client`). Every URL has a public
default and can be replaced by the caller; the Odoo layer reads the system
parameters named by :func:`param_name` (``mail_sync_crm.oauth_google_token_url``
...), and for Microsoft Odoo's own ``microsoft_outlook.endpoint`` (the
authority, e.g. a national cloud or one tenant), so that tests and national
clouds point them elsewhere. The client credentials are Odoo's own system
parameters (:data:`CLIENT_PARAMS`): an administrator enters them once, under
Settings, for Odoo's Gmail and Outlook servers and this addon alike.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

__all__ = [
    "CLIENT_PARAMS",
    "DEFAULT_MICROSOFT_ENDPOINT",
    "MICROSOFT_ENDPOINT_PARAM",
    "PROVIDERS",
    "URL_KINDS",
    "Provider",
    "get_provider",
    "param_name",
    "provider_from_params",
]

URL_KINDS = ("authorize", "token", "userinfo", "revoke")
MICROSOFT_ENDPOINT_PARAM = "microsoft_outlook.endpoint"
DEFAULT_MICROSOFT_ENDPOINT = "https://login.microsoftonline.com/common/oauth2/v2.0/"
# provider -> (client id parameter, client secret parameter), Odoo's own names.
CLIENT_PARAMS = {
    "google": ("google_gmail_client_id", "google_gmail_client_secret"),
    "microsoft": ("microsoft_outlook_client_id", "microsoft_outlook_client_secret"),
}


@dataclass(frozen=True)
class Provider:
    """One provider's endpoints and what to ask it for.

    ``mail_scopes`` are what IMAP and SMTP need (the connection fails without
    them); ``scopes`` adds ``openid email`` so that the token response names
    the consenting account's address. ``userinfo_url``/``revoke_url`` are None
    when the provider offers none usable with these tokens.
    ``refresh_scope``: send the scopes again when refreshing (Microsoft's v2
    endpoint requires it).
    """

    name: str
    label: str
    authorize_url: str
    token_url: str
    userinfo_url: str | None
    revoke_url: str | None
    mail_scopes: tuple[str, ...]
    scopes: tuple[str, ...]
    authorize_params: Mapping[str, str] = field(default_factory=dict)
    refresh_scope: bool = False

    def url(self, kind: str) -> str | None:
        """The URL of ``kind`` (one of :data:`URL_KINDS`)."""
        if kind not in URL_KINDS:
            raise ValueError(f"unknown URL kind {kind!r}")
        return getattr(self, f"{kind}_url")


GOOGLE_MAIL_SCOPES = ("https://mail.google.com/",)
MICROSOFT_MAIL_SCOPES = (
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "https://outlook.office.com/SMTP.Send",
)

PROVIDERS: dict[str, Provider] = {
    "google": Provider(
        name="google",
        label="Google",
        authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
        token_url="https://oauth2.googleapis.com/token",
        # OpenID Connect userinfo: "email" and "email_verified".
        userinfo_url="https://openidconnect.googleapis.com/v1/userinfo",
        revoke_url="https://oauth2.googleapis.com/revoke",
        mail_scopes=GOOGLE_MAIL_SCOPES,
        scopes=(*GOOGLE_MAIL_SCOPES, "openid", "email"),
        # A refresh token is only returned with offline access, and again on
        # a later connection only when consent is asked again.
        authorize_params={"access_type": "offline", "prompt": "consent"},
    ),
    "microsoft": Provider(
        name="microsoft",
        label="Microsoft",
        authorize_url=DEFAULT_MICROSOFT_ENDPOINT + "authorize",
        token_url=DEFAULT_MICROSOFT_ENDPOINT + "token",
        # Microsoft Graph's userinfo only takes Graph tokens, and these are
        # Outlook tokens: the address comes from the id_token. No revocation
        # endpoint exists for a single grant.
        userinfo_url=None,
        revoke_url=None,
        mail_scopes=MICROSOFT_MAIL_SCOPES,
        scopes=("offline_access", *MICROSOFT_MAIL_SCOPES, "openid", "email"),
        refresh_scope=True,
    ),
}


def param_name(provider: str, kind: str) -> str:
    """The system parameter overriding one URL, e.g.
    ``mail_sync_crm.oauth_google_token_url``."""
    if provider not in PROVIDERS or kind not in URL_KINDS:
        raise ValueError(f"unknown provider or URL kind: {provider!r}, {kind!r}")
    return f"mail_sync_crm.oauth_{provider}_{kind}_url"


def get_provider(
    name: str,
    urls: Mapping[str, str | None] | None = None,
    microsoft_endpoint: str | None = None,
) -> Provider:
    """The provider ``name`` ("google" or "microsoft") with its public default
    URLs, where ``microsoft_endpoint`` (an authority such as
    ``https://login.microsoftonline.com/<tenant>/oauth2/v2.0/``) replaces
    Microsoft's, then each non-empty value of ``urls`` (kind -> URL) replaces
    the URL of its kind."""
    try:
        provider = PROVIDERS[name]
    except KeyError:
        raise ValueError(f"unknown OAuth provider {name!r}") from None
    changes = {}
    if name == "microsoft" and microsoft_endpoint:
        base = microsoft_endpoint.strip().rstrip("/") + "/"
        changes = {"authorize_url": base + "authorize", "token_url": base + "token"}
    for kind, url in (urls or {}).items():
        if kind not in URL_KINDS:
            raise ValueError(f"unknown URL kind {kind!r}")
        if url and url.strip():
            changes[f"{kind}_url"] = url.strip()
    return replace(provider, **changes) if changes else provider


def provider_from_params(name: str, get_param: Callable[[str], str | None]) -> Provider:
    """:func:`get_provider` with the overrides read through ``get_param`` (a
    function of a system parameter name, as ``ir.config_parameter.get_param``)."""
    if name not in PROVIDERS:
        raise ValueError(f"unknown OAuth provider {name!r}")
    endpoint = get_param(MICROSOFT_ENDPOINT_PARAM) if name == "microsoft" else None
    urls = {kind: get_param(param_name(name, kind)) for kind in URL_KINDS}
    return get_provider(name, urls=urls, microsoft_endpoint=endpoint)
