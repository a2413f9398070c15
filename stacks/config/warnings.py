"""Warnings about valid but questionable stacks (for `swan check`); errors live in the models.

Course events are the ones that need them: an event whose end has passed is still holding
its GPU nodes until someone runs `pulumi destroy`; events planned one at a time can
overlap and together ask an environment for more GPUs than it sets aside; and an event's
sessions also count against the environment's own user-namespace quota.
"""
from __future__ import annotations

import datetime as dt

from pydantic import BaseModel

from stacks.config.event_model import EventConfig
from stacks.config.model import EnvironmentConfig, quantity_value


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
    for name, plan in sorted(plans.items()):
        warnings.extend(_quota_warnings(name, plan, envs))
    return warnings


def _quota_warnings(stack: str, plan, envs: dict[str, EnvironmentConfig]) -> list[str]:
    """The environment's ResourceQuota counts the event's sessions too: say when they cannot fit."""
    session = plan.event.session
    per_env: dict[str, int] = {}
    for group in plan.nodes:
        per_env[group.environment] = per_env.get(group.environment, 0) + group.sessions
    warnings = []
    for env_name, sessions in per_env.items():
        quota = envs[env_name].security.quota
        short = []
        if sessions > quota.pods:
            short.append(f"pods {sessions} > {quota.pods}")
        if session.cores * sessions > quantity_value(quota.cpu):
            short.append(f"cpu {session.cores * sessions:g} > {quota.cpu}")
        if quantity_value(session.memory) * sessions > quantity_value(quota.memory):
            short.append(f"memory {sessions} x {session.memory} > {quota.memory}")
        if session.profile == "full" and quota.gpus and sessions > quota.gpus:
            short.append(f"nvidia.com/gpu {sessions} > {quota.gpus}")
        if short:
            warnings.append(f"{stack}: its {sessions} sessions in {env_name} do not fit that environment's user "
                            f"quota, which counts them too ({'; '.join(short)}): raise swan:security.quota "
                            f"of {env_name} for the event")
    return warnings
