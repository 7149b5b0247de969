"""Tests of lib.smart_mail: the governed SMTP session, against a real SMTP server.

The clock is a plain function returning the test's instant; nothing is mocked
on the network side.
"""

import smtplib
from datetime import datetime, timedelta
from email.message import EmailMessage

import pytest
from lib.net.settings import SmtpSettings
from lib.sending import quota
from lib.sending.smart_mail import GovernedSession, Interrupted, LiveUsage
from lib.sending.smtp_session import open_smtp

from mail_sync_testing import LOOPBACK_POLICY

NOW = datetime(2024, 5, 14, 14, 0)
CUSTOM = quota.PROFILES["custom"]


def message(to=("ceo@acme.example",), size=0):
    msg = EmailMessage()
    msg["From"] = "alice@example.com"
    msg["To"] = ", ".join(to)
    msg["Subject"] = "Proposal"
    msg["Message-Id"] = "<proposal@example.com>"
    msg.set_content("Hello\n" + "x" * size)
    return msg


def session(server, profile=CUSTOM, usage=None, clock=lambda: NOW, **kwargs):
    settings = SmtpSettings(
        host=server.host,
        port=server.ssl_port,
        encryption="ssl",
        allow_self_signed=True,
        login="alice",
        password="secret",
        timeout=10,
        host_policy=LOOPBACK_POLICY,
    )
    return GovernedSession(
        lambda: open_smtp(settings)[0], profile, usage, clock=clock, **kwargs
    )


def limits(**figures):
    return quota.profile_with_overrides(CUSTOM, figures)


def test_live_usage_grows_in_order():
    usage = LiveUsage([(NOW, 1)])
    usage.add(NOW + timedelta(minutes=1), 2)
    usage.add(NOW - timedelta(minutes=1), 3)
    assert usage.events == [
        (NOW - timedelta(minutes=1), 3),
        (NOW, 1),
        (NOW + timedelta(minutes=1), 2),
    ]
    assert usage.recipients_in(quota.DAY, NOW + timedelta(minutes=2)) == 6


def test_sends_and_records_one_transaction(smtp_server):
    governed = session(smtp_server)
    governed.begin(7)
    assert governed.connections_opened == 0, "connects only when sending"
    governed.send_message(message(), "alice@example.com", ["ceo@acme.example"])
    governed.quit()
    [received] = smtp_server.messages
    assert received.rcpt_tos == ["ceo@acme.example"]
    assert received.auth_user == "alice"
    [batch] = governed.take_sent()
    assert (batch.mail_key, batch.sent_at, batch.recipients) == (
        7,
        NOW,
        ["ceo@acme.example"],
    )
    assert batch.message_id == "<proposal@example.com>"
    assert governed.usage.emails_in(quota.DAY, NOW) == 1


def test_batches_per_email_and_new_connection_per_connection_limit(smtp_server):
    rcpts = [f"lead{i}@acme.example" for i in range(5)]
    governed = session(
        smtp_server, limits(recipients_per_email=2, recipients_per_connection=2)
    )
    governed.begin(1)
    governed.send_message(message(rcpts), "alice@example.com", rcpts)
    governed.quit()
    assert [m.rcpt_tos for m in smtp_server.messages] == [
        rcpts[:2],
        rcpts[2:4],
        rcpts[4:],
    ]
    assert governed.connections_opened == 3
    assert smtp_server.connection_count == 3


def test_one_connection_for_many_mails(smtp_server):
    governed = session(smtp_server, limits(recipients_per_connection=10))
    for key in range(4):
        governed.begin(key)
        governed.send_message(message(), "alice@example.com", ["ceo@acme.example"])
    governed.quit()
    assert len(smtp_server.messages) == 4
    assert governed.connections_opened == 1


def test_governor_defers_without_connecting(smtp_server):
    usage = LiveUsage([(NOW - timedelta(hours=23), 1), (NOW - timedelta(hours=1), 1)])
    governed = session(smtp_server, limits(emails_per_day=2), usage)
    governed.begin(1)
    with pytest.raises(Interrupted) as stop:
        governed.send_message(message(), "alice@example.com", ["ceo@acme.example"])
    assert stop.value.action == "defer"
    assert stop.value.scope == "mail"
    assert stop.value.retry_at == NOW + timedelta(hours=1)
    assert "resumes at 15:00" in stop.value.reason
    assert governed.connections_opened == 0
    assert smtp_server.connection_count == 0


