"""Threading a lead's emails: References / In-Reply-To first, the normalised
subject as a fallback, newest thread first, oldest email first within one."""

import datetime

from lib.message.conversation import (
    MAX_REFERENCES,
    Email,
    mark_text_quotes,
    normalise_subject,
    reply_references,
    reply_subject,
    split_references,
    thread_emails,
)
from lib.message.full_message import text_to_html


def day(n, hour=9):
    return datetime.datetime(2026, 3, n, hour, tzinfo=datetime.timezone.utc)


def keys(threads):
    return [[email.key for email in thread.emails] for thread in threads]


def test_subject_prefixes_and_tags_are_normalised():
    assert normalise_subject("Re: AW: Fwd:  Robots   phase 2") == "robots phase 2"
    assert normalise_subject("[sales] RE[2]: Robots") == "robots"
    assert normalise_subject("Réponse: Robots") == "réponse: robots"
    assert normalise_subject("") == ""
    assert reply_subject("Re: Re: Robots?") == "Re: Robots?"
    assert reply_subject("Robots?") == "Re: Robots?"


def test_references_thread_emails_whatever_their_subject():
    threads = thread_emails(
        [
            Email(1, "<a@x>", "Robots?", day(1)),
            Email(2, "<b@x>", "Re: Robots?", day(2), "<a@x>", ["<a@x>"]),
            Email(3, "<c@x>", "Changed subject", day(4), "<b@x>", ["<a@x>", "<b@x>"]),
            Email(4, "<d@x>", "Invoice", day(3)),
        ]
    )
    assert keys(threads) == [[1, 2, 3], [4]]
    assert threads[0].subject == "Robots?"
    assert threads[0].last.key == 3


def test_newest_thread_first_and_emails_in_date_order():
    threads = thread_emails(
        [
            Email(1, "<late@x>", "Re: Old", day(9), "<old@x>"),
            Email(2, "<old@x>", "Old", day(1)),
            Email(3, "<new@x>", "New", day(5)),
        ]
    )
    assert keys(threads) == [[2, 1], [3]]


def test_a_common_unknown_ancestor_joins_two_replies():
    threads = thread_emails(
        [
            Email(1, "<r1@x>", "Re: Quote", day(2), "<gone@x>", ["<gone@x>"]),
            Email(2, "<r2@x>", "Re: Quote", day(3), None, ["<gone@x>", "<zz@x>"]),
        ]
    )
    assert keys(threads) == [[1, 2]]


def test_without_headers_the_subject_joins_the_earlier_thread():
    threads = thread_emails(
        [
            Email(1, "<a@x>", "Robots?", day(1)),
            Email(2, "<b@x>", "RE: robots?", day(2)),  # client dropped the headers
            Email(3, "<c@x>", "Other", day(3)),
            Email(4, "<e@x>", "", day(4)),
            Email(5, "<f@x>", "", day(5)),
        ]
    )
    assert keys(threads) == [[5], [4], [3], [1, 2]]


def test_linked_threads_with_the_same_subject_stay_apart():
    threads = thread_emails(
        [
            Email(1, "<a@x>", "Hello", day(1)),
            Email(2, "<b@x>", "Re: Hello", day(2), "<a@x>"),
            Email(3, "<c@x>", "Hello", day(5)),
            Email(4, "<d@x>", "Re: Hello", day(6), "<c@x>"),
        ]
    )
    assert keys(threads) == [[3, 4], [1, 2]]


def test_naive_and_aware_dates_and_missing_dates_compare():
    threads = thread_emails(
        [
            Email(1, "<a@x>", "A", datetime.datetime(2026, 3, 2)),
            Email(2, "<b@x>", "B", day(1)),
            Email(3, "<c@x>", "C", None),
        ]
    )
    assert keys(threads) == [[1], [2], [3]]


def test_reply_references_follow_rfc_5322():
    assert reply_references("<c@x>", "<a@x> <b@x>") == ["<a@x>", "<b@x>", "<c@x>"]
    assert reply_references("<b@x>", [], "<a@x>") == ["<a@x>", "<b@x>"]
    assert reply_references("<a@x>") == ["<a@x>"]
    long = [f"<{n}@x>" for n in range(50)]
    chain = reply_references("<last@x>", long)
    assert len(chain) == MAX_REFERENCES
    assert chain[0] == "<0@x>"
    assert chain[-2:] == ["<49@x>", "<last@x>"]


def test_split_references_reads_folded_values():
    assert split_references("<a@x>\r\n <b@x> <a@x>") == ["<a@x>", "<b@x>"]
    assert split_references(["<a@x>", "<b@x>"]) == ["<a@x>", "<b@x>"]
    assert split_references(None) == []


def test_quoted_lines_of_a_text_body_are_marked():
    body = text_to_html(
        "Forty, please.\n\nOn Mon, Sally wrote:\n> We do.\n> Sally\n\nAlice\n> late"
    )
    marked = mark_text_quotes(body)
    assert marked == (
        "<p>Forty, please.<br>\n"
        '<span data-o-mail-quote="1"><br>\nOn Mon, Sally wrote:<br>\n'
        "&gt; We do.<br>\n&gt; Sally<br></span>\n<br>\nAlice<br>\n"
        '<span data-o-mail-quote="1">&gt; late</span></p>'
    )
    assert mark_text_quotes("<p>&gt; only</p>") == (
        '<p><span data-o-mail-quote="1">&gt; only</span></p>'
    )
    assert mark_text_quotes("<p>No quote</p>") == "<p>No quote</p>"


def test_a_quote_mark_never_lands_inside_a_tag():
    # A synced HTML body whose attribute value holds a line starting with "> ":
    # the mark goes around text only, the attribute stays as it came.
    body = (
        '<p><a title="x\n&gt; not a quote" href="https://a.example">link</a>'
        "<br>\n&gt; quoted</p>"
    )
    marked = mark_text_quotes(body)
    assert 'title="x\n&gt; not a quote"' in marked
    assert marked.count("data-o-mail-quote") == 1
    assert marked.endswith('<span data-o-mail-quote="1">&gt; quoted</span></p>')


def test_a_quote_that_would_cross_an_element_is_left_unmarked():
    # "&gt; quoted</b>" closes an element opened before the quote: a span
    # around the run would cross it, so the run stays as it is
    body = "<p><b>bold<br>\n&gt; quoted</b> tail<br>\n&gt; second</p>"
    assert mark_text_quotes(body) == body
    body = "<p><b>bold</b><br>\n&gt; quoted</p>"
    assert mark_text_quotes(body) == (
        '<p><b>bold</b><br>\n<span data-o-mail-quote="1">&gt; quoted</span></p>'
    )
