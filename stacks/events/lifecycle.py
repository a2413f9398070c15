"""Where a course event stands at a given time, and what must be done about it. Pure.

An event file declares its window (`ready_by` = start - prewarm, `start`, `end`); the environments it
draws from declare how long their GPU nodes take to come up (`eventGpus[].leadTime`), and the event
how long its nodes stay after the end (`grace`). Together with whether the event stack is deployed
and whether a participant's session was proven since the last `up`, that decides the phase and the
one action due (`swan event status` shows it, `swan event reconcile` performs it):

| phase | when (deployed = the event stack has resources) | action due |
|---|---|---|
| `scheduled` | not deployed, T < ready_by - lead | none |
| `due-up` | not deployed, ready_by - lead <= T < end | `up` |
| `warming` | deployed, T < start, not proven | `verify` once T >= ready_by, else none |
| `ready` | deployed, T < start, proven since the last up | none |
| `running` | deployed, start <= T < end + grace | none |
| `due-down` | deployed, T >= end + grace | `destroy` |
| `ended` | not deployed, T >= end | none |

`verify` starts at ready_by, not before: the hub offers the event's flavour from ready_by only (the
event ConfigMap's `opens`), so an earlier spawn could not get it. It stops at the start: from then on
participants use the nodes. Boundaries are half-open: at exactly ready_by - lead the event is due up,
at exactly end + grace due down.

When the deployed state is unknown (no Pulumi backend asked), `possible` gives every phase and
action the time allows, so that nothing is claimed that was not observed.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Optional

PHASES = ("scheduled", "due-up", "warming", "ready", "running", "due-down", "ended")
ACTIONS = ("up", "verify", "destroy")


@dataclass(frozen=True)
class Window:
    """An event's times, with the lead and grace that move the actions around them."""

    ready_by: dt.datetime
    start: dt.datetime
    end: dt.datetime
    lead: dt.timedelta
    grace: dt.timedelta

    @property
    def up_from(self) -> dt.datetime:
        """When `up` is due: nodes of the slowest flavor are then up by ready_by."""
        return self.ready_by - self.lead

    @property
    def down_from(self) -> dt.datetime:
        """When `destroy` is due."""
        return self.end + self.grace


@dataclass(frozen=True)
class Standing:
    """The phase at a time and the action due then (None: nothing to do)."""

    phase: str
    action: Optional[str]


def standing(window: Window, at: dt.datetime, deployed: bool, proven: bool) -> Standing:
    """Phase and action for a known deployed state (`proven`: a session proven since the last up)."""
    if at.tzinfo is None:
        raise ValueError("the time must carry a zone")
    if not deployed:
        if at >= window.end:
            return Standing("ended", None)
        if at < window.up_from:
            return Standing("scheduled", None)
        return Standing("due-up", "up")
    if at >= window.down_from:
        return Standing("due-down", "destroy")
    if at >= window.start:
        return Standing("running", None)
    if proven:
        return Standing("ready", None)
    return Standing("warming", "verify" if at >= window.ready_by else None)


def possible(window: Window, at: dt.datetime, deployed: Optional[bool],
             proven: Optional[bool]) -> list[Standing]:
    """Every standing consistent with what is known (None: unknown), in lifecycle order, once each."""
    found = {standing(window, at, d, p)
             for d in ([deployed] if deployed is not None else [False, True])
             for p in ([proven] if proven is not None else [False, True])}
    return sorted(found, key=lambda s: (PHASES.index(s.phase), ACTIONS.index(s.action) if s.action else -1))
