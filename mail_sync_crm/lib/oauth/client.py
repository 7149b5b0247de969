"""OAuth 2.0 sign-in with Google and Microsoft for IMAP and SMTP (plain Python).

The flow the Odoo layer drives, one :class:`OAuthClient` per provider::

    client = OAuthClient(provider, client_id, client_secret, redirect_uri)
    request = client.authorization_request(state, login_hint=mailbox_address)
    # browser -> request.url; keep request.code_verifier in the web session
    code = parse_callback(callback_params)           # OAuthDenied, OAuthProviderError
    tokens = client.exchange_code(code, request.code_verifier)
    check_account(client.identity(tokens), mailbox_address)  # OAuthWrongAccount
    ...
    if needs_refresh(tokens.expires_at, now):
        tokens = client.refresh(tokens.refresh_token)   # OAuthInvalidGrant
    ServerSettings(..., login=address, access_token=tokens.access_token)
    ...
    client.revoke(tokens.refresh_token)              # on disconnect

Authorization code with PKCE (S256) through Authlib's ``OAuth2Session``; the
client authenticates with its secret in the request body (``client_secret_post``,
which Google and Microsoft both take). Every HTTP request has a timeout and goes
through :meth:`OAuthClient._session`, the one seam between this module and the
network. Every failure raises an :class:`OAuthError` (a ``MailSyncError`` with
a catalogue code); no token or secret is ever logged or put in an error.

Times are naive UTC datetimes, as Odoo stores them.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

from .. import errors
from ..timeutil import naive_utc
from .errors import (
    OAuthDenied,
    OAuthError,
    OAuthInvalidGrant,
    OAuthNotConfigured,
    OAuthProviderError,
    OAuthWrongAccount,
    from_exception,
)
from .identity import Identity, check_account, from_id_token, from_userinfo
from .providers import CLIENT_PARAMS, Provider, provider_from_params

__all__ = [
    "AuthorizationRequest",
    "Identity",
    "OAuthClient",
    "OAuthDenied",
    "OAuthError",
    "OAuthInvalidGrant",
    "OAuthNotConfigured",
    "OAuthProviderError",
    "OAuthWrongAccount",
    "Tokens",
    "check_account",
    "client_from_params",
    "needs_refresh",
    "parse_callback",
]

DEFAULT_TIMEOUT = 20.0
REFRESH_MARGIN = timedelta(minutes=5)


# -- values --------------------------------------------------------------------


@dataclass(frozen=True)
class AuthorizationRequest:
    """Where to send the browser, and the PKCE verifier to keep until the
    callback (in the web session, never in the URL)."""

    url: str
    code_verifier: str = field(repr=False)


@dataclass(frozen=True)
class Tokens:
    """A token response. ``refresh_token`` is the one to keep: a new one when
    the provider rotated it (``rotated``), else the one that was used."""

    access_token: str = field(repr=False)
    expires_at: datetime | None
    refresh_token: str | None = field(default=None, repr=False)
    scope: str = ""
    id_token: str | None = field(default=None, repr=False)
    rotated: bool = False


# -- helpers the Odoo layer calls --------------------------------------------------


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def needs_refresh(
    expires_at: datetime | None,
    now: datetime | None = None,
    margin: timedelta = REFRESH_MARGIN,
) -> bool:
    """True when an access token expiring at ``expires_at`` should be refreshed
    before use: it expires within ``margin`` of ``now`` (or the expiry is
    unknown). Naive datetimes are UTC."""
    if expires_at is None:
        return True
    now = _utcnow() if now is None else naive_utc(now)
    return naive_utc(expires_at) - margin <= now


def parse_callback(params: Mapping[str, str], provider: Provider | None = None) -> str:
    """The authorization code of the provider's redirect back (its query
    parameters), or :class:`OAuthDenied` (the user cancelled: ``access_denied``)
    or :class:`OAuthProviderError` (any other error, or no code)."""
    label = provider.label if provider else ""
    error = params.get("error")
    if error:
        detail = f"{error}: {params.get('error_description') or ''}".strip(": ")
        cls = OAuthDenied if error == "access_denied" else OAuthProviderError
        raise cls(detail[: errors.MAX_DETAIL], provider=label)
    code = params.get("code")
    if not code:
        raise OAuthProviderError(
            "no authorization code in the callback", provider=label
        )
    return code


def client_from_params(
    name: str,
    get_param: Callable[[str], str | None],
    redirect_uri: str,
    timeout: float = DEFAULT_TIMEOUT,
) -> "OAuthClient":
    """The client of provider ``name`` from system parameters read through
    ``get_param`` (Odoo's client id/secret and the URL overrides); raises
    :class:`OAuthNotConfigured` when the id or the secret is missing."""
    provider = provider_from_params(name, get_param)
    id_param, secret_param = CLIENT_PARAMS[name]
    return OAuthClient(
        provider,
        get_param(id_param) or "",
        get_param(secret_param) or "",
        redirect_uri,
        timeout=timeout,
    )


def _granted(required: str, granted: set[str]) -> bool:
    """Whether ``required`` is among the ``granted`` scopes (Microsoft may name
    them without the resource: "IMAP.AccessAsUser.All")."""
    if required.lower() in granted:
        return True
    short = required.rstrip("/").rsplit("/", 1)[-1].lower()
    return bool(short) and any(
        s.rstrip("/").rsplit("/", 1)[-1] == short for s in granted
    )


# -- the client ------------------------------------------------------------------


class OAuthClient:
    """The OAuth client of one provider (see the module docstring)."""

    def __init__(
        self,
        provider: Provider,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not (client_id or "").strip() or not (client_secret or "").strip():
            raise OAuthNotConfigured(
                f"no client id or secret for {provider.label}",
                provider=provider.label,
            )
        self.provider = provider
        self.client_id = client_id.strip()
        self._client_secret = client_secret.strip()
        self.redirect_uri = redirect_uri
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"OAuthClient({self.provider.name!r}, {self.client_id!r})"

    # -- the seam between this module and the network -------------------------------

    def _session(self, scope: str | None = None):
        """An Authlib ``OAuth2Session`` (a ``requests.Session``): PKCE S256, the
        secret in the body, every request under ``timeout``."""
        from authlib.integrations.requests_client import OAuth2Session

        return OAuth2Session(
            self.client_id,
            self._client_secret,
            token_endpoint_auth_method="client_secret_post",
            revocation_endpoint_auth_method="client_secret_post",
            scope=scope,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            default_timeout=self.timeout,
        )

    def _call(self, url: str, method: str, *args, scope=None, secrets=(), **kwargs):
        """``method`` of a fresh session (closed after), any failure raised as
        an :class:`OAuthError`."""
        try:
            with self._session(scope) as session:
                return getattr(session, method)(*args, **kwargs)
        except OAuthError:
            raise
        except Exception as exc:  # any failure: an OAuthError with a code
            raise from_exception(
                exc,
                provider=self.provider.label,
                host=urlsplit(url or "").hostname or "",
                timeout=self.timeout,
                secrets=(self._client_secret, *secrets),
            ) from exc

    # -- the flow ------------------------------------------------------------------

    def authorization_request(
        self, state: str, *, login_hint: str | None = None
    ) -> AuthorizationRequest:
        """The URL to send the browser to (code flow, PKCE S256, ``state`` as
        given) and its code verifier. ``login_hint`` preselects the account."""
        from authlib.common.security import generate_token

        verifier = generate_token(64)
        extra = dict(self.provider.authorize_params)
        if login_hint:
            extra["login_hint"] = login_hint
        with self._session(" ".join(self.provider.scopes)) as session:
            url, _state = session.create_authorization_url(
                self.provider.authorize_url,
                state=state,
                code_verifier=verifier,
                **extra,
            )
        return AuthorizationRequest(url, verifier)

    def exchange_code(
        self, code: str, code_verifier: str, *, now: datetime | None = None
    ) -> Tokens:
        """The tokens for the callback's ``code`` (and the request's verifier).
        Raises :class:`OAuthDenied` when the mail scopes were not granted, and
        :class:`OAuthProviderError` when no refresh token came back."""
        url = self.provider.token_url
        answer = self._call(
            url,
            "fetch_token",
            url,
            grant_type="authorization_code",
            code=code,
            code_verifier=code_verifier,
            secrets=(code, code_verifier),
        )
        tokens = self._tokens(answer, now, previous=None)
        if not tokens.refresh_token:
            raise OAuthProviderError(
                "no refresh token in the answer (offline access not granted)",
                provider=self.provider.label,
            )
        return tokens

    def refresh(self, refresh_token: str, *, now: datetime | None = None) -> Tokens:
        """A new access token. Keep ``Tokens.refresh_token`` (rotated or not).
        Raises :class:`OAuthInvalidGrant` when only a new consent helps."""
        url = self.provider.token_url
        scope = " ".join(self.provider.scopes) if self.provider.refresh_scope else None
        answer = self._call(
            url,
            "refresh_token",
            url,
            scope=scope,
            refresh_token=refresh_token,
            secrets=(refresh_token,),
        )
        return self._tokens(answer, now, previous=refresh_token)

    def revoke(self, token: str) -> bool:
        """Revoke the grant of ``token`` (a refresh token revokes the whole
        grant at Google). False when the provider has no revocation endpoint;
        a token the provider no longer knows counts as revoked."""
        url = self.provider.revoke_url
        if not url or not token:
            return False
        answer = self._call(url, "revoke_token", url, token=token, secrets=(token,))
        if answer.status_code == 200:
            return True
        error = _json_error(answer)
        if answer.status_code == 400 and error in ("invalid_token", "invalid_grant"):
            return True
        raise OAuthProviderError(
            f"revocation answered {answer.status_code} {error or ''}".strip(),
            provider=self.provider.label,
            host=urlsplit(url).hostname or "",
        )

    def identity(self, tokens: Tokens) -> Identity:
        """The consenting account, from the id_token's claims, else from the
        provider's userinfo endpoint (Google's ``email_verified``)."""
        label = self.provider.label
        if tokens.id_token:
            found = from_id_token(tokens.id_token, self.client_id, label)
            if found is not None:
                return found
        url = self.provider.userinfo_url
        if not url:
            raise OAuthProviderError("no email address in the id_token", provider=label)
        answer = self._call(
            url,
            "get",
            url,
            headers={"Authorization": f"Bearer {tokens.access_token}"},
            withhold_token=True,
            secrets=(tokens.access_token,),
        )
        return from_userinfo(answer, label, urlsplit(url).hostname or "")

    def _tokens(self, answer, now: datetime | None, previous: str | None) -> Tokens:
        label = self.provider.label
        access = answer.get("access_token")
        if not access:
            raise OAuthProviderError("no access token in the answer", provider=label)
        scope = answer.get("scope") or ""
        if scope:
            granted = {s.lower() for s in str(scope).split()}
            missing = [s for s in self.provider.mail_scopes if not _granted(s, granted)]
            if missing:
                raise OAuthDenied(
                    "access not granted to: " + " ".join(missing), provider=label
                )
        now = _utcnow() if now is None else naive_utc(now)
        try:
            expires_at = now + timedelta(seconds=int(answer["expires_in"]))
        except (KeyError, TypeError, ValueError):
            expires_at = None
        refresh = answer.get("refresh_token") or previous
        return Tokens(
            access_token=access,
            expires_at=expires_at,
            refresh_token=refresh,
            scope=str(scope),
            id_token=answer.get("id_token"),
            rotated=bool(previous and refresh != previous),
        )


def _json_error(answer) -> str | None:
    try:
        body = answer.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None
