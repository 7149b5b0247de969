"""Provider sending limits and the sending governor ("Smart Mail" quotas).

Pure decision logic: no I/O, no clock. Every function takes ``now``.

* :class:`QuotaProfile` holds one provider's limits and, per figure, its source;
  :data:`PROFILES` has the built-in ones, :func:`profile_with_overrides` applies
  a company's own figures and :func:`default_profile_for` picks a profile from
  the mailbox's provider and address.
* :class:`Usage` is what the mailbox sent recently: ``(sent_at, recipients)``
  events, one per email (SMTP transaction).
* :func:`plan` decides, for one mail, "send" (with its recipients split into
  batches and connections), "defer" (until the exact instant it fits) or
  "fail" (it can never be sent as it is).
* :func:`usage_summary` gives the "212 / 500 emails today, resets at 14:05" line.
* :func:`classify_smtp_refusal` and :func:`quota_retry_at` handle the refusals
  the provider sends anyway (they reuse :func:`errors.is_quota_reply`).

The built-in profiles and their sources are in :mod:`lib.sending.quota_profiles`.

Time: "per 24 h" and "per minute" are rolling windows. At instant ``t`` the
window holds the events with ``t - window < sent_at``: an email sent exactly
24 h ago no longer counts. An event later than ``now`` (clock skew) counts as
sent. Datetimes may be naive (taken as UTC, as Odoo stores them) or aware (any
zone, converted to UTC); the datetimes returned are UTC, aware when ``now`` is
aware and naive otherwise.
"""

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo

from ..errors import QuotaExceeded, is_quota_reply
from ..message.addresses import domain_of, normalize
from .quota_profiles import LIMIT_FIELDS, MB, PROFILES, QuotaProfile
from .quota_window import (
    DAY,
    MINUTE,
    Usage,
    clock,
    message_size,
    out,
    usage_summary,
    utc,
)

UTC = timezone.utc

__all__ = [
    "DAY",
    "LIMIT_FIELDS",
    "MB",
    "MINUTE",
    "PROFILES",
    "REASONS",
    "Decision",
    "QuotaProfile",
    "Usage",
    "classify_smtp_refusal",
    "default_profile_for",
    "plan",
    "profile_with_overrides",
    "quota_retry_at",
    "usage_summary",
]


CODE_DEFER = QuotaExceeded.default_code  # "quota_exceeded"
CODE_FAIL = "message_too_large"

# Backoff of quota_retry_at when the window estimate is not available.
RETRY_TEMPORARY = timedelta(minutes=15)  # any 4xx, quota or not
RETRY_QUOTA = timedelta(hours=1)  # a 5xx quota reply (daily limit reached)
RETRY_MIN = timedelta(minutes=1)  # never retry sooner than this


def profile_with_overrides(profile: QuotaProfile, overrides: dict) -> QuotaProfile:
    """``profile`` with a company's own figures.

    Keys are names from :data:`LIMIT_FIELDS`. Per value:

    * a positive ``int``: that limit;
    * ``None``, given explicitly: no limit at all;
    * ``0``: keep the profile's figure, as if the key were absent (an empty
      Odoo Integer field stores 0, so the Odoo layer may pass its fields as
      they are).

    Unknown keys and negative numbers raise ``ValueError``, non-integers
    ``TypeError``.
    Each overridden figure's source becomes "company override".
    """
    changes: dict = {}
    sources = dict(profile.sources)
    for name, value in (overrides or {}).items():
        if name not in LIMIT_FIELDS:
            raise ValueError(f"unknown quota field {name!r}")
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int)
        ):
            raise TypeError(f"{name} must be an int or None, not {value!r}")
        if value is not None and value < 0:
            raise ValueError(
                f"{name} must be a positive integer, None (no limit) or 0 "
                f"(keep the provider's figure), not {value!r}"
            )
        if value == 0:
            continue
        previous = getattr(profile, name)
        changes[name] = value
        sources[name] = f"company override (provider figure: {previous})"
    return dataclasses.replace(profile, sources=sources, **changes)


_SUFFIX_LABEL_RE = re.compile(r"[a-z]{2,3}")


