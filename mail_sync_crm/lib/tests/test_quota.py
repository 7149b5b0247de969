"""Tests of lib.quota: provider profiles, the sending governor and refusals.

Real datetimes throughout: ``now`` is passed in, nothing is mocked.
"""

from datetime import datetime, timedelta, timezone

import pytest
from lib.errors import CATALOGUE
from lib.sending.quota import (
    DAY,
    LIMIT_FIELDS,
    MB,
    PROFILES,
    Usage,
    classify_smtp_refusal,
    default_profile_for,
    plan,
    profile_with_overrides,
    quota_retry_at,
    usage_summary,
)

UTC = timezone.utc

NOW = datetime(2024, 5, 14, 14, 0)  # naive UTC, as Odoo stores datetimes
YESTERDAY_1405 = datetime(2024, 5, 13, 14, 5)
GMAIL = PROFILES["gmail"]
M365 = PROFILES["microsoft365"]


def leads(count: int) -> list[str]:
    return [f"lead{i}@example.com" for i in range(count)]


def every_minute(start: datetime, count: int, recipients: int = 1) -> list:
    """``count`` emails, one a minute from ``start``."""
    return [(start + timedelta(minutes=i), recipients) for i in range(count)]


def send_one(profile, usage, now, **kwargs):
    return plan(
        profile,
        size_bytes=20_000,
        recipients=["ceo@acme.com"],
        usage=usage,
        now=now,
        **kwargs,
    )


# ---------------------------------------------------------------------------
# Profiles


def test_profiles_cover_every_provider_and_cite_each_figure():
    assert set(PROFILES) == {
        "gmail",
        "google_workspace",
        "microsoft365",
        "outlook",
        "yahoo",
        "aol",
        "hotmail",
        "custom",
    }
    for key, profile in PROFILES.items():
        assert profile.key == key and profile.label
        for name in LIMIT_FIELDS:
            if getattr(profile, name) is not None:
                assert profile.sources.get(name), (key, name)


def test_gmail_uses_googles_own_figures_and_says_what_sharpspring_says():
    assert (GMAIL.emails_per_day, GMAIL.max_size_bytes) == (500, 25 * MB)
    assert GMAIL.recipients_per_email == 100
    assert "SharpSpring's table says 100" in GMAIL.sources["emails_per_day"]
    assert "SharpSpring's table says 10 MB" in GMAIL.sources["max_size_bytes"]
    assert GMAIL.sources["recipients_per_email"].startswith("secondary")
    assert PROFILES["aol"].max_size_bytes == 25 * MB  # AOL's figure, not 16 MB


def test_custom_profile_has_no_limits():
    custom = PROFILES["custom"]
    assert all(getattr(custom, name) is None for name in LIMIT_FIELDS)


@pytest.mark.parametrize(
    ("provider", "email", "expected"),
    [
        ("gmail", "Jane@Gmail.com", "gmail"),
        ("gmail", "jane@googlemail.com", "gmail"),
        ("custom", "jane@gmail.com", "gmail"),
        ("gmail", "jane@acme.com", "google_workspace"),
        ("microsoft", "jane@outlook.com", "outlook"),
        ("microsoft", "jane@live.co.uk", "outlook"),
        ("microsoft", "jane@hotmail.com", "hotmail"),
        ("microsoft", "jane@hotmail.fr", "hotmail"),
        ("microsoft", "jane@acme.com", "microsoft365"),
        ("microsoft", "jane@outlook.acme.com", "microsoft365"),
        ("custom", "jane@yahoo.co.jp", "yahoo"),
        ("custom", "jane@yahoo.com", "yahoo"),
        ("custom", "jane@aol.com", "aol"),
        ("custom", "jane@acme.com", "custom"),
        ("custom", "", "custom"),
    ],
)
def test_default_profile_for(provider, email, expected):
    assert default_profile_for(provider, email) == expected


# ---------------------------------------------------------------------------
# Batches and connections


def test_gmail_splits_250_recipients_into_three_emails():
    recipients = leads(250)
    decision = plan(
        GMAIL, size_bytes=80_000, recipients=recipients, usage=Usage(), now=NOW
    )
    assert decision.action == "send"
    assert decision.code is None and decision.defer_until is None
    assert [len(batch) for batch in decision.batches] == [100, 100, 50]
    assert [r for batch in decision.batches for r in batch] == recipients
    assert decision.connection_groups == [decision.batches]  # 250 <= 500 per conn.
    assert "250 recipients in 3 email(s)" in decision.reason


