"""Authlib pieces of the test authorization server (see ``oauth_server.py``).

In-memory models (client, authorization code, token), the grants (authorization
code with PKCE S256 required and an OpenID ``id_token``; refresh tokens rotated
on every use) and the revocation and introspection endpoints. The state they
read and write lives in the ``OAuthServer`` (``server.owner``), behind its lock.
"""

import time
from dataclasses import dataclass, field

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import (
    ClientMixin,
    InvalidRequestError,
    OAuth2Payload,
    OAuth2Request,
    TokenMixin,
    grants,
)
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core import AuthorizationCodeMixin, UserInfo
from authlib.oidc.core.grants import OpenIDCode

AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
CODE_LIFETIME = 600


@dataclass
class User:
    email: str
    verified: bool = True

    @property
    def sub(self):
        return "sub-" + self.email


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uris: tuple = ()  # empty: any http://127.0.0.1:/localhost: URI
    grant_types: tuple = ("authorization_code", "refresh_token")

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope):
        return scope

    def check_redirect_uri(self, redirect_uri):
        if self.redirect_uris:
            return redirect_uri in self.redirect_uris
        return str(redirect_uri).startswith(("http://127.0.0.1:", "http://localhost:"))

    def check_client_secret(self, client_secret):
        return client_secret == self.client_secret

    def check_endpoint_auth_method(self, method, endpoint):
        return method in AUTH_METHODS

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type in self.grant_types


@dataclass
class Code(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: User
    grant_id: str
    code_challenge: str = None
    code_challenge_method: str = None
    nonce: str = None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return self.auth_time

    def is_expired(self):
        return time.time() > self.auth_time + CODE_LIFETIME


@dataclass
class Token(TokenMixin):
    """One token response: an access token and (maybe) a refresh token.

    ``grant_id`` names the consent it descends from: revoking any token of a
    grant revokes the whole grant (as Google does)."""

    client_id: str
    user: User
    scope: str
    access_token: str = field(repr=False)
    refresh_token: str = field(default=None, repr=False)
    expires_in: int = 3600
    issued_at: float = field(default_factory=time.time)
    grant_id: str = ""
    revoked: bool = False  # the whole grant, set by the server
    refresh_used: bool = False  # rotated away: the refresh token is spent

    def check_client(self, client):
        return client.get_client_id() == self.client_id

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return self.expires_in

    def is_expired(self):
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self):
        return self.revoked

    def get_user(self):
        return self.user

    def get_client(self):
        return None


# -- requests -------------------------------------------------------------------


class _Payload(OAuth2Payload):
    def __init__(self, request):
        self._request = request

    @property
    def data(self):
        return self._request.values

    @property
    def datalist(self):
        return {key: self.data.getlist(key) for key in self.data}


class WerkzeugOAuth2Request(OAuth2Request):
    """An Authlib request over a werkzeug ``Request``."""

    def __init__(self, request):
        super().__init__(request.method, request.url, headers=request.headers)
        self._request = request
        self.payload = _Payload(request)

    @property
    def args(self):
        return self._request.args

    @property
    def form(self):
        return self._request.form


# -- grants -------------------------------------------------------------------


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def validate_authorization_request(self):
        redirect_uri = super().validate_authorization_request()
        data = self.request.payload.data
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError(
                "PKCE with code_challenge_method=S256 is required",
                state=data.get("state"),
                redirect_uri=redirect_uri,
            )
        return redirect_uri

    def save_authorization_code(self, code, request):
        data = request.payload.data
        unticked = self.server.owner.unticked_scopes
        scope = [s for s in (data.get("scope") or "").split() if s not in unticked]
        self.server.owner._save_code(
            Code(
                code=code,
                client_id=request.client.client_id,
                redirect_uri=data.get("redirect_uri"),
                scope=" ".join(scope),
                user=request.user,
                grant_id=self.server.owner._new_grant_id(),
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
                nonce=data.get("nonce"),
            )
        )

    def query_authorization_code(self, code, client):
        found = self.server.owner._codes.get(code)
        if found and found.client_id == client.client_id and not found.is_expired():
            return found
        return None

    def delete_authorization_code(self, authorization_code):
        self.server.owner._codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code):
        return authorization_code.user


class RotatingRefreshGrant(grants.RefreshTokenGrant):
    """Every refresh issues a new refresh token and spends the old one."""

    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):
        token = self.server.owner._by_refresh.get(refresh_token)
        if token is None or token.revoked or token.refresh_used:
            return None
        return token

    def authenticate_user(self, refresh_token):
        return refresh_token.user

    def revoke_old_credential(self, refresh_token):
        refresh_token.refresh_used = True


class IdToken(OpenIDCode):
    """An HS256 ``id_token`` naming the consenting account's address."""

    def exists_nonce(self, nonce, request):
        return False

    def get_jwt_config(self, grant, client):
        owner = grant.server.owner
        return {"key": owner.jwt_key, "alg": "HS256", "iss": owner.issuer, "exp": 3600}

    def generate_user_info(self, user, scope):
        info = UserInfo(sub=user.sub)
        if "email" in scope.split():
            info["email"] = user.email
            info["email_verified"] = user.verified
        return info


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string, token_type_hint):
        return self.server.owner._find_token(token_string, token_type_hint)

    def revoke_token(self, token, request):
        self.server.owner._revoke_grant(token.grant_id)


class Introspection(IntrospectionEndpoint):
    """RFC 7662, for the resource servers (Dovecot, the SMTP server) only."""

    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string, token_type_hint):
        # A refresh token is never a bearer token: only when asked by name.
        if token_type_hint == "refresh_token":
            return self.server.owner._find_token(token_string, "refresh_token")
        return self.server.owner._find_token(token_string, "access_token")

    def check_permission(self, token, client, request):
        return client.client_id == self.server.owner.resource_client[0]

    def introspect_token(self, token):
        owner = self.server.owner
        return {
            "active": True,
            "client_id": token.client_id,
            "token_type": "Bearer",
            "username": token.user.email,
            "email": token.user.email,
            "scope": token.scope,
            "sub": token.user.sub,
            "aud": token.client_id,
            "iss": owner.issuer,
            "exp": int(token.issued_at + token.expires_in),
            "iat": int(token.issued_at),
        }


class Server(AuthorizationServer):
    """Authlib's authorization server bound to one ``OAuthServer``."""

    def __init__(self, owner):
        super().__init__()
        self.owner = owner
        self.register_token_generator("default", owner._generate_token)
        self.register_grant(CodeGrant, [CodeChallenge(required=True), IdToken()])
        self.register_grant(RotatingRefreshGrant)
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)

    def query_client(self, client_id):
        return self.owner._clients.get(client_id)

    def save_token(self, token, request):
        self.owner._save_token(token, request)

    def create_oauth2_request(self, request):
        if isinstance(request, OAuth2Request):
            return request
        return WerkzeugOAuth2Request(request)

    def create_json_request(self, request):
        raise NotImplementedError("no JSON endpoints here")

    def handle_response(self, status, body, headers):
        return status, body, headers

    def send_signal(self, name, *args, **kwargs):
        """No signals are listened to."""
