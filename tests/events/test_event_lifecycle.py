"""An event's phase and the action due, on a table of times (edge instants included), and where the
lead time and grace come from (the environments' eventGpus offers the plan uses, the event file)."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from event_support import set_event_offers
from stacks.cli.main import app
from stacks.events.lifecycle import PHASES, Standing, Window, possible, standing

UTC = dt.timezone.utc
T = lambda hhmm, day=1: dt.datetime(2026, 12, day, int(hhmm[:2]), int(hhmm[3:]), tzinfo=UTC)  # noqa: E731
# ready_by 07:00, start 09:00, end 17:00 on the 2nd; lead 30m (up from 06:30), grace 15m (down from 17:15)
W = Window(ready_by=T("07:00"), start=T("09:00"), end=T("17:00", 2), lead=dt.timedelta(minutes=30),
           grace=dt.timedelta(minutes=15))
SECOND = dt.timedelta(seconds=1)

TABLE = [
    # at, deployed, proven -> phase, action
    (T("00:00"), False, False, "scheduled", None),
    (T("06:30") - SECOND, False, False, "scheduled", None),
    (T("06:30"), False, False, "due-up", "up"),                 # ready_by - lead: up is due at that instant
    (T("08:59"), False, False, "due-up", "up"),                 # late, but still worth bringing up
    (T("12:00", 2), False, False, "due-up", "up"),              # during the event, never brought up
    (T("17:00", 2) - SECOND, False, False, "due-up", "up"),
    (T("17:00", 2), False, False, "ended", None),               # at the end: too late to bring up
    (T("20:00", 3), False, False, "ended", None),
    (T("06:00"), True, False, "warming", None),                 # brought up early by hand: nothing to do yet
    (T("06:45"), True, False, "warming", None),                 # nodes coming up; the flavour is not offered yet
    (T("07:00") - SECOND, True, False, "warming", None),
    (T("07:00"), True, False, "warming", "verify"),             # ready_by: the hub offers the flavour, prove it
    (T("08:59"), True, False, "warming", "verify"),
    (T("07:00"), True, True, "ready", None),
    (T("09:00") - SECOND, True, True, "ready", None),
    (T("09:00"), True, False, "running", None),                 # the start: participants use it, no more proofs
    (T("09:00"), True, True, "running", None),
    (T("17:00", 2), True, True, "running", None),               # the end: grace, sessions still ending
    (T("17:15", 2) - SECOND, True, False, "running", None),
    (T("17:15", 2), True, False, "due-down", "destroy"),        # end + grace: destroy at that instant
    (T("17:15", 2), True, True, "due-down", "destroy"),
    (T("09:00", 9), True, True, "due-down", "destroy"),         # a week late, still due
]


@pytest.mark.parametrize("at, deployed, proven, phase, action", TABLE,
                         ids=[f"{at:%dT%H:%M:%S}-{'up' if d else 'down'}{'-proven' if p else ''}"
                              for at, d, p, _, _ in TABLE])
def test_phase_and_action_at_a_time(at, deployed, proven, phase, action):
    assert standing(W, at, deployed, proven) == Standing(phase, action)


def test_every_phase_is_reachable_and_the_zone_of_the_time_does_not_matter():
    assert {phase for _, _, _, phase, _ in TABLE} == set(PHASES)
    paris = dt.timezone(dt.timedelta(hours=1))
    assert standing(W, T("06:30").astimezone(paris), False, False) == Standing("due-up", "up")
    with pytest.raises(ValueError):
        standing(W, dt.datetime(2026, 12, 1, 7), True, False)


@pytest.mark.parametrize("at, deployed, expected", [
    (T("00:00"), None, ["scheduled", "warming", "ready"]),      # offline: deployed early by hand or not
    (T("07:30"), None, ["due-up", "warming", "ready"]),
    (T("12:00"), None, ["due-up", "running"]),
    (T("17:05", 2), None, ["running", "ended"]),
    (T("18:00", 2), None, ["due-down", "ended"]),
    (T("07:30"), True, ["warming", "ready"]),                   # deployed known, proof unknown
])
def test_unknown_state_gives_every_phase_the_time_allows(at, deployed, expected):
    assert [s.phase for s in possible(W, at, deployed, None)] == expected


def test_known_state_gives_exactly_one_standing():
    assert possible(W, T("07:30"), True, False) == [Standing("warming", "verify")]


# -- lead time and grace from the stack files -------------------------------------------------------
runner = CliRunner()


def _status(at: str) -> dict:
    result = runner.invoke(app, ["event", "status", "--json", "--at", at])
    assert result.exit_code == 0, result.output
    return {e["stack"]: e for e in json.loads(result.stdout)["events"]}


def test_lead_is_the_largest_over_the_offers_the_plan_uses(project, write_event):
    """Overflow into a second environment whose nodes are slower moves the up earlier; an offer of the
    same environment for another GPU model (not used) does not."""
    prod = project.read_swan("openstack-prod")["eventGpus"]
    for offer in prod:
        offer.update({"A100-40GB": {"maxGpus": 12, "leadTime": "20m"}}.get(offer["model"], {"leadTime": "6h"}))
    set_event_offers(project, "openstack-prod", prod)
    oci = project.read_swan("oci-pilot")["eventGpus"]  # the hackathon's A100-80GB stays offered
    set_event_offers(project, "oci-pilot", oci + [
        {"model": "A100-40GB", "flavor": "BM.GPU4.8", "gpusPerNode": 8, "maxGpus": 16, "leadTime": "90m"}])
    write_event("event-big", name="big", environments=["openstack-prod", "oci-pilot"], grace="1h", participants=150)
    write_event("event-small", name="small", participants=10, instructors=0)
    e = _status("2026-11-30T12:00:00Z")
    assert (e["event-big"]["lead_seconds"], e["event-big"]["lead_from"]) == (5400, "oci-pilot")
    assert (e["event-small"]["lead_seconds"], e["event-small"]["lead_from"]) == (1200, "openstack-prod")
    assert e["event-big"]["grace_seconds"] == 3600 and e["event-small"]["grace_seconds"] == 900
    # ready_by 07:00+01:00 = 06:00Z; up from 04:30Z for big, 05:40Z for small
    assert e["event-big"]["up_from"] == "2026-12-01T05:30:00+01:00"
    at_0500z = _status("2026-12-01T05:00:00Z")
    assert at_0500z["event-big"]["possible_actions"] == ["up"]
    assert at_0500z["event-small"]["possible_actions"] == []


def test_status_offline_says_the_deployed_state_is_unknown(project):
    result = runner.invoke(app, ["event", "status", "--at", "2026-12-01T07:30:00+01:00"])
    assert result.exit_code == 0, result.output
    assert "deployed state unknown" in result.stdout
    e = _status("2026-12-01T07:30:00+01:00")["event-ml-workshop"]
    assert e["deployed"] is None and e["phase"] is None
    assert e["possible_phases"] == ["due-up", "warming", "ready"] and e["possible_actions"] == ["up", "verify"]


def test_status_table_keeps_stacks_and_phases_whole_at_80_columns(project):
    result = runner.invoke(app, ["event", "status", "--at", "2026-12-01T07:30:00+01:00"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.stdout.splitlines() if line.startswith(("┃", "│"))) <= 80
    for word in ("event-ml-workshop", "event-physics-course", "due-up", "warming", "ready", "scheduled", "verify"):
        assert word in result.stdout
