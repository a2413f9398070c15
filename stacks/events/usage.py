"""What a course event used, from time series (pure: no HTTP, no Kubernetes, no Pulumi).

`swan event report` gets, per environment the event borrowed nodes from, two step series: the
event's sessions running and the event's nodes up (from Prometheus, from what the cluster
shows now, or from a recorded samples file: stacks/events/usage_sources.py). This module turns
them into what an organiser and whoever pays want to know: peak and mean sessions against the
seats planned, session-hours, node-hours and GPU-hours of the event's nodes, and an estimated cost
where the environment declares a price per GPU-hour (`swan:eventGpus[].pricePerGpuHour`).

A series is a step function: a sample's value holds until the next sample (Prometheus
`query_range` evaluates at `start + k*step`, so each point stands for the step after it); before
the first sample it is 0, and nothing is known after the last one (the series' end).
"""
from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from typing import Optional

from stacks.errors import Problem

SAMPLES_FORMAT = 1  # version of the samples file (`--from`, and samples.json beside every report)


@dataclass(frozen=True)
class Series:
    """(unix seconds, value) points, sorted by time."""

    points: tuple[tuple[float, float], ...] = ()

    @classmethod
    def of(cls, points) -> "Series":
        return cls(tuple(sorted((float(t), float(v)) for t, v in points)))

    @property
    def end(self) -> Optional[float]:
        return self.points[-1][0] if self.points else None

    def value_at(self, t: float) -> float:
        value = 0.0
        for when, v in self.points:
            if when > t:
                break
            value = v
        return value

    def integral(self, a: float, b: float) -> float:
        """Value-seconds over [a, b], cut at the series' end (nothing is known after it)."""
        if not self.points:
            return 0.0
        b = min(b, self.points[-1][0])
        total = 0.0
        for (t0, v), (t1, _) in zip(self.points, self.points[1:]):
            lo, hi = max(t0, a), min(t1, b)
            if hi > lo:
                total += v * (hi - lo)
        return total

    def peak(self, a: float, b: float) -> tuple[float, Optional[float]]:
        """Highest value holding anywhere in [a, b], and when it was first reached (None: no data there)."""
        best, when = 0.0, None
        held = [(max(t, a), v) for i, (t, v) in enumerate(self.points)
                if t <= b and (self.points[i + 1][0] > a if i + 1 < len(self.points) else t >= a)]
        for t, v in held:
            if when is None or v > best:
                best, when = v, t
        return best, when

    def plus(self, other: "Series") -> "Series":
        """Pointwise sum (at every time either changes), up to the earlier of the two ends."""
        if not self.points or not other.points:
            return self if self.points else other
        end = min(self.end, other.end)
        times = sorted({t for t, _ in self.points + other.points if t <= end})
        return Series(tuple(zip(times, (a + b for a, b in zip(self._held(times), other._held(times))))))

    def _held(self, times: list[float]) -> list[float]:
        """value_at for each of `times` (sorted), in one pass."""
        out, i, value = [], 0, 0.0
        for t in times:
            while i < len(self.points) and self.points[i][0] <= t:
                value = self.points[i][1]
                i += 1
            out.append(value)
        return out


@dataclass(frozen=True)
class Price:
    per_gpu_hour: float
    currency: str


@dataclass(frozen=True)
class EnvironmentSamples:
    """One environment's share of the event: what was planned there and what was measured."""

    environment: str
    seats: int  # sessions the plan places there
    gpus_per_node: int
    sessions: Series
    nodes: Series
    price: Optional[Price] = None


@dataclass(frozen=True)
class Window:
    """The event's times (unix seconds) and the range the report looks at around them."""

    ready_by: float
    start: float
    end: float
    looked_from: float  # ready_by minus the grace: nodes come up before ready_by
    looked_to: float  # end plus the grace: nodes go after the end

    @classmethod
    def of(cls, ready_by: dt.datetime, start: dt.datetime, end: dt.datetime, grace_seconds: float) -> "Window":
        r, s, e = ready_by.timestamp(), start.timestamp(), end.timestamp()
        return cls(r, s, e, r - grace_seconds, e + grace_seconds)


@dataclass(frozen=True)
class EnvironmentUsage:
    environment: str
    seats: int
    peak_sessions: float
    session_hours: float
    node_hours: float
    gpu_hours: float
    price: Optional[Price]

    @property
    def cost(self) -> Optional[float]:
        return None if self.price is None else self.gpu_hours * self.price.per_gpu_hour