def _is_brand(domain: str, brands: tuple[str, ...]) -> bool:
    """``brand.tld`` or ``brand.xx.tld`` (``yahoo.co.uk``), not ``brand.acme.com``."""
    first, _, suffix = domain.partition(".")
    labels = suffix.split(".")
    return (
        first in brands
        and 1 <= len(labels) <= 2
        and all(_SUFFIX_LABEL_RE.fullmatch(label) for label in labels)
    )


def default_profile_for(provider: str, email: str) -> str:
    """The key of the profile that fits a mailbox by default.

    The address's domain decides first: ``gmail.com``/``googlemail.com`` ->
    ``gmail``; ``hotmail.*`` -> ``hotmail``; ``outlook.*``, ``live.*``,
    ``msn.com`` -> ``outlook``; ``yahoo.*``, ``ymail.com``, ``rocketmail.com``
    -> ``yahoo``; ``aol.com``, ``aim.com`` -> ``aol``. Other domains follow the
    provider: ``gmail`` -> ``google_workspace``, ``microsoft`` ->
    ``microsoft365``; anything else -> ``custom``.
    """
    domain = domain_of(email)
    if domain in ("gmail.com", "googlemail.com"):
        return "gmail"
    if _is_brand(domain, ("hotmail",)):
        return "hotmail"
    if domain == "msn.com" or _is_brand(domain, ("outlook", "live")):
        return "outlook"
    if domain in ("ymail.com", "rocketmail.com") or _is_brand(domain, ("yahoo",)):
        return "yahoo"
    if domain in ("aol.com", "aim.com"):
        return "aol"
    return {"gmail": "google_workspace", "microsoft": "microsoft365"}.get(
        provider, "custom"
    )


# ---------------------------------------------------------------------------
# Decision

# English reason templates, keyed by the limit that decided ("rule" in params).
# Placeholders are keys of Decision.params; the caller formats datetimes, sizes
# and numbers first (plan() writes times as 14:05, sizes in MB, 10,000).
REASONS: dict[str, str] = {
    "send": (
        "Within the limits of %(provider)s: %(recipients)s recipients in"
        " %(emails)s email(s) over %(connections)s connection(s)."
    ),
    "max_size_bytes": (
        "This message is %(size)s but %(provider)s accepts at most %(max_size)s"
        " per email, so it can never be sent as it is. Share large files as"
        " links, or send fewer or smaller attachments."
    ),
    "recipients_per_day_never": (
        "This mail has %(needed)s recipients but %(provider)s allows at most"
        " %(limit)s recipients per 24 h, so it can never be sent as it is."
        " Split it into several mails sent on different days."
    ),
    "emails_per_day_never": (
        "This mail needs %(needed)s emails (%(recipients)s recipients, at most"
        " %(batch_size)s per email) but %(provider)s allows at most %(limit)s"
        " emails per 24 h, so it can never be sent as it is. Split it into"
        " several mails sent on different days."
    ),
    "messages_per_minute_never": (
        "This mail needs %(needed)s emails (%(recipients)s recipients, at most"
        " %(batch_size)s per email) but %(provider)s allows at most %(limit)s"
        " emails per minute, so it can never be sent as one mail. Split it into"
        " several mails."
    ),
    "emails_per_day": (
        "%(provider)s allows %(limit)s emails per 24 h; %(used)s sent since"
        " %(since)s, and this mail needs %(needed)s; sending resumes at"
        " %(resume_at)s."
    ),
    "recipients_per_day": (
        "%(provider)s allows %(limit)s recipients per 24 h; %(used)s used since"
        " %(since)s, and this mail has %(needed)s; sending resumes at"
        " %(resume_at)s."
    ),
    "messages_per_minute": (
        "%(provider)s allows %(limit)s emails per minute; %(used)s sent in the"
        " last minute, and this mail needs %(needed)s; sending resumes at"
        " %(resume_at)s."
    ),
}