def test_microsoft365_never_puts_more_than_500_recipients_in_one_connection():
    profile = profile_with_overrides(M365, {"recipients_per_email": 200})
    decision = plan(
        profile, size_bytes=80_000, recipients=leads(1200), usage=Usage(), now=NOW
    )
    assert decision.action == "send"
    assert [len(batch) for batch in decision.batches] == [200] * 6
    assert [[len(b) for b in group] for group in decision.connection_groups] == [
        [200, 200],
        [200, 200],
        [200, 200],
    ]
    # the default 500 per email: one full email per connection
    decision = plan(
        M365, size_bytes=80_000, recipients=leads(1200), usage=Usage(), now=NOW
    )
    assert [[len(b) for b in group] for group in decision.connection_groups] == [
        [500],
        [500],
        [200],
    ]


def test_hotmail_per_connection_limit_also_caps_each_email():
    decision = plan(
        PROFILES["hotmail"],
        size_bytes=1000,
        recipients=leads(250),
        usage=Usage(),
        now=NOW,
    )
    assert [[len(b) for b in group] for group in decision.connection_groups] == [
        [100],
        [100],
        [50],
    ]


def test_an_address_given_twice_gets_one_copy():
    decision = plan(
        GMAIL,
        size_bytes=1000,
        recipients=["ann@x.com", "Ann@X.com", "Bob <bob@x.com>", "bob@x.com"],
        usage=Usage(),
        now=NOW,
    )
    assert decision.batches == [["ann@x.com", "Bob <bob@x.com>"]]


def test_a_mail_without_recipients_is_a_caller_error():
    with pytest.raises(ValueError, match="recipient"):
        plan(GMAIL, size_bytes=1000, recipients=[], usage=Usage(), now=NOW)


# ---------------------------------------------------------------------------
# Failures: mails that can never be sent as they are


def test_message_over_the_size_limit_fails_at_once_and_says_what_to_do():
    decision = plan(
        GMAIL, size_bytes=30 * MB, recipients=leads(1), usage=Usage(), now=NOW
    )
    assert decision.action == "fail"
    assert decision.code == "message_too_large" and decision.code in CATALOGUE
    assert decision.batches == [] and decision.defer_until is None
    assert decision.reason == (
        "This message is 30 MB but Gmail accepts at most 25 MB per email, so it"
        " can never be sent as it is. Share large files as links, or send fewer"
        " or smaller attachments."
    )
    assert decision.params["max_size"] == 25 * MB
    # exactly at the limit still goes
    at_limit = plan(
        GMAIL, size_bytes=25 * MB, recipients=leads(1), usage=Usage(), now=NOW
    )
    assert at_limit.action == "send"


def test_more_recipients_than_a_day_allows_fails_with_a_clear_reason():
    decision = plan(
        M365, size_bytes=1000, recipients=leads(10_001), usage=Usage(), now=NOW
    )
    assert decision.action == "fail"
    assert decision.code == "message_too_large"
    assert decision.reason.startswith(
        "This mail has 10,001 recipients but Microsoft 365 allows at most 10,000"
        " recipients per 24 h, so it can never be sent as it is."
    )


def test_more_emails_than_a_day_allows_fails():
    decision = plan(
        GMAIL, size_bytes=1000, recipients=leads(50_001), usage=Usage(), now=NOW
    )
    assert decision.action == "fail"
    assert "needs 501 emails (50,001 recipients, at most 100 per email)" in (
        decision.reason
    )


# ---------------------------------------------------------------------------
# Deferrals: rolling windows


def test_daily_limit_defers_to_the_exact_instant_the_oldest_email_leaves():
    usage = Usage(every_minute(YESTERDAY_1405, 500))
    decision = send_one(GMAIL, usage, NOW)
    assert decision.action == "defer"
    assert decision.code == "quota_exceeded" and decision.code in CATALOGUE
    assert decision.defer_until == datetime(2024, 5, 14, 14, 5)
    assert decision.reason == (
        "Gmail allows 500 emails per 24 h; 500 sent since 14:05 UTC yesterday,"
        " and this mail needs 1; sending resumes at 14:05 UTC."
    )
    assert decision.batches == [["ceo@acme.com"]]  # what goes once resumed
    just_before = decision.defer_until - timedelta(microseconds=1)
    assert send_one(GMAIL, usage, just_before).action == "defer"
    assert send_one(GMAIL, usage, decision.defer_until).action == "send"


def test_the_last_email_of_the_day_still_goes():
    usage = Usage(every_minute(YESTERDAY_1405, 499))
    assert send_one(GMAIL, usage, NOW).action == "send"


