"""Course events the nightly verification tries: the ones open now, read from the ConfigMaps the
event stacks publish for the hub (`event.json`, see stacks/events/objects.py).

The hub offers an event's GPU flavour to members of the event's role inside its window only
(hub_side/swan_iac_hub.py), so `swan verify` spawns it as a synthetic member: a test user put
in a hub group named after the role (the hub counts hub groups as roles).
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Optional
from urllib.parse import quote

from stacks.verify.model import CheckFailed

# The label the event stacks put on their ConfigMaps (stacks.platform_layer.hub_values.EVENT_LABEL;
# repeated here so that `swan verify` does not import the platform layer).
EVENT_CONFIG_MAP_LABEL = "swan.cern.ch/event-flavour"


@dataclass(frozen=True)
class OpenEvent:
    name: str
    role: str  # Keycloak client role, or hub group, of its members
    flavour: str  # the GPU flavour SWAN's form offers its members
    closes: dt.datetime
    resource: str = "nvidia.com/gpu"  # what a session asks for (a MIG device, or a whole or shared GPU)
    sharing: str = "whole"  # whole, mig, mps or time-slicing


def config_maps_path(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/configmaps?labelSelector={quote(EVENT_CONFIG_MAP_LABEL + '=true')}"


def _event(config_map: dict) -> tuple[dict, dt.datetime, dt.datetime]:
    name = config_map.get("metadata", {}).get("name", "?")
    try:
        doc = json.loads(config_map["data"]["event.json"])
        return doc, dt.datetime.fromisoformat(doc["opens"]), dt.datetime.fromisoformat(doc["closes"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckFailed(f"ConfigMap {name}: not an event the hub can read ({type(exc).__name__}: {exc})") from None


def open_events(config_maps: list[dict], now: dt.datetime, only: tuple[str, ...] = ()) -> list[OpenEvent]:
    """The events whose window holds `now` (all of them, or those named in `only`, each of which
    must be open: an operator asking for one wants to hear that it is not)."""
    found, windows = [], {}
    for cm in config_maps:
        doc, opens, closes = _event(cm)
        windows[doc["event"]] = (opens, closes)
        if opens <= now < closes and (not only or doc["event"] in only):
            found.append(OpenEvent(doc["event"], doc["role"], doc["flavour"], closes,
                                   doc.get("resource", "nvidia.com/gpu"), doc.get("sharing", "whole")))
    missing = [n for n in only if n not in windows]
    if missing:
        raise CheckFailed(f"no event named {', '.join(missing)} is published (events: {', '.join(sorted(windows)) or 'none'})")
    utc = lambda t: t.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")  # noqa: E731
    closed = [f"{n} (open {utc(windows[n][0])} to {utc(windows[n][1])} UTC)"
              for n in only if not windows[n][0] <= now < windows[n][1]]
    if closed:
        raise CheckFailed(f"not open now: {'; '.join(closed)}")
    return sorted(found, key=lambda e: e.name)


def read_open_events(api, namespace: str, only: tuple[str, ...] = (),
                     now: Optional[dt.datetime] = None) -> list[OpenEvent]:
    """Open events from the cluster (`api`: stacks.verify.cluster.ApiReader)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return open_events(api.get(config_maps_path(namespace)).get("items", []), now, only)
