"""The host policy (lib.host_policy): which addresses a mailbox may reach, and
the sessions that check it before every connection and connect to the address
they checked, against real servers on loopback.

No test sends a packet anywhere but loopback: an audit hook records every
connection and name lookup of this process while a test watches, and stops
any that would leave the machine. A resolver given to the policy stands in
for DNS where a test needs a name to resolve to given addresses (below the
network boundary: the sessions' own connections are real)."""

import doctest
import ipaddress
import socket
import ssl
import time

import pytest
from lib import errors
from lib.imap.session import ImapSession, check_imap
from lib.net import host_policy, settings
from lib.net.deadline import Deadline
from lib.net.host_policy import PUBLIC_ONLY, HostPolicy, named_context, refusal
from lib.sending.smtp_session import check_smtp, open_smtp

from mail_sync_testing import (
    LOOPBACK_POLICY,
    BannerPort,
    SilentPort,
    TlsNamePort,
)
from mail_sync_testing.network_guard import watching


@pytest.fixture
def network():
    with watching() as seen:
        yield seen


def connects(seen, port=None):
    return [
        entry for entry in seen if entry[0] == "connect" and port in (None, entry[2])
    ]


def server_settings(server, port, **changes):
    values = {
        "host": server.host,
        "port": port,
        "encryption": "ssl",
        "allow_self_signed": True,
        "login": "alice",
        "password": "secret",
        "timeout": 10,
        "host_policy": LOOPBACK_POLICY,
    }
    values.update(changes)
    return settings.ServerSettings(**values)