def test_too_large_fails(smtp_server):
    governed = session(smtp_server, limits(max_size_bytes=quota.MB))
    governed.begin(1)
    with pytest.raises(Interrupted) as stop:
        governed.send_message(
            message(size=quota.MB), "alice@example.com", ["ceo@acme.example"]
        )
    assert stop.value.action == "fail"
    assert "can never be sent" in stop.value.reason
    assert smtp_server.messages == []


@pytest.mark.parametrize(
    ("code", "text", "stage", "delay"),
    [
        (550, "5.4.5 Daily user sending quota exceeded.", "MAIL", timedelta(hours=1)),
        (432, "4.3.2 Concurrent connections limit exceeded", "MAIL", None),
        (421, "4.7.0 [TSS04] Messages temporarily deferred", "RCPT", None),
        (451, "4.3.0 Temporary local problem", "DATA", None),
    ],
)
def test_server_refusals_that_defer(smtp_server, code, text, stage, delay):
    smtp_server.fail_next(code, text, stage=stage)
    governed = session(smtp_server)
    governed.begin(1)
    with pytest.raises(Interrupted) as stop:
        governed.send_message(message(), "alice@example.com", ["ceo@acme.example"])
    assert stop.value.action == "defer"
    assert stop.value.scope == "mailbox"
    assert stop.value.retry_at == NOW + (delay or quota.RETRY_TEMPORARY)
    assert str(code) in stop.value.reason
    # The session goes on (reconnecting when the server closed the connection).
    governed.begin(2)
    governed.send_message(message(), "alice@example.com", ["ceo@acme.example"])
    governed.quit()
    assert len(smtp_server.messages) == 1


def test_permanent_refusal_is_left_to_odoo(smtp_server):
    smtp_server.fail_next(550, "5.1.1 No such user", stage="RCPT")
    governed = session(smtp_server)
    governed.begin(1)
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        governed.send_message(message(), "alice@example.com", ["nobody@acme.example"])
    governed.quit()


def test_connection_failures_are_offline(smtp_server):
    smtp_server.drop_connections()
    governed = session(smtp_server)
    governed.begin(1)
    with pytest.raises(Interrupted) as stop:
        governed.send_message(message(), "alice@example.com", ["ceo@acme.example"])
    assert (stop.value.action, stop.value.scope) == ("offline", "mailbox")
    assert stop.value.error.code == "connection_lost"

    smtp_server.drop_connections(False)
    smtp_server.users["alice"] = "changed"
    with pytest.raises(Interrupted) as stop:
        governed.send_message(message(), "alice@example.com", ["ceo@acme.example"])
    assert stop.value.error.code == "smtp_auth_failed"
    assert "secret" not in stop.value.error.detail


def test_delivered_recipients_are_skipped(smtp_server):
    rcpts = ["a@acme.example", "b@acme.example", "c@acme.example"]
    governed = session(smtp_server)
    governed.begin(1, delivered=["A@acme.example"])
    governed.send_message(message(rcpts), "alice@example.com", rcpts)
    governed.begin(2, delivered=rcpts)
    assert governed.send_message(message(rcpts), "alice@example.com", rcpts) == {}
    governed.quit()
    assert [m.rcpt_tos for m in smtp_server.messages] == [rcpts[1:]]


def test_a_mail_that_does_not_fit_waits_as_a_whole(smtp_server):
    """Odoo sends one email per notified partner: the mail is planned as a whole
    on its first email."""
    usage = LiveUsage([(NOW - timedelta(hours=1), 1)])
    governed = session(smtp_server, limits(recipients_per_day=2), usage)
    rcpts = ["a@acme.example", "b@acme.example"]
    governed.begin(1, recipients=rcpts)
    with pytest.raises(Interrupted) as stop:
        governed.send_message(message(rcpts[:1]), "alice@example.com", rcpts[:1])
    assert stop.value.action == "defer"
    assert smtp_server.messages == []


def test_each_email_stays_within_the_limits(smtp_server):
    """A later email of a mail that would exceed a window waits (the retry skips
    the partners already reached)."""
    governed = session(smtp_server, limits(emails_per_day=2))
    governed.begin(1, recipients=["a@acme.example", "b@acme.example"])
    governed.send_message(message(), "alice@example.com", ["a@acme.example"])
    governed.send_message(message(), "alice@example.com", ["b@acme.example"])
    governed.begin(2, recipients=["c@acme.example", "d@acme.example"])
    with pytest.raises(Interrupted) as stop:
        governed.send_message(message(), "alice@example.com", ["c@acme.example"])
    assert stop.value.action == "defer"
    assert stop.value.retry_at == NOW + quota.DAY
    governed.quit()
    assert len(smtp_server.messages) == 2
