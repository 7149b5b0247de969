"""fetch_reader's FETCH reader: the same answers as imapclient's FETCH parser."""

import datetime

import pytest
from imapclient import IMAPClient
from imapclient.response_parser import parse_fetch_response
from lib.imap.fetch_reader import parse_fetch
from lib.imap.session import HEADER_ITEM, ImapSession
from lib.net.settings import ImapSettings

from mail_sync_testing import LOOPBACK_POLICY, make_corpus, make_message

HEADER_KEY = HEADER_ITEM.replace(".PEEK", "").encode()

SHAPES = {
    "header fields, size and date": [
        (
            b'8001 (UID 8001 RFC822.SIZE 2648 INTERNALDATE "18-Oct-2024 04:15:43 +0200"'
            b" " + HEADER_KEY + b" {23}",
            b"From: a@example.com\r\n\r\n",
        ),
        b")",
        (
            b'8002 (UID 8003 RFC822.SIZE 12 INTERNALDATE " 1-Jan-2024 00:00:00 -0530"'
            b" " + HEADER_KEY + b" {0}",
            b"",
        ),
        b")",
    ],
    "whole message": [(b"3 (UID 30 BODY[] {5}", b"Hello"), b")"],
    "no literal at all": [b"5 (UID 5 RFC822.SIZE 10 FLAGS (\\Seen \\Answered))"],
    "items after the literal": [
        (b"1 (BODY[] {3}", b"abc"),
        b" UID 11 RFC822.SIZE 3 FLAGS ())",
    ],
    "two literals": [
        (b"1 (UID 1 BODY[HEADER] {3}", b"abc"),
        (b" BODY[TEXT] {2}", b"xy"),
        b")",
    ],
    "NIL and empty quoted bodies": [
        b"1 (UID 1 BODY[HEADER.FIELDS (FROM)] NIL)",
        b'2 (UID 2 BODY[HEADER.FIELDS (FROM)] "")',
    ],
    "unsolicited flag change without UID": [
        b"7 (FLAGS (\\Seen))",
        (b"8 (UID 80 BODY[] {1}", b"x"),
        b")",
    ],
    "CONDSTORE": [b"1 (UID 1 MODSEQ (12345) RFC822.SIZE 0)"],
    "leading zero stays bytes": [b"1 (UID 1 X-NUMBER 007)"],
    "unreadable and odd dates": [
        b'1 (UID 1 INTERNALDATE "garbage")',
        b'2 (UID 2 INTERNALDATE "31-Feb-2024 10:00:00 +0000")',
        b'3 (UID 3 INTERNALDATE "01-jan-2024 10:00:00 +0000")',
        b"4 (UID 4 INTERNALDATE NIL)",
    ],
    # Shapes left to imapclient's parser:
    "ENVELOPE": [
        (
            b'1 (UID 1 ENVELOPE ("Mon, 1 Jan 2024 10:00:00 +0000" "Hi" NIL NIL NIL'
            b' NIL NIL NIL NIL "<a@b>"))'
        )
    ],
    "quoted strings in a list": [b'1 (UID 1 X-GM-LABELS ("\\\\Inbox" "a b"))'],
    "escaped quoted string": [b'1 (UID 1 X-NAME "a\\"b")'],
    "no answer": [None],
}


@pytest.mark.parametrize("name", sorted(SHAPES))
@pytest.mark.parametrize("normalise", [False, True])
@pytest.mark.parametrize("uid_is_key", [True, False])
def test_same_as_imapclient(name, normalise, uid_is_key):
    data = SHAPES[name]
    expected = parse_fetch_response(list(data), normalise, uid_is_key)
    assert parse_fetch(list(data), normalise, uid_is_key) == dict(expected)


def test_dates_are_aware_when_not_normalised():
    parsed = parse_fetch(SHAPES["header fields, size and date"], False)
    assert parsed[8001][b"INTERNALDATE"] == datetime.datetime(
        2024, 10, 18, 2, 15, 43, tzinfo=datetime.timezone.utc
    )
    assert parsed[8003][b"INTERNALDATE"].utcoffset() == datetime.timedelta(
        hours=-5, minutes=-30
    )


def test_a_broken_answer_raises_like_imapclient():
    from imapclient.exceptions import ProtocolError

    with pytest.raises(ProtocolError):
        parse_fetch([b"x (UID 1)"])


