"""The longest wait between two runs of a cron schedule (pure).

An alert on results that stopped arriving (the nightly verification's) must wait at least this long,
or it fires between two runs that are on time. Runs are enumerated over eight calendar years (two
leap-year cycles, so "29 February" schedules count too) with the rules of the CronJob controller's
parser (robfig/cron): a day matches when day-of-month AND day-of-week match, except that when both
are restricted (neither is `*`) either one is enough.
"""
from __future__ import annotations

import datetime as dt

from stacks.config.types import _CRON_FIELDS, _CRON_NAMES  # the validator's own field table

MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
          "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
_SPAN_DAYS = 8 * 365 + 2  # 2024-01-01 .. 2031-12-31


def _values(text: str, index: int) -> set[int]:
    """The numbers one field (already validated by `types._cron_schedule`) stands for."""
    _, low, high = _CRON_FIELDS[index]
    names = _CRON_NAMES.get(index, [])
    found: set[int] = set()
    for part in text.split(","):
        spec, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if spec == "*":
            start, end = low, high
        else:
            bounds = [names.index(b.lower()) + (index == 3) if b.lower() in names else int(b)
                      for b in spec.split("-", 1)]
            start = bounds[0]
            end = bounds[1] if len(bounds) == 2 else (high if step_text else start)
        found.update(range(start, end + 1, step))
    if index == 4 and 7 in found:  # Sunday is 0 and 7
        found = (found - {7}) | {0}
    return found


def period_seconds(schedule: str) -> int:
    """The longest time between two consecutive runs of `schedule` (a valid CronSchedule)."""
    fields = MACROS.get(schedule.strip(), schedule).split()
    minutes, hours, days, months, weekdays = (_values(f, i) for i, f in enumerate(fields))
    either_day = fields[2] != "*" and fields[4] != "*"
    times = sorted(h * 60 + m for h in hours for m in minutes)
    longest = max((b - a for a, b in zip(times, times[1:])), default=0)
    first = dt.date(2024, 1, 1)
    previous = None
    for offset in range(_SPAN_DAYS):
        day = first + dt.timedelta(days=offset)
        if day.month not in months:
            continue
        dom, dow = day.day in days, (day.weekday() + 1) % 7 in weekdays
        if not ((dom or dow) if either_day else (dom and dow)):
            continue
        if previous is not None:
            longest = max(longest, (offset - previous) * 1440 + times[0] - times[-1])
        previous = offset
    return (longest or _SPAN_DAYS * 1440) * 60
