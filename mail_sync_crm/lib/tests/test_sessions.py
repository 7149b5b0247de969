"""Connection checks against the real servers: TLS modes, pinning, UTF-8 secrets."""

import pytest
from lib import errors
from lib.imap.session import check_imap
from lib.net import tls
from lib.net.settings import ServerSettings
from lib.sending.smtp_session import check_smtp

from mail_sync_testing import LOOPBACK_POLICY

UTF8_PASSWORD = "pässwörd-çé"


def settings(server, **kw):
    """IMAP or SMTP settings (one dataclass) for a harness server over implicit TLS."""
    values = {
        "host": server.host,
        "port": server.ssl_port,
        "encryption": "ssl",
        "allow_self_signed": True,
        "login": "alice",
        "password": "secret",
        "host_policy": LOOPBACK_POLICY,
    }
    values.update(kw)
    return ServerSettings(**values)


def test_imap_check_finds_folders_and_pins(dovecot):
    found = check_imap(settings(dovecot))
    assert (found.inbox, found.sent) == ("INBOX", "Sent")
    assert found.fingerprint == tls.normalize_fingerprint(dovecot.cert_fingerprint)
    pinned = settings(dovecot, pinned_fingerprint=found.fingerprint)
    assert check_imap(pinned).fingerprint == found.fingerprint
    with pytest.raises(errors.CertificateChanged):
        check_imap(settings(dovecot, pinned_fingerprint="AA:" * 31 + "AA"))


def test_imap_starttls_and_untrusted(dovecot):
    starttls = settings(dovecot, port=dovecot.port, encryption="starttls")
    assert check_imap(starttls).sent == "Sent"
    with pytest.raises(errors.MailSyncError) as raised:
        check_imap(settings(dovecot, allow_self_signed=False))
    assert raised.value.code == "cert_untrusted"


def test_utf8_passwords(dovecot, smtp_server):
    dovecot.add_user("utf8", UTF8_PASSWORD)
    smtp_server.add_user("utf8", UTF8_PASSWORD)
    assert check_imap(settings(dovecot, login="utf8", password=UTF8_PASSWORD))
    assert check_smtp(settings(smtp_server, login="utf8", password=UTF8_PASSWORD))
    with pytest.raises(errors.MailSyncError) as raised:
        check_smtp(settings(smtp_server, login="utf8", password="pässwörd-wrong"))
    assert raised.value.code == "smtp_auth_failed"
    assert "pässwörd" not in str(raised.value)


def test_smtp_modes(smtp_server):
    implicit = check_smtp(settings(smtp_server))
    assert implicit.fingerprint == tls.normalize_fingerprint(
        smtp_server.cert_fingerprint
    )
    starttls = settings(smtp_server, port=smtp_server.port, encryption="starttls")
    assert check_smtp(starttls).fingerprint == implicit.fingerprint
    plain = settings(smtp_server, port=smtp_server.plain_port, encryption="none")
    assert check_smtp(plain).fingerprint is None
    with pytest.raises(errors.MailSyncError) as raised:
        check_smtp(settings(smtp_server, password="wrong"))
    assert raised.value.code == "smtp_auth_failed"