@dataclass
class Decision:
    """What to do with one mail.

    * ``action``: "send", "defer" or "fail".
    * ``batches``: the recipients split into emails (at most
      ``recipients_per_email`` each, and never more than
      ``recipients_per_connection``); empty when the mail fails.
    * ``connection_groups``: the same batches grouped per SMTP connection, each
      group within ``recipients_per_connection``.
    * ``defer_until``: when a deferred mail fits (None otherwise).
    * ``code``: errors catalogue code: "quota_exceeded" (defer),
      "message_too_large" (fail), None (send).
    * ``reason``: English explanation; ``params`` holds its values, raw
      (ints, datetimes) plus ``rule`` naming the template of :data:`REASONS`.
    """

    action: str
    batches: list[list[str]] = field(default_factory=list)
    connection_groups: list[list[list[str]]] = field(default_factory=list)
    defer_until: datetime | None = None
    code: str | None = None
    reason: str = ""
    params: dict = field(default_factory=dict)


def _unique_recipients(recipients: Iterable[str]) -> list[str]:
    """Recipients in order, each address once (compared normalised)."""
    seen: set[str] = set()
    unique = []
    for recipient in recipients:
        key = normalize(recipient) or str(recipient).strip().lower()
        if key and key not in seen:
            seen.add(key)
            unique.append(recipient)
    return unique


def _batch_size(profile: QuotaProfile) -> int | None:
    limits = [
        limit
        for limit in (profile.recipients_per_email, profile.recipients_per_connection)
        if limit
    ]
    return min(limits) if limits else None


def _split(recipients: list[str], size: int | None) -> list[list[str]]:
    if not size:
        return [list(recipients)]
    return [recipients[i : i + size] for i in range(0, len(recipients), size)]


def _group(batches: list[list[str]], per_connection: int | None) -> list:
    """Batches in order, as few connections as possible within the limit."""
    groups: list[list[list[str]]] = []
    load = 0
    for batch in batches:
        if not groups or (per_connection and load + len(batch) > per_connection):
            groups.append([])
            load = 0
        groups[-1].append(batch)
        load += len(batch)
    return groups


