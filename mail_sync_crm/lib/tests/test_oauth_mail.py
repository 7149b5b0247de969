"""IMAP and SMTP with OAuth 2.0 access tokens (SASL XOAUTH2), against a real
Dovecot and a real SMTP server that both check the tokens at the local
authorization server themselves (RFC 7662 introspection)."""

import logging
import sys
from datetime import datetime
from email.message import EmailMessage

import pytest
from lib import errors
from lib.imap.session import ImapSession, check_imap
from lib.net.settings import ServerSettings
from lib.oauth import client as oauth
from lib.oauth.providers import get_provider
from lib.sending import quota
from lib.sending.smart_mail import GovernedSession, Interrupted
from lib.sending.smtp_session import check_smtp, open_smtp
from lib.sync import engine as sync_engine
from test_sync_engine import MemoryStore

from mail_sync_testing import LOOPBACK_POLICY, make_message

ALICE = "alice@example.com"
LEAD = 1
CUSTOMER = "ceo@acme.example.com"
REDIRECT = "http://127.0.0.1:8069/mail_sync_crm/oauth/callback"


def connect(server):
    """(client, tokens) of alice's consent, as the callback gets them."""
    client = oauth.OAuthClient(
        get_provider("google", urls=server.urls),
        server.client_id,
        server.client_secret,
        REDIRECT,
    )
    request = client.authorization_request("state", login_hint=ALICE)
    code = oauth.parse_callback(server.authorize(request.url))
    return client, client.exchange_code(code, request.code_verifier)


def settings(mail_server, access_token, login=ALICE, **changes):
    values = {
        "host": mail_server.host,
        "port": mail_server.ssl_port,
        "encryption": "ssl",
        "allow_self_signed": True,
        "login": login,
        "access_token": access_token,
        "timeout": 10,
        "host_policy": LOOPBACK_POLICY,
    }
    values.update(changes)
    return ServerSettings(**values)


class _Connections:
    """Every outgoing connection and name lookup of this process (audit hooks,
    which cannot be removed: installed once, recording while ``active``)."""

    active = None

    @classmethod
    def hook(cls, event, args):
        if cls.active is None:
            return
        if event == "socket.connect":
            address = args[1]
            if isinstance(address, tuple):
                cls.active.append(("connect", address[0]))
        elif event == "socket.getaddrinfo":
            cls.active.append(("lookup", args[0]))


sys.addaudithook(_Connections.hook)


@pytest.fixture
def connections():
    seen = []
    _Connections.active = seen
    try:
        yield seen
    finally:
        _Connections.active = None


def test_imap_xoauth2_login_and_a_real_sync(oauth_server, oauth_dovecot):
    for subject in ("Quote", "Follow-up"):
        oauth_dovecot.append(
            ALICE, "INBOX", make_message(CUSTOMER, ALICE, subject=subject)
        )
    _client, tokens = connect(oauth_server)
    found = check_imap(settings(oauth_dovecot, tokens.access_token))
    assert (found.inbox, found.sent) == ("INBOX", "Sent")
    store = MemoryStore()
    with ImapSession(settings(oauth_dovecot, tokens.access_token)) as session:
        outcome = sync_engine.sync_folder(
            session,
            sync_engine.FolderState("INBOX", "in"),
            store,
            {CUSTOMER: {LEAD}},
            attachment_cap=10**6,
        )
    assert outcome.recorded == 2
    assert sorted(s for _m, _l, s in store.recorded) == ["Follow-up", "Quote"]
    assert "method=XOAUTH2" in oauth_dovecot.log_tail()
    # Password users of the same instance still log in.
    bob = ServerSettings(
        oauth_dovecot.host,
        oauth_dovecot.ssl_port,
        allow_self_signed=True,
        login="bob",
        password="secret",
        host_policy=LOOPBACK_POLICY,
    )
    assert check_imap(bob).inbox == "INBOX"


def test_imap_refuses_expired_revoked_and_other_users_tokens(
    oauth_server, oauth_dovecot
):
    client, tokens = connect(oauth_server)
    refused = {
        "other user": settings(oauth_dovecot, tokens.access_token, login="bob"),
        "made up": settings(oauth_dovecot, "at-made-up"),
        "refresh token": settings(oauth_dovecot, tokens.refresh_token),
    }
    fresh = client.refresh(tokens.refresh_token)
    oauth_server.expire_access_tokens()
    refused["expired"] = settings(oauth_dovecot, fresh.access_token)
    newest = client.refresh(fresh.refresh_token)
    assert check_imap(settings(oauth_dovecot, newest.access_token))
    oauth_server.revoke_user(ALICE)
    refused["revoked"] = settings(oauth_dovecot, newest.access_token)
    for case, bad in refused.items():
        with pytest.raises(errors.MailSyncError) as raised:
            check_imap(bad)
        err = raised.value
        assert (err.code, err.side) == ("auth_failed", "imap"), case
        assert "AUTHENTICATIONFAILED" in err.detail, case
        assert bad.access_token not in str(err) + repr(err.params), case
        message, hint = errors.describe(err)
        assert "access granted through" in message and "Connect again" in hint


