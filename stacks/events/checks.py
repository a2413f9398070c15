"""Rules across stacks, run once each file has loaded on its own (for `swan check`, `swan render`).
They read other stack files and run the GPU planner, which is why they live here and not in the
config models.

Errors: an event's environments exist, are environments, offer its GPU model and have room for
everyone. Warnings, about valid but questionable stacks: an event whose end has passed is still
holding its GPU nodes until someone runs `pulumi destroy`; and events planned one at a time can
overlap and together ask an environment for more GPUs than it sets aside. (Event sessions do
not count against the environment's user quota: that one excludes pods with a PriorityClass,
and each event brings its own quota.)
"""
from __future__ import annotations

import datetime as dt

from pydantic import BaseModel

from stacks.config.event_model import EventConfig
from stacks.config.model import EnvironmentConfig
from stacks.errors import Problem
from stacks.events.calendar import bookings, capacities, overloads
from stacks.events.plan import PlanError, allocate, load_environments, plan_event


def cross_stack_problems(cfg: BaseModel, shown: str) -> list[Problem]:
    """What is wrong with `cfg` (read from the file printed as `shown`) given the other stacks."""
    if not isinstance(cfg, EventConfig):
        return []
    event = cfg.event
    try:
        allocate(event.session, event.sessions, load_environments(event.environments))
    except PlanError as exc:
        return [Problem(shown, "swan:event.environments", str(exc))]
    return []


def stack_warnings(stacks: dict[str, BaseModel], now: dt.datetime | None = None) -> list[str]:
    """Cross-stack advice for the stacks given; environments the events use are read from config/ if absent."""
    events = {name: cfg for name, cfg in stacks.items() if isinstance(cfg, EventConfig)}
    if not events:
        return []
    now = now or dt.datetime.now(dt.timezone.utc)
    envs = {name: cfg for name, cfg in stacks.items() if isinstance(cfg, EnvironmentConfig)}
    warnings: list[str] = []
    plans = {}
    for name, cfg in sorted(events.items()):
        missing = [env for env in cfg.event.environments if env not in envs]
        try:
            envs.update(load_environments(missing))
            plans[name] = plan_event(cfg, envs, stack=name)
        except PlanError:
            continue  # reported as an error of the event itself
        if cfg.event.end <= now:
            warnings.append(f"{name}: the event ended {cfg.event.end.isoformat()}; time to shrink: "
                            f"`pulumi destroy -s {name}`")
    for overload in overloads(bookings(plans), capacities(envs)):
        warnings.append(overload.describe())
    return warnings

