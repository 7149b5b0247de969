"""Stock imapclient, the fast reader's fallback: it reads the same headers, bodies,
sizes and folder statuses from a real Dovecot, and sessions use it when the fast
reader is not enabled or cannot be set up (never a server error)."""

import logging
import sys

import pytest
from lib.imap import fetch_reader
from lib.imap import session as imap_session
from lib.imap.session import FAST_READER_SWITCH, HEADER_ITEM, ImapSession
from lib.net.settings import ImapSettings

from mail_sync_testing import LOOPBACK_POLICY, make_corpus, make_message

# On the verified versions test_imap_fast asserts that the fast reader is enabled.
needs_fast_reader = pytest.mark.skipif(
    not fetch_reader.ENABLED,
    reason=f"only stock imapclient here: {fetch_reader.DISABLED_BECAUSE}",
)


@pytest.fixture(autouse=True)
def _no_switch(monkeypatch):
    """Each test chooses the reader itself, whatever the environment says."""
    monkeypatch.delenv(FAST_READER_SWITCH, raising=False)


@pytest.fixture
def fresh_client_class():
    """The fast client class is set up anew before and after the test."""
    imap_session._fast_client_class.cache_clear()
    yield
    imap_session._fast_client_class.cache_clear()


def _settings(dovecot, encryption="none"):
    return ImapSettings(
        dovecot.host,
        dovecot.ssl_port if encryption == "ssl" else dovecot.port,
        encryption,
        login="alice",
        password="secret",
        allow_self_signed=True,
        timeout=10,
        host_policy=LOOPBACK_POLICY,
    )


def _read_everything(settings):
    """What a sync can read through ImapSession, in comparable form."""
    with ImapSession(settings) as session:
        seen = {"client": type(session.client).__name__}
        seen["examined"] = session.examine_folders(["Nope", "Envoyés", "Sent", "INBOX"])
        seen["selected"] = session.folder
        uids = session.uids_after(0)
        seen["uids"] = uids
        seen["headers"] = session.fetch_headers(uids)
        seen["sizes"] = session.fetch_sizes(uids)
        seen["bodies"] = session.fetch_bodies(uids, max_size=100_000)
        seen["raw"] = session._fetch(
            uids, [HEADER_ITEM, "RFC822.SIZE", "INTERNALDATE", "FLAGS"]
        )
        seen["sent"] = session.select_folder("Sent")
        seen["sent_bodies"] = session.fetch_bodies(session.uids_after(0), None)
        seen["refused_last"] = session.examine_folders(["INBOX", "Nope"])
        seen["selected_after"] = session.folder
    return seen


@needs_fast_reader
@pytest.mark.parametrize("encryption", ["none", "ssl"])
def test_stock_imapclient_reads_the_same_as_the_fast_reader(
    dovecot, monkeypatch, encryption
):
    corpus = make_corpus(60, seed=11, attachment_ratio=0.2, sent_ratio=0.3)
    for folder in ("INBOX", "Sent"):
        dovecot.fill_maildir(
            "alice", folder, ((c.raw, c.date) for c in corpus if c.folder == folder)
        )
    dovecot.append("alice", "Envoyés", make_message("alice@example.com", "b@x.com"))
    settings = _settings(dovecot, encryption)
    fast = _read_everything(settings)
    monkeypatch.setenv(FAST_READER_SWITCH, "0")
    stock = _read_everything(settings)

    assert (fast.pop("client"), stock.pop("client")) == ("FastClient", "StockClient")
    assert fast == stock
    inbox = [c for c in corpus if c.folder == "INBOX"]
    examined = stock["examined"]
    assert examined["Nope"] is None and examined["Envoyés"].exists == 1
    assert examined["INBOX"].exists == len(inbox) == len(stock["uids"])
    assert stock["selected"] == examined["INBOX"]
    assert stock["refused_last"]["Nope"] is None and stock["selected_after"] is None
    assert {h.message_id for h in stock["headers"]} == {c.message_id for c in inbox}
    assert stock["sizes"] == {h.uid: h.size for h in stock["headers"]}
    big = {uid for uid, size in stock["sizes"].items() if size > 100_000}
    assert big and len(big) < len(inbox)  # some bodies left out, not all
    assert {uid for uid, body in stock["bodies"].items() if body is None} == big
    assert all(
        len(stock["bodies"][uid]) == stock["sizes"][uid]
        for uid in set(stock["uids"]) - big
    )
    assert len(stock["sent_bodies"]) == len(corpus) - len(inbox)
    assert all(data[b"INTERNALDATE"].tzinfo for data in stock["raw"].values())


@needs_fast_reader
@pytest.mark.parametrize("breakage", ["ImportError", "AttributeError"])
def test_a_fast_reader_that_cannot_be_set_up_gives_way_to_stock_imapclient(
    dovecot, monkeypatch, caplog, fresh_client_class, breakage
):
    """The installed imapclient passed the import-time check, then changed (or a
    name went missing some other way): sessions go on with stock imapclient
    instead of failing as an error of the mail server."""
    if breakage == "ImportError":  # ModuleNotFoundError, as for a module removed
        monkeypatch.setitem(sys.modules, "imapclient.tls", None)
        missing = "imapclient.tls"
    else:
        monkeypatch.delattr("imapclient.util.to_ints")
        missing = "to_ints"
    dovecot.append("alice", "INBOX", make_message("bob@example.org", "alice@x.com"))
    with (
        caplog.at_level(logging.WARNING, logger=imap_session.__name__),
        ImapSession(_settings(dovecot)) as session,
    ):
        assert type(session.client).__name__ == "StockClient"
        assert session.examine_folders(["INBOX"])["INBOX"].exists == 1
        (header,) = session.fetch_headers(session.uids_after(0))
        assert header.from_ == ["bob@example.org"]
    (record,) = [r for r in caplog.records if "could not be set up" in r.message]
    assert missing in record.message and record.levelno == logging.WARNING
    # Set up once per process: the next session neither retries nor logs again.
    caplog.clear()
    with ImapSession(_settings(dovecot)) as session:
        assert type(session.client).__name__ == "StockClient"
    assert not caplog.records


def test_a_reader_not_enabled_here_gives_way_to_stock_imapclient(
    dovecot, monkeypatch, caplog, fresh_client_class
):
    monkeypatch.setattr(fetch_reader, "ENABLED", False)
    monkeypatch.setattr(fetch_reader, "DISABLED_BECAUSE", "not verified on Python 3.99")
    dovecot.append("alice", "INBOX", make_message("bob@example.org", "alice@x.com"))
    with (
        caplog.at_level(logging.INFO, logger=imap_session.__name__),
        ImapSession(_settings(dovecot)) as session,
    ):
        assert type(session.client).__name__ == "StockClient"
        session.select_folder("INBOX")
        assert session.fetch_bodies([1], None)[1].startswith(b"From:")
    assert any("Python 3.99" in r.message for r in caplog.records)
