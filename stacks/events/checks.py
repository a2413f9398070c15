"""Rules across stacks, run once each file has loaded on its own (for `swan check`, `swan render`).
They read other stack files and run the GPU planner, which is why they live here and not in the
config models.

Errors: an event's environments exist, are environments, offer its GPU model and have room for
everyone, and cull with its session.idleTimeout if it sets one; an environment's GPU pools that offer
the same flavour in SWAN's form agree on its idle timeout. Warnings, about valid but questionable stacks: an event whose end has passed is still
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
    if isinstance(cfg, EnvironmentConfig):
        return flavour_timeout_problems(cfg, shown)
    if not isinstance(cfg, EventConfig):
        return []
    event = cfg.event
    try:
        envs = load_environments(event.environments)
        allocate(event.session, event.sessions, envs)
    except PlanError as exc:
        return [Problem(shown, "swan:event.environments", str(exc))]
    return event_timeout_problems(cfg, envs, shown)


def culler_timeouts(env: EnvironmentConfig) -> list[int]:
    """The idle timeouts (seconds) the environment's hub runs SWAN's culler with (hub_values.culling_settings)."""
    from stacks.platform_layer.hub_values import culling_settings

    settings = culling_settings(env)
    return sorted({settings["timeout"], *(c["timeout"] for c in settings["gpuCullers"])}) if env.hub.culling.enabled \
        else []


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def event_timeout_problems(cfg: EventConfig, envs: dict[str, EnvironmentConfig], shown: str) -> list[Problem]:
    """An event's session.idleTimeout must be a timeout each environment's hub culls with: an event cannot
    add a culler to a hub (they are hub services, fixed when the environment is deployed)."""
    idle = cfg.event.session.idle_timeout
    if idle is None:
        return []
    from stacks.config.types import duration_seconds

    problems = []
    for name, env in envs.items():
        timeouts = culler_timeouts(env)
        if duration_seconds(idle) not in timeouts:
            offered = ", ".join(_duration(t) for t in timeouts) or "none (hub.culling.enabled is false)"
            problems.append(Problem(shown, "swan:event.session.idleTimeout",
                                    f"{idle} is not an idle timeout the hub of '{name}' culls with; it has: {offered}"))
    return problems


def flavour_timeout_problems(cfg: EnvironmentConfig, shown: str) -> list[Problem]:
    """GPU pools offering the same flavour in SWAN's form (same name: the hub cannot tell which pool a session
    lands on) must have the same idle timeout."""
    from stacks.config.types import duration_seconds
    from stacks.platform_layer.gpu_flavours import flavours

    default = cfg.hub.culling.gpu_timeout
    seen: dict[str, tuple[str, str]] = {}
    problems = []
    for i, pool in enumerate(cfg.node_pools):
        if pool.gpu is None:
            continue
        idle = pool.gpu.idle_timeout or default
        for flavour in flavours(pool.gpu):
            other = seen.setdefault(flavour, (pool.name, idle))
            if duration_seconds(other[1]) != duration_seconds(idle):
                problems.append(Problem(shown, f"swan:nodePools[{i}].gpu.idleTimeout",
                                        f"pool {pool.name} offers the GPU flavour '{flavour}' with idle timeout {idle}, "
                                        f"pool {other[0]} offers it with {other[1]}: SWAN's form cannot tell them "
                                        "apart, give them the same gpu.idleTimeout"))
    return problems


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

