"""The pydantic model of a course-event stack (`swan:kind: event`).

An event borrows GPU capacity from one or more environment stacks, in order of preference,
for a time window. Everything an operator can get wrong is caught here, with the key named:
the window (time zones, end after start), the session (a profile the GPU model can host),
and, when the file is checked (`swan check`, `swan render`), whether the environments named
exist and set aside enough GPUs of that model in their `swan:eventGpus` for everyone (that
rule reads other stacks, so it runs after loading: stacks/events/checks.py).
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Any, Literal

from fractions import Fraction

from pydantic import AwareDatetime, Field, ValidationInfo, field_validator, model_validator

from stacks.config.types import (ByteSize, Duration, GpuModelName, Model, Name, PositiveDuration, Quantity,
                                 duration_seconds, quantity_value)

MAX_EVENT_NAME = 40  # leaves room for prefixes in object and node-group names (63 characters)


def _no_yaml_timestamp(value: Any) -> Any:
    """YAML turns an unquoted time into a timestamp object; Pulumi config needs it as text."""
    if isinstance(value, (dt.datetime, dt.date)):
        raise ValueError(f"write the time in quotes, e.g. \"{value.isoformat()}\", so that it stays text "
                         "in the Pulumi config")
    return value


class Session(Model):
    """What every participant and instructor gets: a MIG slice, a whole GPU, or a share of one (by the GPU
    memory it needs), cores and memory."""

    gpu_model: GpuModelName
    """GPU model of the sessions; every environment named must offer it in its eventGpus."""
    profile: str | None = None
    """MIG profile of gpuModel (e.g. 1g.5gb), or `full` for a whole GPU; or give gpuMemory instead."""
    gpu_memory: ByteSize | None = None
    """GPU memory each session needs (e.g. 4Gi), instead of a profile: the planner shares GPUs the way that
    needs the fewest (MPS, time-slicing, MIG or whole GPUs) within `isolation`."""
    isolation: Literal["time-slicing", "mps", "mig", "whole"] = "time-slicing"
    """With gpuMemory, the weakest isolation accepted: time-slicing (any), mps (memory and compute limits),
    mig (hardware partitions) or whole (a GPU each)."""
    cores: float = Field(2, gt=0, le=256)
    """CPU limit of each session in cores (the request is a quarter of it)."""
    memory: Quantity = "8Gi"
    """Memory limit of each session (the request is half of it)."""
    idle_timeout: PositiveDuration | None = None
    """Idle time after which a session is stopped; unset: the environment's hub.culling.gpuTimeout.
    The hub culls with the timeouts it was deployed with, so this must be one of each environment's:
    hub.culling.timeout, gpuTimeout or a GPU pool's gpu.idleTimeout (`swan check` says which)."""

    @field_validator("profile")
    @classmethod
    def _profile_fits_model(cls, profile: str, info: ValidationInfo) -> str:
        from stacks.planner.geometry import MODELS

        model = info.data.get("gpu_model")
        if model is None:  # the model itself is wrong; that error is reported on its own key
            return profile
        known = {p.lower(): p for p in MODELS[model].profiles}
        if profile.strip().lower() not in known:
            raise ValueError(f"profile '{profile}' cannot run on {model}; its profiles are: "
                             f"{', '.join(MODELS[model].profiles)}")
        return known[profile.strip().lower()]

    @model_validator(mode="after")
    def _profile_or_memory(self) -> "Session":
        from stacks.planner.geometry import MODELS

        if self.profile is not None and self.gpu_memory is not None:
            raise ValueError("give profile or gpuMemory, not both")
        if self.profile is None and self.gpu_memory is None:
            raise ValueError("give profile (a MIG profile, or full for a whole GPU) or gpuMemory (the planner "
                             "shares GPUs)")
        gpu = MODELS[self.gpu_model]
        if self.gpu_memory is not None and self.memory_gb > gpu.memory_gb:
            raise ValueError(f"gpuMemory {self.gpu_memory} is more than a whole {self.gpu_model} has "
                             f"({gpu.memory_gb} GB)")
        if self.gpu_memory is not None and self.isolation == "mig" and not gpu.mig:
            raise ValueError(f"isolation mig: a {self.gpu_model} has no MIG; accept mps or time-slicing, or whole")
        return self

    @property
    def memory_gb(self) -> Fraction:
        """gpuMemory in GB as GPU names count them (4Gi: 4; a T4 has 16)."""
        return Fraction(int(quantity_value(self.gpu_memory or "0")), 2**30)


