"""Tests of lib.privacy.visibility: the level that applies to a mailbox, what a private
thread shows, which emails an erasure of one address removes."""

import doctest

import lib.privacy.visibility
import pytest
from lib.privacy.visibility import (
    LEVELS,
    bcc_only,
    effective_level,
    in_private_thread,
    more_private,
    names_address,
    shown_level,
)


def test_doctests():
    failures, tried = doctest.testmod(lib.privacy.visibility)
    assert tried and not failures


@pytest.mark.parametrize("chosen", LEVELS)
@pytest.mark.parametrize("floor", (None, *LEVELS))
def test_the_owner_chooses_within_the_floor(chosen, floor):
    level = effective_level(chosen, floor=floor)
    # never more shared than the floor, never less private than chosen
    assert LEVELS.index(level) >= LEVELS.index(floor or "full")
    assert LEVELS.index(level) >= LEVELS.index(chosen)
    assert level in (chosen, floor)


@pytest.mark.parametrize("forced", LEVELS)
def test_a_forced_level_applies_to_everyone(forced):
    for chosen in LEVELS:
        for floor in (None, *LEVELS):
            assert effective_level(chosen, floor=floor, forced=forced) == forced


def test_no_choice_is_full_and_unknown_levels_are_refused():
    assert effective_level(None) == "full"
    assert more_private() == "full"
    with pytest.raises(ValueError):
        effective_level("secret")
    with pytest.raises(ValueError):
        shown_level("everything")


def test_a_private_thread_shows_participants_and_date_only():
    for level in LEVELS:
        assert shown_level(level, private=True) == "metadata"
        assert shown_level(level) == level


def test_an_answer_to_a_private_email_is_private():
    private = {"<a1@x>", "<a2@x>"}
    assert in_private_thread("<a2@x>", [], private)
    assert in_private_thread(None, ["<root@x>", "<a1@x>"], private)
    assert not in_private_thread("<b@x>", ["<root@x>"], private)
    assert not in_private_thread(None, None, private)


def test_names_address_from_to_and_cc_exactly():
    assert names_address("Ann@X.com", "ann@x.com", "", "")
    assert names_address("ann@x.com", "me@us.com", "bob@y.com, ann@x.com", None)
    assert names_address("ann@x.com", "me@us.com", None, "ann@x.com")
    assert not names_address("ann@x.com", "me@us.com", "joann@x.com", "ann@x.co")
    assert not names_address("", "", "", "")


def test_bcc_only_for_sent_mail_naming_none_of_the_leads_addresses():
    lead = ["ann@x.com", "buyer@x.com"]
    assert bcc_only(lead, "out", "bob@y.com", "")
    assert not bcc_only(lead, "out", "bob@y.com", "Buyer@x.com")
    assert not bcc_only(lead, "in", "me@us.com", "")
