"""lib.oauth: the provider definitions, and the whole code flow against the real
local authorization server (mail_sync_testing.OAuthServer): PKCE, rotation,
revocation, refusals, the consenting account, failures of the network."""

import base64
import hashlib
import socket
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from lib import errors
from lib.oauth import client as oauth
from lib.oauth.providers import get_provider, param_name, provider_from_params

REDIRECT = "http://127.0.0.1:8069/mail_sync_crm/oauth/callback"
NOW = datetime(2026, 11, 28, 9, 0)
ALICE = "alice@example.com"


def client_for(server, name="google", **changes):
    provider = get_provider(name, urls=server.urls)
    if changes:
        provider = replace(provider, **changes)
    return oauth.OAuthClient(provider, server.client_id, server.client_secret, REDIRECT)


def connect(server, client, state="state-1"):
    """The browser's round trip: authorize, consent, callback; the code's tokens."""
    request = client.authorization_request(state, login_hint=ALICE)
    params = server.authorize(request.url)
    assert params["state"] == state
    code = oauth.parse_callback(params, client.provider)
    return client.exchange_code(code, request.code_verifier, now=NOW)


def query(url):
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


# -- providers (no network) ----------------------------------------------------------


def test_google_authorize_url_has_pkce_offline_consent_and_email():
    client = oauth.OAuthClient(get_provider("google"), "cid", "csecret", REDIRECT)
    request = client.authorization_request("signed-state", login_hint=ALICE)
    assert request.url.startswith("https://accounts.google.com/o/oauth2/v2/auth?")
    args = query(request.url)
    digest = hashlib.sha256(request.code_verifier.encode("ascii")).digest()
    assert (
        args["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    )
    assert args["code_challenge_method"] == "S256"
    assert (args["response_type"], args["client_id"]) == ("code", "cid")
    assert (args["access_type"], args["prompt"]) == ("offline", "consent")
    assert args["scope"].split() == ["https://mail.google.com/", "openid", "email"]
    assert (args["state"], args["login_hint"], args["redirect_uri"]) == (
        "signed-state",
        ALICE,
        REDIRECT,
    )
    assert "csecret" not in request.url and request.code_verifier not in request.url
    assert 43 <= len(request.code_verifier) <= 128
    other = client.authorization_request("signed-state")
    assert other.code_verifier != request.code_verifier


def test_microsoft_authority_scopes_and_overrides_from_params():
    params = {
        "microsoft_outlook.endpoint": "https://login.example.us/tenant-1/oauth2/v2.0"
    }
    provider = provider_from_params("microsoft", params.get)
    assert (
        provider.authorize_url
        == "https://login.example.us/tenant-1/oauth2/v2.0/authorize"
    )
    assert provider.token_url == "https://login.example.us/tenant-1/oauth2/v2.0/token"
    assert (provider.userinfo_url, provider.revoke_url) == (None, None)
    default = get_provider("microsoft")
    assert (
        default.token_url
        == "https://login.microsoftonline.com/common/oauth2/v2.0/token"
    )
    client = oauth.OAuthClient(provider, "cid", "csecret", REDIRECT)
    args = query(client.authorization_request("s").url)
    assert args["scope"].split() == [
        "offline_access",
        "https://outlook.office.com/IMAP.AccessAsUser.All",
        "https://outlook.office.com/SMTP.Send",
        "openid",
        "email",
    ]
    assert "prompt" not in args and args["code_challenge_method"] == "S256"
    # The addon's own parameters win over the authority; empty ones keep it.
    params[param_name("microsoft", "token")] = "http://127.0.0.1:9/t"
    params[param_name("microsoft", "authorize")] = "  "
    provider = provider_from_params("microsoft", params.get)
    assert provider.token_url == "http://127.0.0.1:9/t"
    assert provider.authorize_url.endswith("/tenant-1/oauth2/v2.0/authorize")


def test_parameter_names_and_unknown_providers():
    assert param_name("google", "userinfo") == "mail_sync_crm.oauth_google_userinfo_url"
    assert (
        param_name("microsoft", "revoke") == "mail_sync_crm.oauth_microsoft_revoke_url"
    )
    google = provider_from_params("google", {param_name("google", "revoke"): "x"}.get)
    assert google.revoke_url == "x"
    assert google.token_url == "https://oauth2.googleapis.com/token"
    for call in (lambda: get_provider("yahoo"), lambda: param_name("google", "jwks")):
        with pytest.raises(ValueError):
            call()


def test_missing_client_credentials_say_not_configured():
    params = {"google_gmail_client_id": "cid"}
    with pytest.raises(oauth.OAuthNotConfigured) as raised:
        oauth.client_from_params("google", params.get, REDIRECT)
    assert raised.value.code == "oauth_not_configured"
    message, hint = errors.describe(raised.value)
    assert "Google" in message and "redirect URI" in hint
    params["google_gmail_client_secret"] = "csecret"
    client = oauth.client_from_params("google", params.get, REDIRECT)
    assert (client.client_id, client.provider.name) == ("cid", "google")
    assert "csecret" not in repr(client)


def test_needs_refresh():
    expires = datetime(2026, 11, 28, 10, 0)
    assert not oauth.needs_refresh(expires, expires - timedelta(minutes=6))
    assert oauth.needs_refresh(expires, expires - timedelta(minutes=5))
    assert oauth.needs_refresh(expires, expires + timedelta(hours=1))
    assert oauth.needs_refresh(expires, expires, margin=timedelta(0))
    assert not oauth.needs_refresh(
        expires, expires - timedelta(seconds=1), timedelta(0)
    )
    aware = expires.replace(tzinfo=timezone(timedelta(hours=1)))  # 09:00 UTC
    assert oauth.needs_refresh(aware, datetime(2026, 11, 28, 8, 56))
    assert not oauth.needs_refresh(aware, datetime(2026, 11, 28, 8, 54))
    assert oauth.needs_refresh(None, expires)


# -- the code flow against the local authorization server ----------------------------


def test_code_flow_with_pkce_gives_tokens_and_the_account(oauth_server):
    client = client_for(oauth_server)
    tokens = connect(oauth_server, client)
    assert tokens.access_token and tokens.refresh_token and tokens.id_token
    assert tokens.expires_at == NOW + timedelta(seconds=3600)
    assert not tokens.rotated
    assert oauth_server.is_active(tokens.access_token)
    [exchange] = [r for r in oauth_server.requests if r.path == "/token"]
    assert exchange.params["grant_type"] == "authorization_code"
    assert exchange.params["code_verifier"] and exchange.status == 200
    identity = client.identity(tokens)
    assert (identity.email, identity.verified, identity.source) == (
        ALICE,
        True,
        "id_token",
    )
    oauth.check_account(identity, "Alice@Example.com")
    assert oauth_server.count("/userinfo") == 0, "the id_token was enough"


def test_a_wrong_code_verifier_is_refused(oauth_server):
    client = client_for(oauth_server)
    request = client.authorization_request("s")
    code = oauth.parse_callback(oauth_server.authorize(request.url))
    other = client.authorization_request("s").code_verifier
    with pytest.raises(oauth.OAuthError) as raised:
        client.exchange_code(code, other)
    assert raised.value.code == "oauth_invalid_grant"
    assert oauth_server.count("/token") == 1
    assert [r.status for r in oauth_server.requests if r.path == "/token"] == [400]
    assert other not in str(raised.value) and code not in str(raised.value)


def test_an_authorize_request_without_pkce_is_refused(oauth_server):
    client = client_for(oauth_server)
    url = client.authorization_request("s").url
    bare = url.replace("code_challenge_method=S256", "code_challenge_method=plain")
    with pytest.raises(AssertionError, match="S256 is required"):
        oauth_server.authorize(bare)


def test_refresh_rotates_and_the_old_refresh_token_is_spent(oauth_server):
    client = client_for(oauth_server)
    first = connect(oauth_server, client)
    later = NOW + timedelta(minutes=56)
    second = client.refresh(first.refresh_token, now=later)
    assert second.rotated and second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    assert second.expires_at == later + timedelta(seconds=3600)
    assert oauth_server.count("/token", grant_type="refresh_token") == 1
    with pytest.raises(oauth.OAuthInvalidGrant):
        client.refresh(first.refresh_token)
    third = client.refresh(second.refresh_token)
    assert third.rotated and oauth_server.is_active(third.access_token)
    assert oauth_server.count("/token", grant_type="refresh_token") == 3


def test_microsoft_refresh_sends_the_scopes_again(oauth_server):
    client = client_for(oauth_server, "microsoft")
    tokens = connect(oauth_server, client)
    client.refresh(tokens.refresh_token)
    [refresh] = [
        r
        for r in oauth_server.requests
        if r.params.get("grant_type") == "refresh_token"
    ]
    assert "https://outlook.office.com/SMTP.Send" in refresh.params["scope"].split()
    google = client_for(oauth_server)
    google.refresh(connect(oauth_server, google).refresh_token)
    last = oauth_server.requests[-1]
    assert last.params["grant_type"] == "refresh_token" and "scope" not in last.params


def test_revoked_grant_refreshes_to_invalid_grant_with_the_reconnect_hint(oauth_server):
    client = client_for(oauth_server)
    tokens = connect(oauth_server, client)
    oauth_server.revoke_user(ALICE)  # e.g. password changed, access removed
    with pytest.raises(oauth.OAuthInvalidGrant) as raised:
        client.refresh(tokens.refresh_token)
    err = errors.classify(raised.value)
    assert (err.code, err.side) == ("oauth_invalid_grant", "oauth")
    message, hint = errors.describe(err)
    assert "has ended" in message
    assert hint.startswith("Connect again with Google")
    assert tokens.refresh_token not in err.detail


def test_disconnect_revokes_the_grant(oauth_server):
    client = client_for(oauth_server)
    tokens = connect(oauth_server, client)
    assert client.revoke(tokens.refresh_token) is True
    assert oauth_server.count("/revoke") == 1
    assert not oauth_server.is_active(tokens.access_token)
    with pytest.raises(oauth.OAuthInvalidGrant):
        client.refresh(tokens.refresh_token)
    assert client.revoke("no-such-token") is True  # unknown: nothing left to revoke
    microsoft = client_for(oauth_server, "microsoft", revoke_url=None)
    assert microsoft.revoke(tokens.refresh_token) is False


def test_user_cancel_and_provider_errors(oauth_server):
    client = client_for(oauth_server)
    request = client.authorization_request("s")
    oauth_server.authorize_error = "access_denied"
    params = oauth_server.authorize(request.url)
    with pytest.raises(oauth.OAuthDenied) as raised:
        oauth.parse_callback(params, client.provider)
    assert raised.value.code == "oauth_denied"
    assert "Connect with Google again" in errors.describe(raised.value)[1]
    oauth_server.authorize_error = "server_error"
    with pytest.raises(oauth.OAuthProviderError):
        oauth.parse_callback(oauth_server.authorize(request.url))
    with pytest.raises(oauth.OAuthProviderError):
        oauth.parse_callback({"state": "s"})
    oauth_server.authorize_error = None
    code = oauth.parse_callback(oauth_server.authorize(request.url))
    for status, error in ((500, "server_error"), (401, "invalid_client")):
        oauth_server.token_error = (status, error)
        with pytest.raises(oauth.OAuthProviderError) as raised:
            client.exchange_code(code, request.code_verifier)
        assert raised.value.code == "oauth_provider_error"
        assert raised.value.host == "127.0.0.1"
    assert "invalid_client" in raised.value.detail


def test_consent_by_another_account_is_refused(oauth_server):
    oauth_server.add_user("mallory@example.com")
    oauth_server.user = "mallory@example.com"
    client = client_for(oauth_server)
    identity = client.identity(connect(oauth_server, client))
    assert identity.email == "mallory@example.com"
    with pytest.raises(oauth.OAuthWrongAccount) as raised:
        oauth.check_account(identity, ALICE, client.provider)
    assert raised.value.params["expected"] == ALICE
    assert raised.value.params["seen"] == "mallory@example.com"
    assert "another account" in errors.describe(raised.value)[0]


def test_an_unverified_address_is_refused(oauth_server):
    oauth_server.add_user(ALICE, verified=False)
    client = client_for(oauth_server)
    identity = client.identity(connect(oauth_server, client))
    assert identity.verified is False
    with pytest.raises(oauth.OAuthWrongAccount, match="not verified"):
        oauth.check_account(identity, ALICE)


def test_the_account_from_userinfo_when_there_is_no_id_token(oauth_server):
    client = client_for(oauth_server, scopes=("https://mail.google.com/", "email"))
    tokens = connect(oauth_server, client)
    assert tokens.id_token is None
    identity = client.identity(tokens)
    assert (identity.email, identity.verified, identity.source) == (
        ALICE,
        True,
        "userinfo",
    )
    assert oauth_server.count("/userinfo") == 1
    oauth_server.expire_access_tokens()
    with pytest.raises(oauth.OAuthProviderError, match="401"):
        client.identity(tokens)


def test_unreachable_and_silent_token_endpoints(oauth_server):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    client = client_for(oauth_server, token_url=f"http://127.0.0.1:{port}/token")
    with pytest.raises(oauth.OAuthError) as raised:
        client.refresh("rt-1")
    assert (raised.value.code, raised.value.side) == ("host_unreachable", "oauth")
    assert "OAuth server 127.0.0.1" in errors.describe(raised.value)[0]
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/token"
        client = client_for(oauth_server, token_url=url)
        client.timeout = 0.5
        with pytest.raises(oauth.OAuthError) as raised:
            client.refresh("rt-1")
    assert raised.value.code == "timeout"


def test_an_unticked_mail_permission_is_a_denial(oauth_server):
    oauth_server.unticked_scopes = {"https://mail.google.com/"}
    client = client_for(oauth_server)
    with pytest.raises(oauth.OAuthDenied, match="https://mail.google.com/"):
        connect(oauth_server, client)
    oauth_server.unticked_scopes = {"email"}  # not needed for the mail itself
    assert connect(oauth_server, client).scope.split() == [
        "https://mail.google.com/",
        "openid",
    ]


def test_the_taxonomy_knows_oauth_failures(oauth_server):
    from authlib.integrations.base_client import OAuthError as AuthlibError
    from authlib.integrations.requests_client import OAuth2Session

    spent = connect(oauth_server, client_for(oauth_server)).refresh_token
    client_for(oauth_server).refresh(spent)
    raw = OAuth2Session(oauth_server.client_id, oauth_server.client_secret)
    with raw, pytest.raises(AuthlibError) as raised:
        raw.refresh_token(oauth_server.urls["token"], refresh_token=spent)
    assert errors.classify(raised.value).code == "oauth_invalid_grant"
    refused = errors.MailSyncError("auth_failed", "NO", side="imap", host="h")
    assert errors.describe(refused)[0].startswith("Login refused by the IMAP server")
    refused = errors.classify(refused, auth="oauth")
    message, hint = errors.describe(refused)
    assert message.startswith("Sign-in refused by the IMAP server h")
    assert "your provider" in message and hint.startswith("Connect again")
    smtp = errors.MailSyncError("smtp_auth_failed", params={"provider": "Microsoft"})
    smtp = errors.classify(smtp, auth="oauth")
    assert "through Microsoft" in errors.describe(smtp)[0]
