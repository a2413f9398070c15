"""Shared data for the course-event suites: a base event and writers of stack files."""
from __future__ import annotations

import copy

BASE_EVENT = {
    "name": "ml",
    "title": "ML workshop",
    "environments": ["openstack-prod"],
    "start": "2026-12-01T09:00:00+01:00",
    "end": "2026-12-03T18:00:00+01:00",
    "prewarm": "2h",
    "participants": 60,
    "instructors": 4,
    "group": "ml-workshop",
    "session": {"gpuModel": "A100-40GB", "profile": "1g.5gb", "cores": 4, "memory": "16Gi"},
}


def event_swan(**changes) -> dict:
    """`swan:` keys of an event stack: the base ML workshop with top-level event keys replaced."""
    event = copy.deepcopy(BASE_EVENT)
    for key, value in changes.items():
        if value is None:
            event.pop(key, None)
        else:
            event[key] = value
    return {"kind": "event", "event": event}


def set_event_offers(project, env: str, offers: list[dict]) -> None:
    """Rewrite an environment's swan:eventGpus in the temp project."""
    swan = project.read_swan(env)
    swan["eventGpus"] = offers
    project.write_config(env, swan)


def overflowing_event(project, **changes) -> None:
    """`event-big` (84 sessions) over openstack-prod, whose offer is cut to 8 GPUs, and openstack-b, a copy of
    it with its own cluster: the overflow fills the second environment."""
    first = project.read_swan("openstack-prod")
    first["eventGpus"][0]["maxGpus"] = 8
    project.write_config("openstack-prod", first)
    second = project.read_swan("openstack-prod")
    second["openstack"]["clusterName"] = "swan-b"
    project.write_config("openstack-b", second)
    project.write_config("event-big", event_swan(participants=80, instructors=4,
                                                 environments=["openstack-prod", "openstack-b"], **changes))
