"""The longest wait between two runs of a cron schedule, which the stale-verification alert waits for."""
from __future__ import annotations

import pytest

from stacks.config.cron import period_seconds

HOUR, DAY = 3600, 86400


@pytest.mark.parametrize("schedule, longest", [
    ("30 3 * * *", DAY),
    ("@daily", DAY),
    ("@hourly", HOUR),
    ("*/15 * * * *", 15 * 60),
    ("0 0,12 * * *", 12 * HOUR),
    ("0 1,2,23 * * *", 21 * HOUR),           # uneven: 02:00 to 23:00
    ("0 */6 * * *", 6 * HOUR),
    ("0 2 * * 1-5", 3 * DAY),                # Friday 02:00 to Monday 02:00
    ("0 2 * * mon-fri", 3 * DAY),
    ("5 4 * * sun", 7 * DAY),
    ("5 4 * * 7", 7 * DAY),                  # 7 is Sunday too
    ("@weekly", 7 * DAY),
    ("0 0 1 * *", 31 * DAY),                 # the longest month
    ("0 0 31 * *", 61 * DAY),                # skips the months without a 31st (31 Jul to 31 Aug... 31 Mar to 31 May)
    ("0 3 1 * 1", 7 * DAY),                  # both restricted: the 1st OR a Monday
    ("0 0 29 2 *", 4 * 365 * DAY + DAY),     # leap days only
    ("0 12 * jun *", 337 * DAY),             # 30 June to 1 June of a year with 29 February
])
def test_period(schedule, longest):
    assert period_seconds(schedule) == longest
