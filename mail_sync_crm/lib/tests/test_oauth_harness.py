"""The harness's servers checking OAuth tokens themselves: Dovecot's oauth2
passdb and the SMTP server's AUTH XOAUTH2, both asking the local authorization
server (RFC 7662 introspection) on every login. Raw imapclient and smtplib."""

import base64
import smtplib

import pytest
from imapclient.exceptions import LoginError
from lib.oauth import client as oauth
from lib.oauth.providers import get_provider

ALICE = "alice@example.com"


def access_token(server, user=ALICE):
    server.user = user
    client = oauth.OAuthClient(
        get_provider("google", urls=server.urls),
        server.client_id,
        server.client_secret,
        "http://127.0.0.1:8069/callback",
    )
    request = client.authorization_request("s")
    code = oauth.parse_callback(server.authorize(request.url))
    return client.exchange_code(code, request.code_verifier).access_token


def test_dovecot_validates_xoauth2_and_oauthbearer(oauth_server, oauth_dovecot):
    token = access_token(oauth_server)
    for login in ("oauth2_login", "oauthbearer_login"):
        imap = oauth_dovecot.connect()
        assert getattr(imap, login)(ALICE, token) == [b"Logged in"]
        imap.logout()
    assert oauth_server.count("/introspect") == 2
    for user, bad in ((ALICE, "at-made-up"), ("bob", token)):
        imap = oauth_dovecot.connect()
        with pytest.raises(LoginError, match="AUTHENTICATIONFAILED"):
            imap.oauth2_login(user, bad)
    oauth_server.expire_access_tokens()
    imap = oauth_dovecot.connect()
    with pytest.raises(LoginError, match="AUTHENTICATIONFAILED"):
        imap.oauthbearer_login(ALICE, token)
    # Password users of the same instance, and doveadm, still work.
    oauth_dovecot.connect("bob").logout()
    oauth_dovecot.append(ALICE, "INBOX", b"Subject: hi\r\n\r\nhello\r\n")
    oauth_dovecot.set_uidvalidity(ALICE, "INBOX", 77)
    imap = oauth_dovecot.connect(ALICE)
    assert imap.select_folder("INBOX")[b"UIDVALIDITY"] == 77
    imap.logout()


def test_smtp_server_takes_xoauth2_only_with_oauth(
    oauth_server, oauth_smtp, smtp_server
):
    token = access_token(oauth_server)
    good = base64.b64encode(f"user={ALICE}\1auth=Bearer {token}\1\1".encode())
    with smtplib.SMTP_SSL(
        oauth_smtp.host, oauth_smtp.ssl_port, context=oauth_smtp.ssl_context()
    ) as conn:
        conn.ehlo()
        assert "XOAUTH2" in conn.esmtp_features["auth"].split()
        assert conn.docmd("AUTH", "XOAUTH2 " + good.decode())[0] == 235
        conn.sendmail(ALICE, ["x@example.org"], b"Subject: s\r\n\r\nbody\r\n")
    assert oauth_smtp.messages[0].auth_user == ALICE
    bad = base64.b64encode(f"user=bob\1auth=Bearer {token}\1\1".encode())
    with smtplib.SMTP_SSL(
        oauth_smtp.host, oauth_smtp.ssl_port, context=oauth_smtp.ssl_context()
    ) as conn:
        conn.ehlo()
        code, challenge = conn.docmd("AUTH", "XOAUTH2 " + bad.decode())
        assert code == 334 and b"401" in base64.b64decode(challenge)
        assert conn.docmd("")[0] == 535
        conn.login("bob", "secret")  # LOGIN/PLAIN users alongside
    assert oauth_smtp.auth_attempts == [(ALICE, True), ("bob", False), ("bob", True)]
    with smtplib.SMTP_SSL(
        smtp_server.host, smtp_server.ssl_port, context=smtp_server.ssl_context()
    ) as conn:
        conn.ehlo()
        assert "XOAUTH2" not in conn.esmtp_features["auth"].split()
