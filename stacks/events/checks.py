"""Rules across stacks, run once each file has loaded on its own: an event's environments exist,
are environments, offer its GPU model and have room for everyone. They read other stack files
and run the GPU planner, which is why they live here and not in the config models."""
from __future__ import annotations

from pydantic import BaseModel

from stacks.config.event_model import EventConfig
from stacks.errors import Problem
from stacks.events.plan import PlanError, allocate, load_environments


def cross_stack_problems(cfg: BaseModel, shown: str) -> list[Problem]:
    """What is wrong with `cfg` (read from the file printed as `shown`) given the other stacks."""
    if not isinstance(cfg, EventConfig):
        return []
    event = cfg.event
    try:
        allocate(event.session.gpu_model, event.session.profile, event.sessions, load_environments(event.environments))
    except PlanError as exc:
        return [Problem(shown, "swan:event.environments", str(exc))]
    return []
