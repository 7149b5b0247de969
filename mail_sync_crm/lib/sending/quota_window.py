"""The rolling windows of what a mailbox sent: :class:`Usage` and the UI's
"212 / 500 emails today, resets at 14:05" line (:func:`usage_summary`).

Pure arithmetic: no I/O, no clock; every function takes ``now``. "Per 24 h" and
"per minute" are rolling windows: at instant ``t`` the window holds the events
with ``t - window < sent_at``. Datetimes may be naive (taken as UTC, as Odoo
stores them) or aware (any zone, converted to UTC).
"""

from bisect import bisect_right
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone, tzinfo

from .quota_profiles import MB, QuotaProfile

__all__ = ["DAY", "MINUTE", "Usage", "usage_summary"]

UTC = timezone.utc
DAY = timedelta(hours=24)
MINUTE = timedelta(seconds=60)


# ---------------------------------------------------------------------------
# Time helpers


def utc(moment: datetime) -> datetime:
    """Naive UTC: naive datetimes are taken as UTC, aware ones converted."""
    if moment.tzinfo is not None and moment.utcoffset() is not None:
        return moment.astimezone(UTC).replace(tzinfo=None)
    return moment.replace(tzinfo=None)


def out(moment: datetime | None, now: datetime) -> datetime | None:
    """A naive-UTC result in the style of ``now``: aware UTC if ``now`` is aware."""
    if moment is None or now.tzinfo is None or now.utcoffset() is None:
        return moment
    return moment.replace(tzinfo=UTC)


def clock(moment: datetime, now: datetime, tz: tzinfo | None) -> str:
    """``14:05`` (``14:05:30`` off the minute) + zone + day, for the reasons.

    ``moment`` and ``now`` are naive UTC; ``tz`` is the reader's zone (UTC,
    written out, when None).
    """
    zone = tz or UTC
    local = moment.replace(tzinfo=UTC).astimezone(zone)
    today = now.replace(tzinfo=UTC).astimezone(zone).date()
    text = local.strftime("%H:%M:%S" if local.second else "%H:%M")
    if tz is None:
        text += " UTC"
    days = (local.date() - today).days
    if days == -1:
        return text + " yesterday"
    if days == 1:
        return text + " tomorrow"
    if days:
        return f"{text} on {local.date().isoformat()}"
    return text


def message_size(num_bytes: int) -> str:
    if num_bytes >= MB:
        return f"{num_bytes / MB:.1f}".removesuffix(".0") + " MB"
    if num_bytes >= 1024:
        return f"{num_bytes / 1024:.1f}".removesuffix(".0") + " KB"
    return f"{num_bytes} bytes"


# ---------------------------------------------------------------------------
# Usage


class Usage:
    """What a mailbox sent recently: one ``(sent_at, recipients)`` event per
    email (one SMTP transaction). See the module docstring for time zones."""

    def __init__(self, events: Iterable[tuple[datetime, int]] = ()) -> None:
        cleaned = []
        for sent_at, recipients in events:
            if isinstance(recipients, bool) or not isinstance(recipients, int):
                raise TypeError(f"recipients must be an int, not {recipients!r}")
            if recipients < 0:
                raise ValueError(f"recipients must be >= 0, not {recipients}")
            cleaned.append((utc(sent_at), recipients))
        cleaned.sort(key=lambda event: event[0])
        self._times = [sent_at for sent_at, _count in cleaned]
        self._recipients = [count for _sent_at, count in cleaned]

    def __len__(self) -> int:
        return len(self._times)

    def __repr__(self) -> str:
        return f"Usage({len(self)} events)"

    @property
    def events(self) -> list[tuple[datetime, int]]:
        """The events, oldest first, in naive UTC."""
        return list(zip(self._times, self._recipients, strict=True))

    def _start(self, window: timedelta, now: datetime) -> int:
        """Index of the first event in the window ending at ``now`` (naive UTC)."""
        return bisect_right(self._times, now - window)

    def emails_in(self, window: timedelta, now: datetime) -> int:
        """Emails sent in the rolling ``window`` ending at ``now``."""
        return len(self._times) - self._start(window, utc(now))

    def recipients_in(self, window: timedelta, now: datetime) -> int:
        """Recipients (counted per email) in the rolling ``window`` ending at
        ``now``."""
        return sum(self._recipients[self._start(window, utc(now)) :])

    def oldest_in(self, window: timedelta, now: datetime) -> datetime | None:
        """The oldest event in the window (in the style of ``now``), or None."""
        start = self._start(window, utc(now))
        if start >= len(self._times):
            return None
        return out(self._times[start], now)

    def _fits_at(
        self, window: timedelta, now: datetime, limit: int, needed: int, per_email: bool
    ) -> datetime:
        """Earliest ``t >= now`` (naive UTC) at which the window ending at ``t``
        plus ``needed`` stays within ``limit`` (``needed <= limit``)."""
        start = self._start(window, now)
        weights = (
            [1] * (len(self._times) - start) if per_email else self._recipients[start:]
        )
        excess = sum(weights) + needed - limit
        if excess <= 0:
            return now
        leaving = 0
        for offset, weight in enumerate(weights):
            leaving += weight
            if leaving >= excess:
                return self._times[start + offset] + window
        return now  # not reached: needed <= limit


# ---------------------------------------------------------------------------
# Summary for the UI


def usage_summary(
    profile: QuotaProfile, usage: Usage, now: datetime, *, tz: tzinfo | None = None
) -> dict:
    """Counts of the rolling 24 h for the UI.

    ``emails_today``/``recipients_today`` are the counts in the window ending
    at ``now``; ``*_limit`` the profile's figures (None: no limit);
    ``*_left`` what may still be sent (None: no limit); ``resets_at`` when the
    oldest event in the window leaves it (None when nothing was sent);
    ``line`` the English text, e.g. "212 / 500 emails today, resets at 14:05".
    """
    now_utc = utc(now)
    emails = usage.emails_in(DAY, now_utc)
    recipients = usage.recipients_in(DAY, now_utc)
    oldest = usage.oldest_in(DAY, now_utc)
    resets_at = oldest + DAY if oldest else None

    def left(limit: int | None, used: int) -> int | None:
        return None if limit is None else max(limit - used, 0)

    parts = []
    if profile.emails_per_day or not profile.recipients_per_day:
        limit = profile.emails_per_day
        noun = "email" if emails == 1 and not limit else "emails"
        parts.append(
            f"{emails:,} / {limit:,} emails" if limit else f"{emails:,} {noun}"
        )
    if profile.recipients_per_day:
        parts.append(f"{recipients:,} / {profile.recipients_per_day:,} recipients")
    line = ", ".join(parts) + " today"
    if resets_at:
        line += f", resets at {clock(resets_at, now_utc, tz)}"
    return {
        "profile": profile.key,
        "emails_today": emails,
        "emails_limit": profile.emails_per_day,
        "emails_left": left(profile.emails_per_day, emails),
        "recipients_today": recipients,
        "recipients_limit": profile.recipients_per_day,
        "recipients_left": left(profile.recipients_per_day, recipients),
        "resets_at": out(resets_at, now),
        "line": line,
    }
