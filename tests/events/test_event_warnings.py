"""`swan check` warnings for events (time injected): past events, overlaps over capacity."""
from __future__ import annotations

import datetime as dt

from typer.testing import CliRunner

from event_support import event_swan
from stacks.cli.main import app
from stacks.config.loader import load_stack, validate
from stacks.events.checks import stack_warnings
from stacks.events.calendar import Booking, overloads

UTC = dt.timezone.utc
BEFORE = dt.datetime(2026, 11, 1, tzinfo=UTC)


def event(stack: str, **changes):
    return validate(event_swan(**changes), f"config/Pulumi.{stack}.yaml")


def test_a_finished_event_asks_to_be_destroyed(project):
    stacks = {"event-ml": event("event-ml")}
    during = dt.datetime(2026, 12, 2, 12, tzinfo=UTC)
    after = dt.datetime(2026, 12, 3, 17, 0, 1, tzinfo=UTC)  # 18:00+01:00 is 17:00 UTC
    assert stack_warnings(stacks, now=during) == []
    assert stack_warnings(stacks, now=after) == [
        "event-ml: the event ended 2026-12-03T18:00:00+01:00; time to shrink: `pulumi destroy -s event-ml`"]


def test_overlapping_events_over_the_offer_are_reported_with_the_stretch(project):
    # openstack-prod offers 16 A100-40GB: 10 + 10 GPUs overlap from the second event's ready_by to the first's end.
    stacks = {
        "event-a": event("event-a", name="a"),
        "event-b": event("event-b", name="b", start="2026-12-03T10:00:00+01:00", end="2026-12-05T18:00:00+01:00",
                         prewarm="1h"),
    }
    (warning,) = stack_warnings(stacks, now=BEFORE)
    assert warning == ("openstack-prod: overlapping events event-a, event-b need up to 24 A100-40GB GPUs from "
                       "2026-12-03T09:00:00+01:00 to 2026-12-03T18:00:00+01:00, but swan:eventGpus offers 16")


def test_overlaps_within_the_offer_or_apart_in_time_are_fine(project):
    small = {"participants": 30, "instructors": 0}  # 5 GPUs, on two 4-GPU nodes: 8
    stacks = {
        "event-a": event("event-a", name="a", **small),
        "event-b": event("event-b", name="b", **small),
        "event-c": event("event-c", name="c", start="2026-12-03T18:00:00+01:00", end="2026-12-04T18:00:00+01:00",
                         prewarm="0s"),  # starts when a and b end: no overlap
    }
    assert stack_warnings(stacks, now=BEFORE) == []


def test_different_gpu_models_do_not_compete(project):
    stacks = {
        "event-ml-workshop": load_stack("event-ml-workshop"),
        "event-a": event("event-a", name="a", participants=10, instructors=0,  # within the GPU quota of 12
                         session={"gpuModel": "T4", "profile": "full"}),
    }
    assert stack_warnings(stacks, now=BEFORE) == []


def test_event_sessions_do_not_count_against_the_environments_user_quota(project):
    """The environment's swan-users ResourceQuota excludes pods with a PriorityClass (event pods)."""
    stacks = {"event-a": event("event-a", name="a", participants=28, instructors=2,
                               session={"gpuModel": "T4", "profile": "full", "cores": 2, "memory": "8Gi"})}
    assert stack_warnings(stacks, now=BEFORE) == []


def test_swan_check_prints_the_warnings_and_still_passes(project, write_event):
    write_event("event-old", name="old", start="2025-01-10T09:00:00+01:00", end="2025-01-12T18:00:00+01:00")
    result = CliRunner().invoke(app, ["check", "event-old"])
    assert result.exit_code == 0, result.output
    assert "warning: event-old: the event ended 2025-01-12T18:00:00+01:00" in result.stderr


def _booking(stack, gpus, start, end):
    return Booking(stack, "env", "A100-40GB", gpus, dt.datetime(2026, 12, start, tzinfo=UTC),
                   dt.datetime(2026, 12, end, tzinfo=UTC))


def test_overloads_merge_adjacent_stretches_and_keep_the_peak():
    items = [_booking("a", 8, 1, 5), _booking("b", 8, 2, 4), _booking("c", 4, 3, 6)]
    (over,) = overloads(items, {("env", "A100-40GB"): 12})  # 16 on day 2, 20 on day 3, 12 on day 4
    assert (over.start.day, over.end.day, over.peak, over.stacks) == (2, 4, 20, ("a", "b", "c"))
    (over,) = overloads(items, {("env", "A100-40GB"): 11})
    assert (over.start.day, over.end.day, over.peak) == (2, 5, 20)
    assert overloads(items, {("env", "A100-40GB"): 20}) == []
