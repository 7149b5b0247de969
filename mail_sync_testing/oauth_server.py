"""A local OAuth 2.0 authorization server standing in for Google's and Microsoft's.

Usage::

    with OAuthServer(user="alice@example.com") as auth:
        provider = oauth.get_provider("google", urls=auth.urls)
        client = oauth.OAuthClient(provider, auth.client_id, auth.client_secret,
                                   "http://127.0.0.1:8069/mail_sync_crm/oauth/callback")
        request = client.authorization_request(state="s")
        params = auth.authorize(request.url)  # the browser + a consenting user
        tokens = client.exchange_code(params["code"], request.code_verifier)

Authlib's ``AuthorizationServer`` on werkzeug, plain HTTP on 127.0.0.1, a free
port: the authorization code grant with PKCE S256 required, an ``id_token``
(HS256) and a ``/userinfo`` endpoint giving the account's address, refresh
tokens rotated on every use (the old one is spent), RFC 7009 revocation of the
whole grant, and RFC 7662 introspection for the resource servers (Dovecot's
oauth2 passdb, the test SMTP server) authenticating as ``resource_client``.

It consents at once as ``user``; switches simulate the rest: ``authorize_error``
("access_denied": the user cancelled; any other OAuth error code), ``user`` set
to another account (consent by a different account), ``unticked_scopes``
(permissions the user unticks on the consent screen), ``token_error`` (the token
endpoint answers an error), :meth:`revoke_user` (password changed, access
removed: refreshing gives ``invalid_grant``) and :meth:`expire_access_tokens`.
Every request is recorded in ``requests`` (:meth:`count` to assert on them).
"""

import json
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

from authlib.oauth2.rfc6749 import OAuth2Error
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from . import _oauth_grants as g
from ._common import LOOPBACK
from ._server import TestServer

__all__ = ["OAuthServer", "RecordedRequest"]

PATHS = {
    "authorize": "/authorize",
    "token": "/token",
    "userinfo": "/userinfo",
    "revoke": "/revoke",
    "introspect": "/introspect",
}


@dataclass
class RecordedRequest:
    """One request the server answered: path, method, its parameters (query and
    form), the status it answered and when."""

    method: str
    path: str
    params: dict
    status: int = 0
    at: float = field(default_factory=time.time)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        """Requests are recorded in ``OAuthServer.requests``, not logged."""


