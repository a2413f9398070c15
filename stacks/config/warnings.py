"""Warnings about valid but questionable stacks (for `swan check`); errors live in the models.

Course events are the ones that need them: an event whose end has passed is still holding
its GPU nodes until someone runs `pulumi destroy`; and events planned one at a time can
overlap and together ask an environment for more GPUs than it sets aside. (Event sessions do
not count against the environment's user quota: that one excludes pods with a PriorityClass,
and each event brings its own quota.)
"""
from __future__ import annotations

import datetime as dt

from pydantic import BaseModel

from stacks.config.event_model import EventConfig
from stacks.config.model import EnvironmentConfig


def stack_warnings(stacks: dict[str, BaseModel], now: dt.datetime | None = None) -> list[str]:
    """Cross-stack advice for the stacks given; environments the events use are read from config/ if absent."""
    events = {name: cfg for name, cfg in stacks.items() if isinstance(cfg, EventConfig)}
    if not events:
        return []
    from stacks.events.calendar import bookings, capacities, overloads
    from stacks.events.plan import PlanError, load_environments, plan_event

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

