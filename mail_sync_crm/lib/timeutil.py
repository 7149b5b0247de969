"""Times as Odoo stores them: naive datetimes in UTC."""

from datetime import datetime, timezone

__all__ = ["naive_utc"]


def naive_utc(moment: datetime | None) -> datetime | None:
    """``moment`` as a naive UTC datetime: an aware one converted to UTC, a naive
    one taken as UTC already; anything that is not a datetime (None, False) gives
    None.

    >>> from datetime import timedelta
    >>> naive_utc(datetime(2024, 5, 1, 12, tzinfo=timezone(timedelta(hours=2))))
    datetime.datetime(2024, 5, 1, 10, 0)
    >>> naive_utc(datetime(2024, 5, 1, 12)), naive_utc(False)
    (datetime.datetime(2024, 5, 1, 12, 0), None)
    """
    if not isinstance(moment, datetime):
        return None
    if moment.tzinfo is not None and moment.utcoffset() is not None:
        return moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.replace(tzinfo=None)