def test_smtp_xoauth2_send_accepted_and_refused_with_535(oauth_server, oauth_smtp):
    client, tokens = connect(oauth_server)
    assert (
        "XOAUTH2"
        in check_smtp(settings(oauth_smtp, tokens.access_token)).features["auth"]
    )
    conn, _seen = open_smtp(settings(oauth_smtp, tokens.access_token))
    conn.sendmail(ALICE, [CUSTOMER], make_message(ALICE, CUSTOMER, subject="Offer"))
    conn.quit()
    [received] = oauth_smtp.messages
    assert (received.auth_user, received.rcpt_tos) == (ALICE, [CUSTOMER])
    client.revoke(tokens.refresh_token)
    for bad in (
        settings(oauth_smtp, tokens.access_token),  # revoked
        settings(oauth_smtp, "at-made-up"),
        settings(
            oauth_smtp, tokens.access_token, port=oauth_smtp.port, encryption="starttls"
        ),
    ):
        with pytest.raises(errors.MailSyncError) as raised:
            open_smtp(bad)
        err = raised.value
        assert (err.code, err.side) == ("smtp_auth_failed", "smtp")
        assert err.detail.startswith("SMTPAuthenticationError: 535 5.7.8")
        assert bad.access_token not in str(err)
        assert "Authenticated SMTP" in errors.describe(err)[1]
    assert (
        oauth_smtp.auth_attempts
        == [(ALICE, True), (ALICE, True)] + [(ALICE, False)] * 3
    )
    assert len(oauth_smtp.messages) == 1


def test_smart_mail_sends_with_the_token(oauth_server, oauth_smtp):
    _client, tokens = connect(oauth_server)
    now = datetime(2026, 11, 28, 9, 0)
    current = {"token": tokens.access_token}
    governed = GovernedSession(
        lambda: open_smtp(settings(oauth_smtp, current["token"]))[0],
        quota.PROFILES["custom"],
        clock=lambda: now,
    )
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = ALICE, CUSTOMER, "Proposal"
    msg.set_content("Hello")
    governed.begin(1)
    governed.send_message(msg, ALICE, [CUSTOMER])
    governed.quit()
    assert [m.auth_user for m in oauth_smtp.messages] == [ALICE]
    oauth_server.revoke_user(ALICE)
    governed.begin(2)
    with pytest.raises(Interrupted) as stop:
        governed.send_message(msg, ALICE, [CUSTOMER])
    assert (stop.value.action, stop.value.scope) == ("offline", "mailbox")
    assert stop.value.error.code == "smtp_auth_failed"
    assert stop.value.error.params["auth"] == "oauth"
    assert tokens.access_token not in stop.value.error.detail
    assert len(oauth_smtp.messages) == 1


def test_no_token_in_logs_or_errors_and_only_loopback(
    oauth_server, oauth_dovecot, oauth_smtp, connections, caplog
):
    caplog.set_level(logging.DEBUG)
    client, tokens = connect(oauth_server)
    fresh = client.refresh(tokens.refresh_token)
    identity = client.identity(fresh if fresh.id_token else tokens)
    assert identity.email == ALICE
    check_imap(settings(oauth_dovecot, fresh.access_token))
    check_smtp(settings(oauth_smtp, fresh.access_token))
    failures = []
    for call in (
        lambda: client.refresh(tokens.refresh_token),  # spent by rotation
        lambda: check_imap(settings(oauth_dovecot, tokens.refresh_token)),
        lambda: check_smtp(settings(oauth_smtp, tokens.refresh_token)),
        lambda: client.exchange_code("no-such-code", "v" * 50),
    ):
        with pytest.raises(errors.MailSyncError) as raised:
            call()
        failures.append(raised.value)
    secrets = {
        tokens.access_token,
        tokens.refresh_token,
        tokens.id_token,
        fresh.access_token,
        fresh.refresh_token,
        oauth_server.client_secret,
    }
    # What this process logged, the test server's own Authlib records apart.
    logged = "\n".join(
        record.getMessage()
        for record in caplog.records
        if not record.name.startswith(("authlib.oauth2.rfc", "authlib.oidc"))
    )
    shown = [logged, repr(tokens), repr(fresh), repr(client)]
    for err in failures:
        shown += [
            str(err),
            repr(err),
            err.detail,
            repr(err.params),
            *errors.describe(err),
        ]
        err = errors.classify(err)
        shown.append(err.detail)
    for secret in secrets:
        assert all(secret not in text for text in shown)
    assert {kind for kind, _host in connections} >= {"connect"}
    assert {host for _kind, host in connections} == {"127.0.0.1"}