class FakeDns:
    """A resolver for the policy: ``answers`` are the addresses each
    successive lookup returns (the last one repeats); ``calls`` the names."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def __call__(self, name, port):
        self.calls.append(name)
        if not self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "unknown")
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


# -- the decision ------------------------------------------------------------------


def test_doctests():
    failures, tried = doctest.testmod(host_policy)
    assert tried and not failures


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),  # carrier-grade NAT
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("fe80::1%lo", "link-local"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("224.0.0.1", "multicast"),
        ("239.1.2.3", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("0.1.2.3", "reserved"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.10", "reserved"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped IPv6
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("2002:a9fe:a9fe::1", "cloud metadata"),  # 6to4 of 169.254.169.254
    ],
)
def test_what_is_not_a_public_address_is_refused(address, kind):
    assert refusal(address, PUBLIC_ONLY) == kind


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8"]
)
def test_public_addresses_pass(address):
    assert refusal(address, PUBLIC_ONLY) is None


def test_the_setting_lists_ranges_and_names_and_ignores_the_rest():
    policy = HostPolicy.parse(
        " 127.0.0.1, 10.1.0.0/16 [::1]  Mail.Corp.Example. ,, x/y 10.0.0.0/33"
    )
    assert [str(n) for n in policy.networks] == [
        "127.0.0.1/32",
        "10.1.0.0/16",
        "::1/128",
    ]
    assert policy.names == {"mail.corp.example"}
    assert policy.invalid == ("x/y", "10.0.0.0/33")
    assert HostPolicy.parse("") == HostPolicy.parse(None) == PUBLIC_ONLY


def test_an_allowed_range_allows_its_addresses_only():
    policy = HostPolicy.parse("127.0.0.1, 10.1.0.0/16")
    assert refusal("127.0.0.1", policy) is None
    assert refusal("::ffff:127.0.0.1", policy) is None
    assert refusal("127.0.0.2", policy) == "loopback"
    assert refusal("::1", policy) == "loopback"
    assert refusal("10.1.200.3", policy) is None
    assert refusal("10.2.0.1", policy) == "private"
    assert refusal("169.254.169.254", HostPolicy.parse("169.254.0.0/16")) is None


def test_an_allowed_name_allows_its_private_addresses_but_not_metadata():
    policy = HostPolicy.parse("mail.corp.example")
    assert refusal("10.9.8.7", policy, "mail.corp.example") is None
    assert refusal("10.9.8.7", policy, "other.corp.example") == "private"
    assert refusal("169.254.169.254", policy, "mail.corp.example") == "cloud metadata"


def test_every_address_of_the_name_must_pass():
    dns = FakeDns(["203.0.113.7", "10.0.0.1"])
    policy = HostPolicy.parse("203.0.113.0/24", resolve=dns)
    with pytest.raises(errors.MailSyncError) as raised:
        policy.check("mail.example.com", 993, side="imap")
    err = raised.value
    assert (err.code, err.side, err.host, err.port) == (
        "host_not_allowed",
        "imap",
        "mail.example.com",
        993,
    )
    assert "10.0.0.1 is private" in err.detail
    dns = FakeDns(["2001:4860:4860::8888", "8.8.4.4"])
    assert HostPolicy.parse("", resolve=dns).check("mail.example.com", 993) == [
        "2001:4860:4860::8888",
        "8.8.4.4",
    ]


def test_metadata_names_are_refused_without_a_lookup():
    dns = FakeDns(["8.8.8.8"])
    policy = HostPolicy.parse("", resolve=dns)
    for name in ("metadata.google.internal", "METADATA.google.internal.", "metadata"):
        with pytest.raises(errors.MailSyncError) as raised:
            policy.check(name, 993)
        assert raised.value.code == "host_not_allowed"
    assert dns.calls == []


def test_address_literals_are_not_looked_up_and_unknown_names_are_unreachable():
    dns = FakeDns()
    policy = HostPolicy.parse("10.0.0.0/8", resolve=dns)
    assert policy.check("10.0.0.1", 993) == ["10.0.0.1"]
    mapped = policy.check("[::ffff:10.0.0.1]", 993)
    assert [ipaddress.ip_address(a) for a in mapped] == [
        ipaddress.ip_address("::ffff:10.0.0.1")
    ]
    assert dns.calls == []
    with pytest.raises(errors.MailSyncError) as raised:
        policy.check("nowhere.example.com", 993)
    assert raised.value.code == "host_unreachable"


def test_the_refusal_reads_from_the_catalogue():
    err = errors.MailSyncError("host_not_allowed", side="imap", host="10.0.0.1", port=9)
    message, hint = errors.describe(err)
    assert "IMAP server 10.0.0.1:9 is not allowed" in message
    assert "mail_sync_crm.allowed_hosts" in hint and "administrator" in hint


# -- the sessions ----------------------------------------------------------------------


def test_imap_and_smtp_refuse_loopback_by_default_without_connecting(
    dovecot, smtp_server, network
):
    for check, server, port in (
        (check_imap, dovecot, dovecot.ssl_port),
        (check_smtp, smtp_server, smtp_server.ssl_port),
    ):
        with pytest.raises(errors.MailSyncError) as raised:
            check(server_settings(server, port, host_policy=PUBLIC_ONLY))
        assert raised.value.code == "host_not_allowed"
        assert raised.value.before_login
    assert connects(network) == []
    # The same servers, allowed: connected, to the address that was checked.
    assert check_imap(server_settings(dovecot, dovecot.ssl_port)).inbox == "INBOX"
    check_smtp(server_settings(smtp_server, smtp_server.ssl_port))
    assert {entry[1] for entry in connects(network)} == {"127.0.0.1"}


def test_the_session_connects_to_the_address_it_checked(dovecot, network):
    """DNS rebinding: the name answers a loopback address when checked and a
    metadata address afterwards; the session never asks again."""
    dns = FakeDns(["127.0.0.1"], ["169.254.169.254"])
    policy = HostPolicy.parse("127.0.0.1", resolve=dns)
    settings = server_settings(
        dovecot, dovecot.ssl_port, host="mail.rebind.example", host_policy=policy
    )
    with ImapSession(settings) as session:
        assert session.examine_folders(["INBOX"])["INBOX"] is not None
    assert dns.calls == ["mail.rebind.example"]
    assert connects(network) == [("connect", "127.0.0.1", dovecot.ssl_port)]
    assert "mail.rebind.example" not in [entry[1] for entry in network]
    # The next connection checks again, and the second answer is refused.
    with pytest.raises(errors.MailSyncError) as raised:
        ImapSession(settings).open()
    assert raised.value.code == "host_not_allowed"
    assert len(connects(network)) == 1


def test_the_next_checked_address_is_tried_when_one_refuses(dovecot, network):
    dns = FakeDns(["::1", "127.0.0.1"])  # Dovecot listens on 127.0.0.1 only
    policy = HostPolicy.parse("127.0.0.1, ::1", resolve=dns)
    settings = server_settings(
        dovecot, dovecot.ssl_port, host="mail.test", host_policy=policy
    )
    assert check_imap(settings).inbox == "INBOX"
    assert [entry[1] for entry in connects(network)][-1] == "127.0.0.1"


@pytest.mark.parametrize("side", ["imap", "smtp"])
def test_tls_keeps_the_host_name_for_sni(side, network):
    with TlsNamePort() as port:
        policy = HostPolicy.parse("127.0.0.1", resolve=FakeDns(["127.0.0.1"]))
        settings = server_settings(
            port, port.port, host="mail.sni.example", host_policy=policy, timeout=5
        )
        with pytest.raises(errors.MailSyncError):
            (check_imap if side == "imap" else check_smtp)(settings)
        deadline = time.monotonic() + 5
        while not port.server_names and time.monotonic() < deadline:
            time.sleep(0.02)
        assert port.server_names == ["mail.sni.example"]


def test_the_certificate_is_checked_against_the_host_name(dovecot):
    """A context trusting the test certificate (issued for localhost and
    127.0.0.1): connected to 127.0.0.1, the name that is verified is the
    host name, not the address."""
    trusting = ssl.create_default_context(cafile=dovecot.cert_path)
    for name, works in (("localhost", True), ("mail.other.example", False)):
        with socket.create_connection(("127.0.0.1", dovecot.ssl_port), 5) as sock:
            wrapping = named_context(trusting, name)
            if works:
                wrapping.wrap_socket(sock, server_hostname="127.0.0.1").close()
            else:
                with pytest.raises(ssl.SSLCertVerificationError):
                    wrapping.wrap_socket(sock, server_hostname="127.0.0.1")


@pytest.mark.parametrize("encryption", ["none", "starttls"])
def test_a_banner_before_login_is_marked_before_login(encryption):
    with BannerPort() as port:
        for check in (check_imap, check_smtp):
            with pytest.raises(errors.MailSyncError) as raised:
                check(
                    server_settings(port, port.port, encryption=encryption, timeout=3)
                )
            assert raised.value.before_login, check
            assert "OpenSSH_9.2p1" in raised.value.detail, "kept for the log"


def test_an_error_after_login_is_not_before_login(dovecot):
    settings = server_settings(dovecot, dovecot.ssl_port)
    with (
        ImapSession(settings) as session,
        pytest.raises(errors.MailSyncError) as raised,
    ):
        session.select_folder("No such folder")
    assert raised.value.code == "folder_missing"
    assert not raised.value.before_login
    with pytest.raises(errors.MailSyncError) as raised:
        check_imap(server_settings(dovecot, dovecot.ssl_port, password="wrong"))
    assert raised.value.code == "auth_failed" and raised.value.before_login


@pytest.mark.parametrize("check", [check_imap, check_smtp])
def test_a_silent_port_fails_at_the_connect_deadline(check):
    with SilentPort() as port:
        started = time.monotonic()
        with pytest.raises(errors.MailSyncError) as raised:
            check(server_settings(port, port.port), Deadline(1, code="timeout"))
        assert raised.value.code == "timeout"
        assert raised.value.before_login
        assert time.monotonic() - started < 5


def test_sending_connects_through_the_policy_too(smtp_server, network):
    settings = server_settings(
        smtp_server, smtp_server.ssl_port, host_policy=PUBLIC_ONLY
    )
    with pytest.raises(errors.MailSyncError) as raised:
        open_smtp(settings)
    assert raised.value.code == "host_not_allowed"
    assert connects(network) == []
