"""One ``naive_utc`` for lib and the store (it had four copies)."""

import doctest
from datetime import datetime, timedelta, timezone

from lib import timeutil
from lib.timeutil import naive_utc


def test_doctests():
    failures, tried = doctest.testmod(timeutil)
    assert tried and not failures


def test_aware_naive_and_not_a_datetime():
    paris = timezone(timedelta(hours=1))
    assert naive_utc(datetime(2024, 1, 1, 0, 30, tzinfo=paris)) == datetime(
        2023, 12, 31, 23, 30
    )
    assert naive_utc(datetime(2024, 1, 1, tzinfo=timezone.utc)) == datetime(2024, 1, 1)
    assert naive_utc(datetime(2024, 1, 1)) == datetime(2024, 1, 1)
    assert naive_utc(None) is None
    assert naive_utc(False) is None
