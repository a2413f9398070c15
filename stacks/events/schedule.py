"""Every event stack under config/ with its window, lead and grace: what `swan event status` and
`swan event reconcile` decide on.

The lead is the largest `leadTime` over the environments' `eventGpus` offers the event's plan puts
nodes on (an offer the plan does not use cannot delay it). Loading refuses the whole set when one
event or environment file is broken (InputError, exit 2): a reconcile must not act on a partial view.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from stacks.config.types import duration_seconds
from stacks.events.lifecycle import Window


@dataclass(frozen=True)
class ScheduledEvent:
    stack: str                      # the event stack, e.g. event-ml-workshop
    name: str                       # swan:event.name, the `event` label of the metrics
    window: Window
    environments: tuple[str, ...]   # environments the plan puts nodes in (where `verify` spawns)
    lead_from: str                  # the environment whose offer sets the lead


def event_lead(plan, envs: dict) -> tuple[dt.timedelta, str]:
    """(largest lead time over the offers the plan uses, the environment giving it)."""
    from stacks.events.plan import event_offer

    model = plan.event.session.gpu_model
    used = list(dict.fromkeys(group.environment for group in plan.nodes))
    leads = {env: duration_seconds(event_offer(env, envs[env], model).lead_time) for env in used}
    worst = max(used, key=lambda env: leads[env])
    return dt.timedelta(seconds=leads[worst]), worst


def scheduled(plan, envs: dict) -> ScheduledEvent:
    e = plan.event
    lead, lead_from = event_lead(plan, envs)
    window = Window(ready_by=e.ready_by, start=e.start, end=e.end, lead=lead,
                    grace=dt.timedelta(seconds=duration_seconds(e.grace)))
    return ScheduledEvent(plan.stack, e.name, window,
                          tuple(dict.fromkeys(g.environment for g in plan.nodes)), lead_from)


def load_schedule() -> list[ScheduledEvent]:
    """Every event stack under config/, sorted by stack name (InputError when one cannot be planned)."""
    from stacks.events.calendar import load_event_plans
    from stacks.events.plan import load_environments

    plans, _ = load_event_plans()
    envs = load_environments(list(dict.fromkeys(env for p in plans.values() for env in p.event.environments)))
    return [scheduled(plans[stack], envs) for stack in sorted(plans)]
