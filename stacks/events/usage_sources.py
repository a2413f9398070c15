"""Where `swan event report` gets an event's sessions and nodes over time (thin glue, one function per source).

Per environment of the event, two series (stacks/events/usage.py): the event's sessions running, the
event's nodes up. Sessions are the pods in the environment's user namespace with the event's
PriorityClass (`objects.object_name(event)`); nodes carry the label `swan.cern.ch/event=<name>`.

- Prometheus (`prometheus_series`): `query_range` over the report's range, with `prometheus_queries`.
  It needs kube-state-metrics scraped, and on it `--metric-labels-allowlist=nodes=[swan.cern.ch/event]`
  (kube-state-metrics exports no node label unless allowed; it then names it `label_swan_cern_ch_event`).
  `kube_pod_info` carries `priority_class` without any flag. JupyterHub's own `jupyterhub_running_servers`
  counts every server of the hub, with no label that tells an event's sessions apart, so it is not used.
- The cluster as it is now (`cluster_series`): the event's nodes (creationTimestamp) and running session
  pods (status.startTime) through the Kubernetes API. Sessions that already ended and nodes already
  removed are gone from the API, so this is a lower bound, and the report says so.
- A samples file (`--from`, `stacks.events.usage.read_samples`): what an earlier report recorded.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Optional
from urllib.parse import quote

from stacks.config.event_model import Event
from stacks.events.objects import EVENT_LABEL, object_name
from stacks.events.usage import Series

MAX_POINTS = 10_000  # Prometheus refuses a query_range of more than 11,000 points per series
MIN_STEP = 60  # seconds


class SourceError(Exception):
    """A source could not be read (unreachable, refused, an answer that is not what was asked for):
    the report is not written. `option` names what the operator gave (e.g. --prometheus)."""

    def __init__(self, option: str, message: str):
        self.option = option
        super().__init__(f"{option}: {message}")


def kube_state_label(label: str) -> str:
    """The Prometheus label kube-state-metrics exports a Kubernetes label as (`kube_node_labels`)."""
    return "label_" + "".join(c if c.isalnum() or c == "_" else "_" for c in label)


def prometheus_queries(event: Event, namespace: str) -> dict[str, str]:
    """PromQL for the event's running sessions and nodes up. `count by` first, so that two
    kube-state-metrics replicas do not count a pod or node twice; `or vector(0)`: no series is 0."""
    pods = f'namespace="{namespace}"'
    return {
        "sessions": (f'count((sum by (namespace, pod) (kube_pod_status_phase{{{pods},phase="Running"}}) > 0) '
                     f'and on (namespace, pod) kube_pod_info{{{pods},priority_class="{object_name(event)}"}}) '
                     "or vector(0)"),
        "nodes": (f'count(count by (node) (kube_node_labels{{{kube_state_label(EVENT_LABEL)}="{event.name}"}})) '
                  "or vector(0)"),
    }


def query_step(seconds: float) -> int:
    """The step of a query_range over `seconds`: at least a minute, at most MAX_POINTS points."""
    return max(MIN_STEP, math.ceil(seconds / MAX_POINTS))


def prometheus_series(url: str, query: str, start: float, end: float, step: int, option: str = "--prometheus",
                      timeout: float = 30.0) -> Series:
    """One `GET /api/v1/query_range`; the sum of the series it returns (normally one)."""
    import requests

    try:
        resp = requests.get(f"{url.rstrip('/')}/api/v1/query_range", timeout=timeout,
                            params={"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": str(step)})
    except requests.RequestException as exc:
        raise SourceError(option, f"{url}: {exc.__class__.__name__}: {exc}") from None
    try:
        body = resp.json()
    except ValueError:
        raise SourceError(option, f"{url}: HTTP {resp.status_code}, not a Prometheus API answer: "
                                  f"{resp.text.strip()[:200]!r}") from None
    if not isinstance(body, dict) or body.get("status") != "success":
        detail = body.get("error") if isinstance(body, dict) else None
        raise SourceError(option, f"{url}: HTTP {resp.status_code}, query failed: {detail or str(body)[:200]}")
    data = body.get("data") or {}
    if data.get("resultType") != "matrix" or not isinstance(data.get("result"), list):
        raise SourceError(option, f"{url}: expected a matrix from query_range, got {data.get('resultType')!r}")
    total = Series()
    for result in data["result"]:
        try:
            pairs = [(float(t), float(v)) for t, v in result["values"]]
        except (KeyError, TypeError, ValueError):
            raise SourceError(option, f"{url}: a series without [time, \"value\"] pairs") from None
        points = Series.of((t, v) for t, v in pairs if math.isfinite(v))  # NaN: no value at that step
        total = total.plus(points)
    return total


# -- the cluster as it is now ------------------------------------------------------------------

def _timestamp(text: Optional[str]) -> Optional[float]:
    if not text:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def counting_series(starts: list[float], since: float, now: float) -> Series:
    """How many of the things that started at `starts` (and still exist at `now`) existed over [since, now]."""
    starts = sorted(starts)
    times = [since, *sorted({t for t in starts if since < t < now}), now]
    return Series(tuple((t, float(sum(1 for s in starts if s <= t))) for t in times))


def event_nodes(api, event: Event) -> list[dict]:
    return api.get(f"/api/v1/nodes?labelSelector={quote(f'{EVENT_LABEL}={event.name}', safe='')}").get("items") or []


def event_sessions(api, event: Event, namespace: str) -> list[dict]:
    """Running pods of the user namespace with the event's PriorityClass."""
    pods = api.get(f"/api/v1/namespaces/{namespace}/pods").get("items") or []
    return [p for p in pods if (p.get("spec") or {}).get("priorityClassName") == object_name(event)
            and (p.get("status") or {}).get("phase") == "Running"]


def cluster_series(api, event: Event, namespace: str, since: float, now: float) -> dict[str, Series]:
    """Sessions and nodes of the event over [since, now] as far as the cluster still shows them."""
    nodes = [_timestamp(n["metadata"].get("creationTimestamp")) for n in event_nodes(api, event)]
    pods = [_timestamp((p.get("status") or {}).get("startTime") or p["metadata"].get("creationTimestamp"))
            for p in event_sessions(api, event, namespace)]
    return {"sessions": counting_series([t for t in pods if t is not None], since, now),
            "nodes": counting_series([t for t in nodes if t is not None], since, now)}