class Event(Model):
    """One course event: who, when, which session, and where the GPUs come from."""

    name: Name
    """Short name (lower-case, at most 40 characters), used in node labels, taints and object names."""
    title: str = Field(min_length=1)
    """Title shown to participants: it names the event's GPU flavour in SWAN's form."""
    start: AwareDatetime
    """Start, quoted and with a time zone (e.g. "2026-12-01T09:00:00+01:00")."""
    end: AwareDatetime
    """End, quoted and with a time zone; after start. The event's GPU flavour is offered until then."""
    prewarm: Duration = "2h"
    """Nodes are ready this long before the start (ready_by: run `pulumi up` before it); the GPU flavour is
    offered from then."""
    grace: Duration = "15m"
    """After the end, the nodes stay this long before `swan event reconcile` destroys them (sessions that
    were still open end, a last look at the cluster is possible)."""
    participants: int = Field(ge=1, le=10000)
    """Participants, each of whom gets a session (1-10000)."""
    instructors: int = Field(0, ge=0, le=1000)
    """Instructors, who get a session too (0-1000)."""
    group: str = Field(min_length=1)
    """Who may use the event's sessions: a Keycloak client role (with the dummy login, a hub group)."""
    session: Session
    """What every participant and instructor gets."""
    placeholders: int | float = 0
    """Seats held by placeholder pods on the event's nodes until sessions take them: a share of the seats
    written with a point (0.5: half, rounded up) or a count (30); 0: none. Event nodes pull the user image
    in any case."""
    # Last, so that its check sees the session and head count above.
    environments: list[Name] = Field(min_length=1)
    """Environment stacks the GPUs come from, in order of
    preference (overflow goes to the next); each named once."""

    @field_validator("start", "end", mode="before")
    @classmethod
    def _quoted(cls, value: Any) -> Any:
        return _no_yaml_timestamp(value)

    @field_validator("name")
    @classmethod
    def _short_name(cls, name: str) -> str:
        if len(name) > MAX_EVENT_NAME:
            raise ValueError(f"at most {MAX_EVENT_NAME} characters (it prefixes node group and object names)")
        return name

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, end: dt.datetime, info: ValidationInfo) -> dt.datetime:
        start = info.data.get("start")
        if start is not None and end <= start:
            raise ValueError(f"end {end.isoformat()} must be after start {start.isoformat()}")
        return end

    @field_validator("placeholders", mode="before")
    @classmethod
    def _a_number(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError(f"'{value}' is not a number: write a share of the seats as a number between 0.0 and "
                             "1.0 (e.g. 0.5, unquoted), a count as a whole number (e.g. 30)")
        return value

    @field_validator("placeholders")
    @classmethod
    def _share_or_count(cls, value: int | float, info: ValidationInfo) -> int | float:
        if isinstance(value, float):
            if not 0 <= value <= 1:  # NaN fails too
                raise ValueError(f"{value} is not a share of the seats: a share is between 0.0 and 1.0 (e.g. 0.5 "
                                 "for half); a count of seats is a whole number (e.g. 30)")
            return value
        if value < 0:
            raise ValueError(f"{value} placeholders: give 0 or more seats (or a share between 0.0 and 1.0)")
        participants, instructors = info.data.get("participants"), info.data.get("instructors")
        if participants is not None and instructors is not None and value > participants + instructors:
            raise ValueError(f"{value} placeholders are more than the event's {participants + instructors} seats "
                             f"({participants} participants + {instructors} instructors)")
        return value

    @field_validator("environments")
    @classmethod
    def _environments_once(cls, environments: list[str]) -> list[str]:
        """Whether they exist and have room is checked across stacks (stacks/events/checks.py)."""
        if len(set(environments)) != len(environments):
            raise ValueError(f"each environment may be listed once, got {environments}")
        return environments

    @property
    def sessions(self) -> int:
        """Everyone who needs a session: participants and instructors."""
        return self.participants + self.instructors

    @property
    def placeholder_seats(self) -> int:
        """Seats placeholder pods hold: the count given, or the share of all seats rounded up."""
        if isinstance(self.placeholders, float):
            return math.ceil(self.placeholders * self.sessions - 1e-9)
        return self.placeholders

    @property
    def ready_by(self) -> dt.datetime:
        return self.start - dt.timedelta(seconds=duration_seconds(self.prewarm))


class EventConfig(Model):
    """An event stack: `pulumi up -s event-<name>` expands environments, `pulumi destroy` shrinks them."""

    kind: Literal["event"] = "event"
    """Stack kind: `event`, required in an event stack."""
    event: Event
    """The course event."""

    def referenced_stacks(self) -> list[str]:
        """Environment stacks this event reads through StackReferences (rendered first offline)."""
        return list(self.event.environments)