class OAuthServer(TestServer):
    already_started_error = RuntimeError

    def __init__(
        self,
        user="alice@example.com",
        *,
        client_id="mail-sync-test",
        client_secret=None,
        redirect_uris=(),
        access_token_lifetime=3600,
    ):
        super().__init__()
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self.resource_client = ("resource-server", secrets.token_urlsafe(24))
        self.jwt_key = secrets.token_urlsafe(32)
        self.access_token_lifetime = access_token_lifetime
        self.port = None
        self.requests = []
        # Switches (see the module docstring).
        self.authorize_error = None
        self.token_error = None  # (HTTP status, OAuth error code)
        self.unticked_scopes = set()  # scopes the user does not grant
        self.users = {}
        self.user = user
        self.add_user(user)
        self._clients = {}
        self.add_client(client_id, self.client_secret, redirect_uris)
        self.add_client(*self.resource_client, grant_types=())
        self._codes = {}
        self._tokens = []
        self._by_access = {}
        self._by_refresh = {}
        self._revoked_grants = set()
        self._lock = threading.RLock()
        self._grant_ids = iter(range(1, 1 << 62))
        self._http = None
        self._thread = None
        self._authlib = g.Server(self)

    # -- life cycle ------------------------------------------------------------

    @property
    def started(self):
        return self._http is not None

    def _start(self):
        self._http = make_server(
            LOOPBACK, 0, self._wsgi, threaded=True, request_handler=_QuietHandler
        )
        self.port = self._http.server_port
        # A short poll interval: stop() returns within it.
        self._thread = threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="oauth-server",
            daemon=True,
        )
        self._thread.start()

    def _stop(self):
        http, self._http = self._http, None
        if http is not None:
            http.shutdown()
            http.server_close()
            self._thread.join(5)

    # -- addresses -------------------------------------------------------------

    @property
    def base_url(self):
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def issuer(self):
        return self.base_url

    @property
    def urls(self):
        """{"authorize", "token", "userinfo", "revoke"} -> URL, as
        ``lib.oauth.get_provider(name, urls=...)`` takes them."""
        return {
            kind: self.base_url + PATHS[kind] for kind in PATHS if kind != "introspect"
        }

    @property
    def introspection_url(self):
        return self.base_url + PATHS["introspect"]

    # -- accounts and clients --------------------------------------------------

    def add_user(self, email, verified=True):
        """An account that can consent (``user``) and own tokens."""
        self.users[email] = g.User(email, verified)

    def add_client(self, client_id, client_secret, redirect_uris=(), grant_types=None):
        self._clients[client_id] = g.Client(
            client_id,
            client_secret,
            tuple(redirect_uris),
            grant_types or ("authorization_code", "refresh_token"),
        )

    # -- what a browser does ---------------------------------------------------

    def authorize(self, url):
        """Open the authorize ``url`` as the user's browser and return the
        parameters the server redirects back with (``code`` and ``state``, or
        ``error``). The redirect URI itself is not contacted."""
        import requests

        answer = requests.get(url, allow_redirects=False, timeout=10)
        location = answer.headers.get("Location")
        if answer.status_code not in (302, 303) or not location:
            raise AssertionError(
                f"authorize answered {answer.status_code}: {answer.text[:300]}"
            )
        query = urllib.parse.urlsplit(location).query
        return dict(urllib.parse.parse_qsl(query))

    # -- switches on issued tokens ---------------------------------------------

    def revoke_user(self, email=None):
        """Revoke every grant of ``email`` (default ``user``): its access tokens
        stop working and refreshing them answers ``invalid_grant``."""
        email = email or self.user
        with self._lock:
            for token in self._tokens:
                if token.user.email == email:
                    self._revoke_grant(token.grant_id)

    def expire_access_tokens(self, email=None):
        """Make every access token issued so far (to ``email`` when given) expired."""
        with self._lock:
            for token in self._tokens:
                if email is None or token.user.email == email:
                    token.issued_at = time.time() - token.expires_in - 1

    def count(self, path, **params):
        """How many recorded requests went to ``path`` (e.g. "/token") with all
        of ``params`` (e.g. ``grant_type="refresh_token"``)."""
        path = PATHS.get(path, path)
        return sum(
            1
            for recorded in list(self.requests)
            if recorded.path == path
            and all(recorded.params.get(k) == v for k, v in params.items())
        )

    def is_active(self, access_token):
        """True while ``access_token`` would pass introspection."""
        with self._lock:
            token = self._by_access.get(access_token)
            return bool(token and not token.revoked and not token.is_expired())

    # -- storage used by the Authlib pieces ------------------------------------

    def _new_grant_id(self):
        return f"grant-{next(self._grant_ids)}"

    def _save_code(self, code):
        self._codes[code.code] = code

    def _generate_token(self, **kwargs):
        return BearerTokenGenerator(
            lambda **_kw: "at-" + secrets.token_urlsafe(32),
            lambda **_kw: "rt-" + secrets.token_urlsafe(32),
            lambda _client, _grant_type: self.access_token_lifetime,
        )(**kwargs)

    def _save_token(self, token, request):
        if request.refresh_token is not None:
            grant_id = request.refresh_token.grant_id
        else:
            grant_id = request.authorization_code.grant_id
        saved = g.Token(
            client_id=request.client.client_id,
            user=request.user,
            scope=token.get("scope") or "",
            access_token=token["access_token"],
            refresh_token=token.get("refresh_token"),
            expires_in=token.get("expires_in") or self.access_token_lifetime,
            grant_id=grant_id,
            revoked=grant_id in self._revoked_grants,
        )
        self._tokens.append(saved)
        self._by_access[saved.access_token] = saved
        if saved.refresh_token:
            self._by_refresh[saved.refresh_token] = saved

    def _find_token(self, value, hint):
        if hint != "refresh_token" and value in self._by_access:
            return self._by_access[value]
        if hint != "access_token":
            return self._by_refresh.get(value)
        return None

    def _revoke_grant(self, grant_id):
        self._revoked_grants.add(grant_id)
        for token in self._tokens:
            if token.grant_id == grant_id:
                token.revoked = True

    # -- HTTP ------------------------------------------------------------------

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        recorded = RecordedRequest(
            request.method, request.path, dict(request.values.items())
        )
        self.requests.append(recorded)
        with self._lock:
            response = self._dispatch(request)
        recorded.status = response.status_code
        return response(environ, start_response)

    def _dispatch(self, request):
        server = self._authlib
        path = request.path
        if path == PATHS["authorize"]:
            return self._authorize(request)
        if path == PATHS["token"] and request.method == "POST":
            if self.token_error:
                status, error = self.token_error
                return _response(status, {"error": error}, [])
            return _response(*server.create_token_response(request))
        if path == PATHS["revoke"] and request.method == "POST":
            return _response(*server.create_endpoint_response("revocation", request))
        if path == PATHS["introspect"] and request.method == "POST":
            return _response(*server.create_endpoint_response("introspection", request))
        if path == PATHS["userinfo"]:
            return self._userinfo(request)
        return _response(404, {"error": "not_found"}, [])

    def _authorize(self, request):
        server = self._authlib
        oauth_request = server.create_oauth2_request(request)
        try:
            grant = server.get_consent_grant(oauth_request)
        except OAuth2Error as exc:  # unknown client, redirect URI not registered
            return _response(400, dict(exc.get_body()), [])
        if self.authorize_error and self.authorize_error != "access_denied":
            uri = oauth_request.payload.data.get("redirect_uri")
            query = {"error": self.authorize_error, "state": request.args.get("state")}
            return _response(302, "", [("Location", _add_query(uri, query))])
        user = None if self.authorize_error else self.users.get(self.user)
        return _response(
            *server.create_authorization_response(oauth_request, user, grant)
        )

    def _userinfo(self, request):
        scheme, _sep, value = request.headers.get("Authorization", "").partition(" ")
        token = self._by_access.get(value) if scheme.lower() == "bearer" else None
        if token is None or token.revoked or token.is_expired():
            challenge = [("WWW-Authenticate", 'Bearer error="invalid_token"')]
            return _response(401, {"error": "invalid_token"}, challenge)
        user = token.user
        info = {"sub": user.sub}
        if "email" in token.scope.split():
            info.update(email=user.email, email_verified=user.verified)
        return _response(200, info, [])


def _add_query(uri, params):
    parts = urllib.parse.urlsplit(uri)
    query = urllib.parse.parse_qsl(parts.query) + [
        (key, value) for key, value in params.items() if value is not None
    ]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def _response(status, body, headers):
    if isinstance(body, dict):
        return Response(
            json.dumps(body),
            status=status,
            headers=[h for h in headers if h[0].lower() != "content-type"],
            content_type="application/json",
        )
    return Response(body or "", status=status, headers=headers)
