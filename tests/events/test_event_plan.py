"""`swan event plan`: the planner's minimum, placed on whole nodes, environments in order of preference."""
from __future__ import annotations

import datetime as dt
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from event_support import BASE_EVENT, event_swan
from stacks.cli.main import app
from stacks.config.loader import load_stack, validate
from stacks.config.event_model import Session
from stacks.events.plan import PlanError, allocate, plan_event
from stacks.planner.pack import pack

runner = CliRunner()


def plan_json(stack: str) -> dict:
    result = runner.invoke(app, ["event", "plan", stack, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_plan_json_of_the_ml_workshop_example(project):
    plan = plan_json("event-ml-workshop")
    cfg = load_stack("event-ml-workshop").event
    assert {"event", "participants", "session_profile", "gpu_model", "gpus", "layouts", "nodes", "window"} <= set(plan)
    assert plan["event"] == "ml-workshop"
    assert plan["participants"] == cfg.participants + cfg.instructors == 64
    assert (plan["session_profile"], plan["gpu_model"]) == ("1g.5gb", "A100-40GB")
    minimum = pack("A100-40GB", {"1g.5gb": 64})
    assert plan["gpus"] == minimum.gpus
    assert plan["layouts"] == minimum.to_json()["layouts"]  # the `gpu pack` shape
    assert sum(layout["count"] for layout in plan["layouts"]) == plan["gpus"]
    (nodes,) = plan["nodes"]
    assert {k: nodes[k] for k in ("pool", "cloud", "gpus_per_node")} == {
        "pool": "event-ml-workshop", "cloud": "openstack", "gpus_per_node": 4}
    assert nodes["count"] == math.ceil(plan["gpus"] / 4)
    assert nodes["mig_config"] == "a100-40gb-7x1g.5gb"
    window = {k: dt.datetime.fromisoformat(v) for k, v in plan["window"].items()}
    assert window["start"] == cfg.start and window["end"] == cfg.end
    assert window["start"] - window["ready_by"] == dt.timedelta(hours=3)  # prewarm: 3h in the example
    assert all(t.tzinfo is not None for t in window.values())


@pytest.mark.parametrize("model, profile, people", [
    ("A100-40GB", "1g.5gb", 1), ("A100-40GB", "1g.5gb", 64), ("A100-40GB", "3g.20gb", 9),
    ("A100-40GB", "full", 5), ("T4", "full", 25), ("A100-80GB", "2g.20gb", 13),
])
def test_gpus_are_the_planners_minimum(project, model, profile, people):
    swan = project.read_swan("openstack-prod")
    swan["nodePools"].append({"name": "gpu-extra", "flavor": "g3.8xlarge", "count": 1,
                              "gpu": {"model": "A100-80GB", "perNode": 4}})
    swan["eventGpus"] = [{"model": m, "flavor": "f", "gpusPerNode": 4, "maxGpus": 400}
                         for m in ("A100-40GB", "A100-80GB", "T4")]
    project.write_config("openstack-prod", swan)
    project.write_config("event-x", event_swan(participants=people, instructors=0,
                                               session={"gpuModel": model, "profile": profile}))
    plan = plan_json("event-x")
    assert plan["gpus"] == pack(model, {profile: people}).gpus
    assert sum(n["count"] * n["gpus_per_node"] for n in plan["nodes"]) == 4 * math.ceil(plan["gpus"] / 4)
    assert sum(n["sessions"] for n in plan["nodes"]) == people


def test_overflow_to_the_second_environment(project):
    """The first environment takes whole nodes up to its maxGpus; the rest goes to the next one."""
    first = project.read_swan("openstack-prod")
    first["eventGpus"] = [{"model": "A100-40GB", "flavor": "g3.8xlarge.a100", "gpusPerNode": 4, "maxGpus": 10}]
    project.write_config("openstack-prod", first)
    second = project.read_swan("openstack-prod")
    second["openstack"]["clusterName"] = "swan-b"
    second["eventGpus"] = [{"model": "A100-40GB", "flavor": "g4.a100", "gpusPerNode": 2, "maxGpus": 8}]
    project.write_config("openstack-b", second)
    project.write_config("event-big", event_swan(participants=90, instructors=5,
                                                 environments=["openstack-prod", "openstack-b"]))
    plan = plan_json("event-big")
    assert plan["gpus"] == 14  # 95 one-slice sessions, seven per A100
    assert [(n["environment"], n["count"], n["gpus_per_node"], n["sessions"]) for n in plan["nodes"]] == [
        ("openstack-prod", 2, 4, 56),   # 10 GPUs allowed, whole 4-GPU nodes: 8
        ("openstack-b", 3, 2, 39),      # the 6 GPUs left, on 2-GPU nodes
    ]


def test_no_overflow_when_the_first_environment_suffices(project):
    second = project.read_swan("openstack-prod")
    project.write_config("openstack-b", second)
    project.write_config("event-small", event_swan(environments=["openstack-prod", "openstack-b"]))
    plan = plan_json("event-small")
    assert [n["environment"] for n in plan["nodes"]] == ["openstack-prod"]


OFFER = st.fixed_dictionaries({"gpus_per_node": st.integers(1, 8), "max_gpus": st.integers(0, 40)})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(people=st.integers(1, 300), offers=st.lists(OFFER, min_size=1, max_size=3),
       profile=st.sampled_from(["1g.5gb", "2g.10gb", "3g.20gb", "full"]))
def test_placement_respects_every_offer_and_covers_the_minimum(project, people, offers, profile):
    env = load_stack("openstack-prod")
    envs = {f"env-{i}": env.model_copy(update={"event_gpus": [env.event_gpus[0].model_copy(update={
        "gpus_per_node": o["gpus_per_node"], "max_gpus": o["max_gpus"]})]}) for i, o in enumerate(offers)}
    minimum = pack("A100-40GB", {profile: people}).gpus
    room = sum(o["max_gpus"] // o["gpus_per_node"] * o["gpus_per_node"] for o in offers)
    if room < minimum:
        with pytest.raises(PlanError, match=f"need {minimum} A100-40GB GPUs"):
            allocate(Session(gpu_model="A100-40GB", profile=profile), people, envs)
        return
    packed, nodes = allocate(Session(gpu_model="A100-40GB", profile=profile), people, envs)
    packed = packed.packed
    assert packed.gpus == minimum
    for i, o in enumerate(offers):
        gpus = sum(n.gpus for n in nodes if n.environment == f"env-{i}")
        assert gpus <= o["max_gpus"] and gpus % o["gpus_per_node"] == 0
    assert minimum <= sum(n.gpus for n in nodes) < minimum + max(o["gpus_per_node"] for o in offers)
    assert sum(n.sessions for n in nodes) == people
    # Preference order: an environment is used only when every earlier one is full.
    used = [any(n.environment == f"env-{i}" for n in nodes) for i in range(len(offers))]
    for i, o in enumerate(offers):
        later = any(used[i + 1:])
        if later:
            gpus = sum(n.gpus for n in nodes if n.environment == f"env-{i}")
            assert o["max_gpus"] - gpus < o["gpus_per_node"]


def test_plan_table_and_chart(project, tmp_path):
    chart = tmp_path / "plan.png"
    result = runner.invoke(app, ["event", "plan", "event-ml-workshop", "--chart", str(chart)])
    assert result.exit_code == 0, result.output
    assert "64 (60 participants + 4 instructors)" in result.stdout
    assert "nvidia.com/mig.config): a100-40gb-7x1g.5gb" in result.stdout
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 5000


def test_plan_from_a_config_object_needs_no_cli(project):
    cfg = validate(event_swan(participants=10, instructors=0), "inline")
    plan = plan_event(cfg)
    assert plan.packed.gpus == pack("A100-40GB", {"1g.5gb": 10}).gpus == 2
    assert plan.to_json()["participants"] == 10
    assert BASE_EVENT["participants"] == 60  # the shared base is not mutated