def _render(rule: str, params: dict, now: datetime, tz: tzinfo | None) -> str:
    values = dict(params)
    for name in ("since", "resume_at"):
        if isinstance(values.get(name), datetime):
            values[name] = clock(utc(values[name]), now, tz)
    for name, value in list(values.items()):
        if name in ("size", "max_size") and isinstance(value, int):
            values[name] = message_size(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            values[name] = f"{value:,}"
    return REASONS[rule] % values


def _fail(rule: str, params: dict, now: datetime, tz: tzinfo | None) -> Decision:
    params = {"rule": rule, **params}
    return Decision(
        "fail", code=CODE_FAIL, reason=_render(rule, params, now, tz), params=params
    )


# (profile field, window, whether each email counts 1 or its recipients)
_WINDOW_RULES = (
    ("emails_per_day", DAY, True),
    ("recipients_per_day", DAY, False),
    ("messages_per_minute", MINUTE, True),
)


def _never_fits(
    profile: QuotaProfile, emails: int, recipients: int, batch_size: int | None
) -> tuple[str, dict] | None:
    """The rule this mail alone exceeds, whatever the usage, with its params."""
    for name, _window, per_email in _WINDOW_RULES:
        limit = getattr(profile, name)
        needed = emails if per_email else recipients
        if limit and needed > limit:
            return f"{name}_never", {
                "limit": limit,
                "needed": needed,
                "recipients": recipients,
                "batch_size": batch_size,
            }
    return None


def plan(
    profile: QuotaProfile,
    *,
    size_bytes: int,
    recipients: list[str],
    usage: Usage,
    now: datetime,
    tz: tzinfo | None = None,
) -> Decision:
    """Decide how (and whether, and when) one mail leaves through the mailbox.

    ``size_bytes`` is the size of the whole encoded message; ``recipients``
    are all its envelope recipients (To, Cc, Bcc; an address given twice
    counts once). Each batch is one email for ``emails_per_day`` and
    ``messages_per_minute``; each recipient counts for ``recipients_per_day``.

    * Larger than ``max_size_bytes``, or more emails/recipients than a window
      allows even when empty: "fail" (``message_too_large``): it can never go.
    * Sending every batch now would exceed a rolling window: "defer"
      (``quota_exceeded``) until the exact instant enough of the oldest events
      have left every window.
    * Otherwise "send".

    ``tz`` only sets the zone of the times written in ``reason`` (UTC when
    None); ``params`` keep datetimes for the caller to format.
    """
    if size_bytes < 0:
        raise ValueError(f"size_bytes must be >= 0, not {size_bytes}")
    unique = _unique_recipients(recipients)
    if not unique:
        raise ValueError("a mail needs at least one recipient")
    now_utc = utc(now)
    base = {"provider": profile.label, "profile": profile.key}

    if profile.max_size_bytes and size_bytes > profile.max_size_bytes:
        params = {**base, "size": size_bytes, "max_size": profile.max_size_bytes}
        return _fail("max_size_bytes", params, now_utc, tz)

    batch_size = _batch_size(profile)
    batches = _split(unique, batch_size)
    groups = _group(batches, profile.recipients_per_connection)
    never = _never_fits(profile, len(batches), len(unique), batch_size)
    if never:
        rule, params = never
        return _fail(rule, {**base, **params}, now_utc, tz)

    binding = None  # (resume instant, rule, window, limit, needed, used)
    for name, window, per_email in _WINDOW_RULES:
        limit = getattr(profile, name)
        if not limit:
            continue
        needed = len(batches) if per_email else len(unique)
        resume = usage._fits_at(window, now_utc, limit, needed, per_email)
        if resume > now_utc and (binding is None or resume > binding[0]):
            used = (usage.emails_in if per_email else usage.recipients_in)(
                window, now_utc
            )
            binding = (resume, name, window, limit, needed, used)

    if binding is None:
        params = {
            **base,
            "rule": "send",
            "recipients": len(unique),
            "emails": len(batches),
            "connections": len(groups),
        }
        reason = _render("send", params, now_utc, tz)
        return Decision("send", batches, groups, reason=reason, params=params)

    resume, rule, window, limit, needed, used = binding
    params = {
        **base,
        "rule": rule,
        "limit": limit,
        "used": used,
        "needed": needed,
        "window_seconds": int(window.total_seconds()),
        "since": out(usage.oldest_in(window, now_utc), now),
        "resume_at": out(resume, now),
    }
    return Decision(
        "defer",
        batches,
        groups,
        defer_until=out(resume, now),
        code=CODE_DEFER,
        reason=_render(rule, params, now_utc, tz),
        params=params,
    )


# ---------------------------------------------------------------------------
# Refusals from the provider


def classify_smtp_refusal(code: int, text: str | bytes) -> str:
    """Return "defer" or "fail" for an SMTP refusal.

    Quota replies (:func:`errors.is_quota_reply`: Gmail ``550 5.4.5``,
    Microsoft ``432 4.3.2`` and ``554 5.2.0 ...SubmissionQuotaExceeded...``,
    Yahoo ``421 4.7.0 [TSS04]``) and every other 4xx defer; other 5xx fail.
    A code outside 400-599 (smtplib reports -1 for a garbled reply) defers:
    nothing says it is permanent.
    """
    if is_quota_reply(code, text) or not 500 <= code <= 599:
        return "defer"
    return "fail"


def quota_retry_at(
    code: int, text: str | bytes, now: datetime, usage: Usage | None = None
) -> datetime | None:
    """When to retry after an SMTP refusal; None when it must not be retried.

    * A 5xx quota reply (the daily limit is reached) with ``usage`` known:
      when the oldest email sent in the last 24 h leaves the window, which
      frees at least one slot; without usage (or nothing in the window):
      ``now`` + 1 h.
    * Any 4xx (quota or not: concurrency, Yahoo's deferrals, greylisting) and
      unknown codes: ``now`` + 15 min.
    * Other 5xx: None (a permanent failure).

    Never sooner than ``now`` + 1 min.
    """
    decision = classify_smtp_refusal(code, text)
    if decision == "fail":
        return None
    now_utc = utc(now)
    if 500 <= code <= 599:  # a quota reply
        delay_until = now_utc + RETRY_QUOTA
        oldest = usage.oldest_in(DAY, now_utc) if usage is not None else None
        if oldest is not None:
            delay_until = utc(oldest) + DAY
    else:
        delay_until = now_utc + RETRY_TEMPORARY
    return out(max(delay_until, now_utc + RETRY_MIN), now)
