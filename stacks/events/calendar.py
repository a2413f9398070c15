"""Events side by side in time: GPU bookings per environment, and where they exceed the offer.

Each event is planned on its own against the environments' full `eventGpus` offer; only
here, looking at all of them together, does it show when overlapping events ask an
environment for more GPUs of a model than it sets aside (`swan check` warns, the timeline
chart highlights). A booking holds from `ready_by` (nodes up) until `end` (time to shrink).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from stacks.config.model import EnvironmentConfig
from stacks.events.plan import EventPlan


@dataclass(frozen=True)
class Booking:
    """GPUs of one model that one event takes in one environment during its window."""

    stack: str
    environment: str
    gpu_model: str
    gpus: int
    opens: dt.datetime
    closes: dt.datetime


@dataclass(frozen=True)
class Overload:
    """A stretch of time when bookings exceed an environment's event capacity for a model."""

    environment: str
    gpu_model: str
    capacity: int
    peak: int
    start: dt.datetime
    end: dt.datetime
    stacks: tuple[str, ...]

    def describe(self) -> str:
        return (f"{self.environment}: overlapping events {', '.join(self.stacks)} need up to {self.peak} "
                f"{self.gpu_model} GPUs from {self.start.isoformat()} to {self.end.isoformat()}, but "
                f"swan:eventGpus offers {self.capacity}")


def bookings(plans: dict[str, EventPlan]) -> list[Booking]:
    """One booking per (event, environment), GPUs on whole nodes."""
    result = []
    for stack, plan in sorted(plans.items()):
        per_env: dict[str, int] = {}
        for group in plan.nodes:
            per_env[group.environment] = per_env.get(group.environment, 0) + group.gpus
        for env, gpus in per_env.items():
            result.append(Booking(stack, env, plan.event.session.gpu_model, gpus, plan.event.ready_by, plan.event.end))
    return result


def capacities(envs: dict[str, EnvironmentConfig]) -> dict[tuple[str, str], int]:
    """(environment, GPU model) -> GPUs the environment sets aside for events."""
    return {(name, offer.model): offer.max_gpus for name, env in envs.items() for offer in env.event_gpus}


def segments(items: list[Booking]) -> list[tuple[dt.datetime, dt.datetime, list[Booking]]]:
    """Time cut at every opening and closing, with the bookings active over each piece."""
    times = sorted({b.opens for b in items} | {b.closes for b in items})
    pieces = []
    for start, end in zip(times, times[1:]):
        active = [b for b in items if b.opens <= start and b.closes >= end]
        if active:
            pieces.append((start, end, active))
    return pieces


def overloads(items: list[Booking], capacity: dict[tuple[str, str], int]) -> list[Overload]:
    """Every stretch where an environment's bookings of a model exceed its capacity, merged."""
    found: list[Overload] = []
    for key in sorted({(b.environment, b.gpu_model) for b in items}):
        limit = capacity.get(key, 0)
        current: Overload | None = None
        for start, end, active in segments([b for b in items if (b.environment, b.gpu_model) == key]):
            total = sum(b.gpus for b in active)
            if total <= limit:
                continue
            stacks = tuple(sorted({b.stack for b in active}))
            if current is not None and current.end == start:
                current = Overload(key[0], key[1], limit, max(current.peak, total), current.start, end,
                                   tuple(sorted(set(current.stacks) | set(stacks))))
                found[-1] = current
            else:
                current = Overload(key[0], key[1], limit, total, start, end, stacks)
                found.append(current)
    return found


def load_event_plans() -> tuple[dict[str, EventPlan], dict[tuple[str, str], int]]:
    """Plans of every event stack under config/, and the capacities of their environments.

    A broken event or environment config raises InputError (the timeline would be wrong).
    """
    from stacks.config.event_model import EventConfig
    from stacks.config.loader import display_path, load_stack, stack_file, stack_names
    from stacks.errors import InputError, Problem
    from stacks.events.plan import PlanError, load_environments, plan_event

    events = {}
    for name in stack_names():
        cfg = load_stack(name) if _is_event_file(name) else None
        if isinstance(cfg, EventConfig):
            events[name] = cfg
    env_names = list(dict.fromkeys(env for cfg in events.values() for env in cfg.event.environments))
    try:
        envs = load_environments(env_names)
    except PlanError as exc:
        raise InputError(Problem("config", "swan:event.environments", str(exc))) from None
    plans = {}
    for name, cfg in events.items():
        try:
            plans[name] = plan_event(cfg, envs, stack=name)
        except PlanError as exc:
            raise InputError(Problem(display_path(stack_file(name)), "swan:event.environments", str(exc))) from None
    return plans, capacities(envs)


def _is_event_file(stack: str) -> bool:
    """Cheap look at `swan:kind` so that unrelated broken stacks do not stop the timeline."""
    from stacks.config.loader import read_swan_keys, stack_file
    from stacks.errors import InputError

    try:
        return read_swan_keys(stack_file(stack)).get("kind") == "event"
    except InputError:
        return False