@dataclass(frozen=True)
class Usage:
    """The report's numbers. Means are over the event's own time (start to end, as far as data goes);
    peaks, hours and cost over the whole range looked at (nodes cost from when they are up)."""

    window: Window
    seats: int
    sessions: Series  # all environments together
    gpus: Series  # GPUs on the event's nodes, all environments together
    peak_sessions: float
    peak_at: Optional[float]
    mean_sessions: Optional[float]  # None: no data between start and end
    mean_hours: float  # hours of the event the mean covers (less than start..end when data stops early)
    session_hours: float
    node_hours: float
    gpu_hours: float
    environments: list[EnvironmentUsage] = field(default_factory=list)

    @property
    def peak_share(self) -> float:
        return self.peak_sessions / self.seats if self.seats else 0.0

    @property
    def mean_share(self) -> Optional[float]:
        return None if self.mean_sessions is None or not self.seats else self.mean_sessions / self.seats

    @property
    def costs(self) -> dict[str, float]:
        """Estimated cost per currency, over the environments that declare a price."""
        out: dict[str, float] = {}
        for env in self.environments:
            if env.price is not None:
                out[env.price.currency] = out.get(env.price.currency, 0.0) + env.cost
        return out

    @property
    def unpriced(self) -> list[str]:
        """Environments with GPU-hours but no price: the cost leaves them out."""
        return [e.environment for e in self.environments if e.price is None and e.gpu_hours > 0]


def compute_usage(window: Window, environments: list[EnvironmentSamples]) -> Usage:
    a, b = window.looked_from, window.looked_to
    per_env, sessions, gpus = [], Series(), Series()
    for env in environments:
        node_hours = env.nodes.integral(a, b) / 3600
        per_env.append(EnvironmentUsage(
            environment=env.environment, seats=env.seats, peak_sessions=env.sessions.peak(a, b)[0],
            session_hours=env.sessions.integral(a, b) / 3600, node_hours=node_hours,
            gpu_hours=node_hours * env.gpus_per_node, price=env.price))
        sessions = sessions.plus(env.sessions)
        gpus = gpus.plus(Series(tuple((t, v * env.gpus_per_node) for t, v in env.nodes.points)))
    peak, peak_at = sessions.peak(a, b)
    mean_to = min(window.end, sessions.end) if sessions.end is not None else window.start
    mean_seconds = max(0.0, mean_to - window.start)
    mean = sessions.integral(window.start, mean_to) / mean_seconds if mean_seconds > 0 else None
    return Usage(
        window=window, seats=sum(e.seats for e in environments), sessions=sessions, gpus=gpus,
        peak_sessions=peak, peak_at=peak_at, mean_sessions=mean, mean_hours=mean_seconds / 3600,
        session_hours=sum(e.session_hours for e in per_env), node_hours=sum(e.node_hours for e in per_env),
        gpu_hours=sum(e.gpu_hours for e in per_env), environments=per_env)


# -- the samples file: what a report was built from, so it can be built again offline ---------------

def samples_document(event: str, source: str, series: dict[str, dict[str, Series]], note: str = "") -> dict:
    """`series`: environment -> {"sessions": Series, "nodes": Series}."""
    return {"format": SAMPLES_FORMAT, "event": event, "source": source, "note": note,
            "environments": {env: {kind: [[t, v] for t, v in s.points] for kind, s in kinds.items()}
                             for env, kinds in series.items()}}


def read_samples(data, shown: str, event: str, environments: list[str]
                 ) -> tuple[dict[str, dict[str, Series]], str, str, list[Problem]]:
    """The series of a samples file (see `samples_document`), its source and note, and every problem
    found (each naming the file and the key)."""
    problems: list[Problem] = []

    def bad(key: str, message: str) -> None:
        problems.append(Problem(shown, key, message))

    if not isinstance(data, dict):
        bad("", "not a samples file: expected a JSON object with format, event and environments")
        return {}, "", "", problems
    if data.get("format") != SAMPLES_FORMAT:
        bad("format", f"expected {SAMPLES_FORMAT}, got {data.get('format')!r}")
    if data.get("event") != event:
        bad("event", f"these samples are of event {data.get('event')!r}, not {event!r}")
    envs = data.get("environments")
    if not isinstance(envs, dict):
        bad("environments", "expected an object: environment -> {sessions, nodes}")
        return {}, "", "", problems
    for extra in sorted(set(envs) - set(environments)):
        bad(f"environments.{extra}", f"not an environment of this event ({', '.join(environments)})")
    series: dict[str, dict[str, Series]] = {}
    for env in environments:
        kinds = envs.get(env)
        if not isinstance(kinds, dict):
            bad(f"environments.{env}", "missing: every environment of the event needs its sessions and nodes")
            continue
        series[env] = {}
        for kind in ("sessions", "nodes"):
            points = kinds.get(kind)
            key = f"environments.{env}.{kind}"
            if not isinstance(points, list):
                bad(key, "expected a list of [unix seconds, value] pairs")
                continue
            ok = []
            for i, point in enumerate(points):
                if (isinstance(point, list) and len(point) == 2
                        and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                                for x in point) and point[1] >= 0):
                    ok.append(point)
                else:
                    bad(f"{key}[{i}]", f"expected [unix seconds, value >= 0], got {json.dumps(point)}")
                    break
            series[env][kind] = Series.of(ok)
    return series, str(data.get("source") or ""), str(data.get("note") or ""), problems
