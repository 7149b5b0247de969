"""Provider sending limits: the built-in quota profiles, each figure with its
source.

Data only; :mod:`lib.sending.quota` picks a profile for a mailbox, applies a
company's own figures and decides what to do with each mail.

Figures ("--" = no limit, None; MB = 2**20 bytes of the whole encoded message):

============== ======= ======= ====== ======= ======== ====== =====================
profile        rcpt/   rcpt/   size   emails/ rcpts/   msgs/  sources
               email   conn.   (MB)   24 h    24 h     min
============== ======= ======= ====== ======= ======== ====== =====================
gmail          100     500     25     500     --       --     Google; 100: secondary;
                                                              500/conn.: SharpSpring
                                                              (it says 10 MB, 100/day)
google_works.  100     --      25     2,000   10,000   --     Google (3,000 external
                                                              recipients: not modelled)
microsoft365   500     500     25     --      10,000   30     Microsoft; 500/conn. and
                                                              25 MB (lowest licence):
                                                              SharpSpring
outlook        100     --      50     300     5,000    --     SharpSpring; 5,000:
                                                              Microsoft (subscribers)
yahoo          100     --      25     500     --       --     Yahoo
aol            100     500     25     100     --       --     AOL (SharpSpring says
                                                              16 MB); 500, 100/day:
                                                              SharpSpring
hotmail        --      100     25     100     --       --     SharpSpring
custom         --      --      --     --      --       --     no limits
============== ======= ======= ====== ======= ======== ====== =====================

Where two figures exist, hard limits use the provider's own (Gmail 500 emails and
25 MB, AOL 25 MB). Outlook.com's 500 recipients per email is Microsoft's figure
for Microsoft 365 subscribers only ("lower for non-subscribers"), so the profile
keeps SharpSpring's 100: a lower figure only means more, smaller emails.
Microsoft 365 also allows 3 concurrent SMTP AUTH connections per mailbox
(``432 4.3.2``): send one connection at a time.
"""

from dataclasses import dataclass, field

__all__ = ["LIMIT_FIELDS", "MB", "PROFILES", "QuotaProfile"]

MB = 1024 * 1024

LIMIT_FIELDS = (
    "recipients_per_email",
    "recipients_per_connection",
    "max_size_bytes",
    "emails_per_day",
    "recipients_per_day",
    "messages_per_minute",
)


@dataclass(frozen=True)
class QuotaProfile:
    """A provider's sending limits; each figure is ``int`` or None (no limit).

    ``sources`` maps each figure's field name to where it comes from.
    """

    key: str
    label: str
    recipients_per_email: int | None = None
    recipients_per_connection: int | None = None
    max_size_bytes: int | None = None
    emails_per_day: int | None = None
    recipients_per_day: int | None = None
    messages_per_minute: int | None = None
    sources: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


# ---------------------------------------------------------------------------
# Built-in profiles

_GOOGLE = "Google (Gmail Help, sending limits)"
_GOOGLE_WS = "Google (support.google.com/a/answer/166852)"
_MICROSOFT = (
    "Microsoft (learn.microsoft.com/office365/servicedescriptions/"
    "exchange-online-service-description/exchange-online-limits)"
)
_OUTLOOK = (
    "Microsoft (support.microsoft.com/office/"
    "sending-limits-in-outlook-com-279ee200-594c-40f0-9ec8-bb6af7735c2e)"
)
_SHARPSPRING = (
    "SharpSpring's table (help.sharpspring.com/hc/en-us/articles/115001066048)"
)
_YAHOO = "Yahoo (Yahoo Help)"
_AOL = "AOL (AOL Help)"
_SECONDARY = "secondary"

PROFILES: dict[str, QuotaProfile] = {
    profile.key: profile
    for profile in (
        QuotaProfile(
            "gmail",
            "Gmail",
            recipients_per_email=100,
            recipients_per_connection=500,
            max_size_bytes=25 * MB,
            emails_per_day=500,
            sources={
                "recipients_per_email": _SECONDARY + " (100 via SMTP clients)",
                "recipients_per_connection": _SHARPSPRING,
                "max_size_bytes": _GOOGLE + "; SharpSpring's table says 10 MB",
                "emails_per_day": _GOOGLE + "; SharpSpring's table says 100",
            },
        ),
        QuotaProfile(
            "google_workspace",
            "Google Workspace",
            recipients_per_email=100,
            max_size_bytes=25 * MB,
            emails_per_day=2000,
            recipients_per_day=10000,
            sources={
                "recipients_per_email": _GOOGLE_WS + " (via SMTP)",
                "max_size_bytes": _GOOGLE_WS,
                "emails_per_day": _GOOGLE_WS,
                "recipients_per_day": _GOOGLE_WS
                + " (3,000 external recipients per day: not modelled)",
            },
        ),
        QuotaProfile(
            "microsoft365",
            "Microsoft 365",
            recipients_per_email=500,
            recipients_per_connection=500,
            max_size_bytes=25 * MB,
            recipients_per_day=10000,
            messages_per_minute=30,
            sources={
                "recipients_per_email": _MICROSOFT + " (admins may set 1-1,000)",
                "recipients_per_connection": _SHARPSPRING,
                "max_size_bytes": _SHARPSPRING
                + " (25-150 MB by licence: the lowest is used)",
                "recipients_per_day": _MICROSOFT + " (rolling 24 h)",
                "messages_per_minute": _MICROSOFT,
            },
        ),
        QuotaProfile(
            "outlook",
            "Outlook.com",
            recipients_per_email=100,
            max_size_bytes=50 * MB,
            emails_per_day=300,
            recipients_per_day=5000,
            sources={
                "recipients_per_email": _SHARPSPRING
                + "; Microsoft's 500 applies to Microsoft 365 subscribers only",
                "max_size_bytes": _SHARPSPRING,
                "emails_per_day": _SHARPSPRING,
                "recipients_per_day": _OUTLOOK
                + " (Microsoft 365 subscribers; 1,000 non-relationship"
                " recipients: not modelled)",
            },
        ),
        QuotaProfile(
            "yahoo",
            "Yahoo Mail",
            recipients_per_email=100,
            max_size_bytes=25 * MB,
            emails_per_day=500,
            sources={
                "recipients_per_email": _YAHOO,
                "max_size_bytes": _YAHOO,
                "emails_per_day": _YAHOO,
            },
        ),
        QuotaProfile(
            "aol",
            "AOL Mail",
            recipients_per_email=100,
            recipients_per_connection=500,
            max_size_bytes=25 * MB,
            emails_per_day=100,
            sources={
                "recipients_per_email": _AOL,
                "recipients_per_connection": _SHARPSPRING,
                "max_size_bytes": _AOL + "; SharpSpring's table says 16 MB",
                "emails_per_day": _SHARPSPRING,
            },
        ),
        QuotaProfile(
            "hotmail",
            "Hotmail",
            recipients_per_connection=100,
            max_size_bytes=25 * MB,
            emails_per_day=100,
            sources={
                "recipients_per_connection": _SHARPSPRING,
                "max_size_bytes": _SHARPSPRING,
                "emails_per_day": _SHARPSPRING,
            },
        ),
        QuotaProfile("custom", "Custom server", sources={}),
    )
}