def test_a_mail_of_three_emails_waits_for_three_of_the_oldest_to_leave():
    usage = Usage(every_minute(YESTERDAY_1405, 500))
    decision = plan(GMAIL, size_bytes=1000, recipients=leads(250), usage=usage, now=NOW)
    assert decision.action == "defer"
    assert decision.defer_until == datetime(2024, 5, 14, 14, 7)
    assert decision.params["needed"] == 3
    assert "this mail needs 3; sending resumes at 14:07 UTC" in decision.reason


def test_daily_recipients_defer_until_enough_recipients_leave():
    start = datetime(2024, 5, 13, 15, 0)
    events = [(start, 50), (start + timedelta(minutes=1), 50)]
    events += every_minute(start + timedelta(minutes=2), 98, recipients=100)
    usage = Usage(events)  # 9,900 recipients
    decision = plan(M365, size_bytes=1000, recipients=leads(200), usage=usage, now=NOW)
    assert decision.action == "defer"
    assert decision.defer_until == datetime(2024, 5, 14, 15, 1)  # both 50s left
    assert decision.reason == (
        "Microsoft 365 allows 10,000 recipients per 24 h; 9,900 used since"
        " 15:00 UTC yesterday, and this mail has 200; sending resumes at"
        " 15:01 UTC."
    )
    assert plan(
        M365, size_bytes=1000, recipients=leads(100), usage=usage, now=NOW
    ).action == ("send")


def test_microsoft365_30_emails_per_minute():
    now = datetime(2024, 5, 14, 10, 0, 0)
    first = datetime(2024, 5, 14, 9, 59, 10)
    thirty = Usage([(first + timedelta(seconds=i), 1) for i in range(30)])
    decision = send_one(M365, thirty, now)
    assert decision.action == "defer"
    assert decision.defer_until == datetime(2024, 5, 14, 10, 0, 10)
    assert decision.reason == (
        "Microsoft 365 allows 30 emails per minute; 30 sent in the last minute,"
        " and this mail needs 1; sending resumes at 10:00:10 UTC."
    )
    twenty_nine = Usage([(first + timedelta(seconds=i), 1) for i in range(29)])
    assert send_one(M365, twenty_nine, now).action == "send"


def test_emails_sent_25_hours_ago_no_longer_count():
    day_before = NOW - timedelta(hours=26)
    usage = Usage([(day_before + timedelta(seconds=5 * i), 1) for i in range(500)])
    assert usage.emails_in(DAY, NOW) == 0
    assert send_one(GMAIL, usage, NOW).action == "send"
    summary = usage_summary(GMAIL, usage, NOW)
    assert summary["emails_today"] == 0 and summary["resets_at"] is None


def test_custom_profile_never_defers():
    flood = Usage([(NOW - timedelta(seconds=i % 50), 100) for i in range(10_000)])
    decision = plan(
        PROFILES["custom"],
        size_bytes=1024 * MB,
        recipients=leads(5000),
        usage=flood,
        now=NOW,
    )
    assert decision.action == "send"
    assert [len(batch) for batch in decision.batches] == [5000]
    assert len(decision.connection_groups) == 1


def test_aware_datetimes_give_the_same_instant_and_stay_aware():
    paris_summer = timezone(timedelta(hours=2))
    now = NOW.replace(tzinfo=UTC).astimezone(paris_summer)  # 16:00 +02:00
    events = [
        (sent.replace(tzinfo=UTC).astimezone(paris_summer), count)
        for sent, count in every_minute(YESTERDAY_1405, 500)
    ]
    decision = send_one(GMAIL, Usage(events), now, tz=paris_summer)
    assert decision.defer_until == datetime(2024, 5, 14, 14, 5, tzinfo=UTC)
    assert decision.defer_until.tzinfo is not None
    assert decision.reason.endswith(
        "500 sent since 16:05 yesterday, and this mail needs 1; sending resumes"
        " at 16:05."
    )


# ---------------------------------------------------------------------------
# Company overrides


def test_override_lowers_the_daily_limit_and_names_its_source():
    profile = profile_with_overrides(GMAIL, {"emails_per_day": 100})
    assert profile.emails_per_day == 100
    assert profile.sources["emails_per_day"] == (
        "company override (provider figure: 500)"
    )
    assert GMAIL.emails_per_day == 500  # the built-in profile is untouched
    usage = Usage(every_minute(YESTERDAY_1405, 100))
    decision = send_one(profile, usage, NOW)
    assert decision.action == "defer"
    assert decision.reason.startswith("Gmail allows 100 emails per 24 h;")