def test_real_server_answers_match_imapclient(dovecot):
    corpus = make_corpus(200, seed=9, attachment_ratio=0.2)
    dovecot.fill_maildir("alice", "INBOX", ((c.raw, c.date) for c in corpus))
    dovecot.append("alice", "INBOX", make_message("a@example.com", "b@example.com"))
    settings = ImapSettings(
        dovecot.host,
        dovecot.port,
        "none",
        login="alice",
        password="secret",
        host_policy=LOOPBACK_POLICY,
    )
    with ImapSession(settings) as session:
        client = session.client
        client.select_folder("INBOX", readonly=True)
        uids = client.search("ALL")
        for normalise in (False, True):
            client.normalise_times = normalise
            for items in (
                [HEADER_ITEM, "RFC822.SIZE", "INTERNALDATE"],
                ["BODY.PEEK[]", "FLAGS"],
                ["RFC822.SIZE"],
            ):
                expected = IMAPClient.fetch(client, uids, items)
                assert client.fetch(uids, items) == expected
                assert len(expected) == len(uids)


FAST = sorted(
    set(SHAPES)
    - {"ENVELOPE", "quoted strings in a list", "escaped quoted string", "no answer"}
)


@pytest.mark.parametrize("name", FAST)
def test_simple_answers_do_not_need_imapclients_parser(name, monkeypatch):
    import imapclient.response_parser

    def refuse(*args):
        raise AssertionError("imapclient's parser was used")

    monkeypatch.setattr(imapclient.response_parser, "parse_fetch_response", refuse)
    assert parse_fetch(list(SHAPES[name]), False)


def _session(dovecot):
    settings = ImapSettings(
        dovecot.host,
        dovecot.port,
        "none",
        login="alice",
        password="secret",
        host_policy=LOOPBACK_POLICY,
    )
    return ImapSession(settings)


def test_other_responses_during_a_fetch_are_left_to_imaplib(dovecot):
    for i in range(3):
        dovecot.append("alice", "INBOX", make_message("a@example.com", f"b{i}@x.com"))
    with _session(dovecot) as session:
        client = session.client
        client.select_folder("INBOX", readonly=True)
        uids = client.search("ALL")
        # New mail while selected: Dovecot reports it (EXISTS, RECENT) within
        # the answer to the next command.
        dovecot.append("alice", "INBOX", make_message("c@example.com", "d@x.com"))
        client._imap.untagged_responses.pop("EXISTS", None)
        got = client.fetch(uids, ["RFC822.SIZE", "BODY.PEEK[]"])
        assert client._imap.untagged_responses.get("EXISTS") == [b"4"]
        assert got == IMAPClient.fetch(client, uids, ["RFC822.SIZE", "BODY.PEEK[]"])
        assert sorted(got) == uids and all(got[uid][b"BODY[]"] for uid in uids)


def test_responses_split_across_reads(dovecot, monkeypatch):
    """A FETCH response whose start is not buffered yet goes through imaplib."""
    corpus = make_corpus(20, seed=3, attachment_ratio=0.5)
    dovecot.fill_maildir("alice", "INBOX", ((c.raw, c.date) for c in corpus))
    with _session(dovecot) as session:
        client = session.client
        client.select_folder("INBOX", readonly=True)
        uids = client.search("ALL")
        items = [HEADER_ITEM, "RFC822.SIZE", "INTERNALDATE", "BODY.PEEK[]"]
        expected = IMAPClient.fetch(client, uids, items)
        reader = client._imap.file
        peeks = iter(range(10**6))

        class ShortPeeks:
            def __getattr__(self, name):
                return getattr(reader, name)

            def peek(self, size=0):
                # every other response start looks cut short
                data = reader.peek(size)
                return data[:3] if next(peeks) % 2 else data

        monkeypatch.setattr(client._imap, "file", ShortPeeks())
        assert client.fetch(uids, items) == expected


def test_a_fetch_that_fails_raises_as_imapclient_does(dovecot):
    from imapclient.exceptions import IMAPClientError

    with _session(dovecot) as session:
        session.client.select_folder("INBOX", readonly=True)
        with pytest.raises(IMAPClientError):
            session.client.fetch([1], ["NOT-AN-ITEM"])
        with pytest.raises(IMAPClientError):
            IMAPClient.fetch(session.client, [1], ["NOT-AN-ITEM"])
