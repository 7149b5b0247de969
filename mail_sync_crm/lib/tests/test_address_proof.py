"""Proving a password mailbox's address by a round trip through real servers:
the confirmation sent through the SMTP server must arrive in the mailbox's own
Inbox on the IMAP server."""

import pytest
from lib.sending import address_proof

from mail_sync_testing import LOOPBACK_POLICY, DovecotServer

ADDRESS = "alice@example.com"


def settings(dovecot, smtp_server):
    imap = dovecot.client_settings("alice")
    smtp = imap.__class__(
        host=smtp_server.host,
        port=smtp_server.plain_port,
        encryption="none",
        login="alice",
        password="secret",
        host_policy=LOOPBACK_POLICY,
    )
    return imap, smtp


def test_the_confirmation_arrives_in_the_own_inbox(dovecot, smtp_server):
    smtp_server.deliver_to(dovecot, {ADDRESS: "alice"})
    imap, smtp = settings(dovecot, smtp_server)
    assert address_proof.prove_by_round_trip(imap, smtp, ADDRESS, wait_seconds=5)
    [sent] = smtp_server.messages
    assert sent.rcpt_tos == [ADDRESS]
    assert sent.message[address_proof.CODE_HEADER]


def test_an_address_delivered_elsewhere_is_not_proven(dovecot, smtp_server):
    # The address is a colleague's: what is sent to it lands in her mailbox,
    # never in alice's, whose credentials sent it.
    with DovecotServer() as hers:
        hers.add_user("carol", "secret")
        smtp_server.deliver_to(hers, {"carol@example.com": "carol"})
        imap, smtp = settings(dovecot, smtp_server)
        assert not address_proof.prove_by_round_trip(
            imap, smtp, "carol@example.com", wait_seconds=0.5
        )
        client = hers.connect("carol")
        client.select_folder("INBOX")
        assert len(client.search()) == 1, "it reached her Inbox"
        client.logout()


def test_only_the_code_sent_proves(dovecot, smtp_server):
    # An older confirmation (another code) in the Inbox proves nothing.
    dovecot.append(
        "alice", "INBOX", address_proof.confirmation_message(ADDRESS, "0" * 24)
    )
    imap, _smtp = settings(dovecot, smtp_server)
    assert not address_proof.confirmation_arrived(imap, "1" * 24, wait_seconds=0)
    assert address_proof.confirmation_arrived(imap, "0" * 24, wait_seconds=0)


def test_the_inbox_is_watched_until_the_deadline(dovecot):
    imap = dovecot.client_settings("alice")
    now = [0.0]
    naps = []

    def sleep(seconds):
        naps.append(seconds)
        now[0] += seconds
        if len(naps) == 3:  # delivered while the Inbox is watched
            dovecot.append(
                "alice", "INBOX", address_proof.confirmation_message(ADDRESS, "late")
            )

    assert address_proof.confirmation_arrived(
        imap, "late", wait_seconds=10, clock=lambda: now[0], sleep=sleep
    )
    assert len(naps) == 3


@pytest.mark.parametrize(
    ("login", "address", "same"),
    [
        ("alice@example.com", "Alice@Example.com ", True),
        ("alice", "alice@example.com", False),
        ("", "alice@example.com", False),
        ("bob@example.com", "alice@example.com", False),
    ],
)
def test_the_username_itself_proves_the_address(login, address, same):
    assert address_proof.same_address(login, address) is same