def test_override_none_removes_a_limit_and_zero_keeps_the_provider_figure():
    unlimited = profile_with_overrides(GMAIL, {"emails_per_day": None})
    usage = Usage(every_minute(YESTERDAY_1405, 2000))
    assert send_one(unlimited, usage, NOW).action == "send"
    kept = profile_with_overrides(GMAIL, {"emails_per_day": 0})
    assert kept.emails_per_day == 500 and kept == GMAIL


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"emails_per_hour": 10}, ValueError),
        ({"emails_per_day": -1}, ValueError),
        ({"emails_per_day": "100"}, TypeError),
        ({"max_size_bytes": True}, TypeError),
    ],
)
def test_bad_overrides_are_refused(overrides, error):
    with pytest.raises(error):
        profile_with_overrides(GMAIL, overrides)


# ---------------------------------------------------------------------------
# Usage summary


def test_usage_summary_gives_the_daily_line():
    usage = Usage(
        [(NOW - timedelta(hours=30), 7)]  # left the window long ago
        + every_minute(YESTERDAY_1405, 212, recipients=2)
    )
    summary = usage_summary(GMAIL, usage, NOW)
    assert summary["emails_today"] == 212
    assert summary["emails_limit"] == 500
    assert summary["emails_left"] == 288
    assert summary["recipients_today"] == 424
    assert summary["recipients_limit"] is None
    assert summary["resets_at"] == datetime(2024, 5, 14, 14, 5)
    assert summary["line"] == "212 / 500 emails today, resets at 14:05 UTC"


def test_usage_summary_counts_recipients_where_the_limit_is_on_recipients():
    usage = Usage(every_minute(YESTERDAY_1405, 3, recipients=400))
    summary = usage_summary(M365, usage, NOW)
    assert summary["recipients_left"] == 8800
    assert summary["line"] == "1,200 / 10,000 recipients today, resets at 14:05 UTC"


# ---------------------------------------------------------------------------
# Refusals from the provider


MICROSOFT_DAILY = (
    "5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException;"
    " Failed to process message due to a permanent exception"
)
YAHOO_DEFERRAL = (
    b"4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to"
    b" unexpected volume or user complaints"
)


@pytest.mark.parametrize(
    ("code", "text", "expected"),
    [
        (550, "5.4.5 Daily user sending limit exceeded.", "defer"),  # Gmail
        (432, "4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded", "defer"),
        (554, MICROSOFT_DAILY, "defer"),
        (421, YAHOO_DEFERRAL, "defer"),
        (451, "4.7.1 Greylisted, please try again later", "defer"),
        (-1, "Connection unexpectedly closed", "defer"),
        (550, "5.1.1 The email account that you tried to reach does not exist", "fail"),
        (552, "5.3.4 Message size exceeds fixed limit", "fail"),
        (554, "5.7.1 Message rejected as spam", "fail"),
    ],
)
def test_classify_smtp_refusal(code, text, expected):
    assert classify_smtp_refusal(code, text) == expected


def test_quota_retry_at():
    gmail_daily = (550, "5.4.5 Daily user sending limit exceeded.")
    # unknown usage: documented backoff
    assert quota_retry_at(*gmail_daily, NOW) == NOW + timedelta(hours=1)
    assert quota_retry_at(432, "4.3.2 thread limit", NOW) == NOW + timedelta(minutes=15)
    # known usage: when the oldest email of the window leaves it
    usage = Usage(every_minute(YESTERDAY_1405, 500))
    assert quota_retry_at(*gmail_daily, NOW, usage) == datetime(2024, 5, 14, 14, 5)
    # never hammer the server
    almost_gone = Usage([(NOW - DAY + timedelta(seconds=10), 1)])
    assert quota_retry_at(*gmail_daily, NOW, almost_gone) == NOW + timedelta(minutes=1)
    # a permanent refusal is not retried
    assert quota_retry_at(550, "5.1.1 No such user", NOW) is None
    aware = quota_retry_at(*gmail_daily, NOW.replace(tzinfo=UTC))
    assert aware == datetime(2024, 5, 14, 15, 0, tzinfo=UTC)


def test_usage_summary_counts_one_email_in_the_singular():
    usage = Usage(every_minute(YESTERDAY_1405, 1))
    assert usage_summary(PROFILES["custom"], usage, NOW)["line"].startswith(
        "1 email today"
    )
    usage = Usage(every_minute(YESTERDAY_1405, 2))
    assert usage_summary(PROFILES["custom"], usage, NOW)["line"].startswith(
        "2 emails today"
    )
