"""Bad event stacks: `swan check` exits 2 and names the file and the `swan:event...` key."""
from __future__ import annotations

import yaml

import pytest
from typer.testing import CliRunner

from stacks.cli.main import app
from event_support import BASE_EVENT

runner = CliRunner()

SESSION = BASE_EVENT["session"]

BAD_EVENTS = [
    # (what is wrong, changes to the base event, expected text after "config/Pulumi.event-bad.yaml: ")
    ("start without time zone", {"start": "2026-12-01T09:00:00"},
     "swan:event.start: Input should have timezone info"),
    ("end without time zone", {"end": "2026-12-03 18:00"}, "swan:event.end: Input should have timezone info"),
    ("end before start", {"end": "2026-11-30T18:00:00+01:00"},
     "swan:event.end: end 2026-11-30T18:00:00+01:00 must be after start 2026-12-01T09:00:00+01:00"),
    ("profile the model cannot host", {"session": {**SESSION, "profile": "1g.6gb"}},
     "swan:event.session.profile: profile '1g.6gb' cannot run on A100-40GB"),
    ("MIG profile on a GPU without MIG", {"session": {**SESSION, "gpuModel": "T4"}},
     "swan:event.session.profile: profile '1g.5gb' cannot run on T4"),
    ("unknown GPU model", {"session": {**SESSION, "gpuModel": "A200"}}, "swan:event.session.gpuModel: Input should be"),
    ("environment without an offer for the model", {"environments": ["oci-pilot"]},
     "swan:event.environments: environment 'oci-pilot' offers no A100-40GB GPUs for events"),
    ("demand beyond every offer", {"participants": 200},
     "swan:event.environments: 204 sessions of 1g.5gb need 30 A100-40GB GPUs, more than the environments offer"),
    ("kind cannot grow", {"environments": ["kind"]},
     "swan:event.environments: environment 'kind' is a kind cluster: it cannot grow"),
    ("unknown environment", {"environments": ["openstack-test"]},
     "swan:event.environments: no environment stack 'openstack-test'"),
    ("an event stack is no environment", {"environments": ["event-ml-workshop"]},
     "swan:event.environments: stack 'event-ml-workshop' is a event stack, not an environment"),
    ("environment twice", {"environments": ["openstack-prod", "openstack-prod"]},
     "swan:event.environments: each environment may be listed once"),
    ("no participants", {"participants": 0}, "swan:event.participants: Input should be greater than or equal to 1"),
    ("no group", {"group": None}, "swan:event.group: required key is missing"),
    ("bad prewarm", {"prewarm": "two hours"}, "swan:event.prewarm: 'two hours' is not a duration"),
    ("name not a label", {"name": "ML_Workshop"}, "swan:event.name: 'ML_Workshop' is not a valid name"),
    ("name too long", {"name": "a" * 41}, "swan:event.name: at most 40 characters"),
    ("unknown key", {"room": "B-500"}, "swan:event.room: unknown key"),
    ("placeholder share above 1", {"placeholders": 1.5},
     "swan:event.placeholders: 1.5 is not a share of the seats: a share is between 0.0 and 1.0"),
    ("more placeholders than seats", {"placeholders": 65},
     "swan:event.placeholders: 65 placeholders are more than the event's 64 seats (60 participants + 4 instructors)"),
    ("negative placeholders", {"placeholders": -2}, "swan:event.placeholders: -2 placeholders: give 0 or more seats"),
    ("placeholders as a percentage", {"placeholders": "50%"}, "swan:event.placeholders: '50%' is not a number"),
]


@pytest.mark.parametrize("case, changes, expected", BAD_EVENTS, ids=[c[0] for c in BAD_EVENTS])
def test_bad_event_is_named_with_file_and_key(write_event, case, changes, expected):
    write_event("event-bad", **changes)
    result = runner.invoke(app, ["check", "event-bad"])
    assert result.exit_code == 2, result.output
    assert f"config/Pulumi.event-bad.yaml: {expected}" in result.stderr
    assert "Traceback" not in result.output


def test_unquoted_time_asks_for_quotes(project):
    """YAML would turn it into a timestamp, which the Pulumi config cannot carry."""
    project.write("event-bad", "config:\n  swan:kind: event\n  swan:event:\n"
                  "    name: ml\n    title: ML\n    environments: [openstack-prod]\n"
                  "    start: 2026-12-01T09:00:00+01:00\n    end: '2026-12-03T18:00:00+01:00'\n"
                  "    participants: 5\n    group: g\n    session: {gpuModel: T4, profile: full}\n")
    result = runner.invoke(app, ["check", "event-bad"])
    assert result.exit_code == 2
    assert "config/Pulumi.event-bad.yaml: swan:event.start: write the time in quotes" in result.stderr


def test_an_environment_with_errors_is_pointed_to(project, write_event):
    swan = project.read_swan("openstack-prod")
    swan["hub"]["host"] = "not a host"
    project.write_config("openstack-prod", swan)
    write_event("event-bad")
    result = runner.invoke(app, ["check", "event-bad"])
    assert result.exit_code == 2
    assert ("config/Pulumi.event-bad.yaml: swan:event.environments: environment stack 'openstack-prod' has "
            "config errors; run `swan check openstack-prod`") in result.stderr


def test_an_offered_model_brings_its_mig_layouts_without_a_node_pool(project, write_event, tmp_path):
    """oci-pilot runs no A100-40GB pool; offering A100-40GB to events is enough for MIG events,
    because the environment's gpu-operator then holds that model's layouts too."""
    from stacks.planner.mig_parted import catalog
    from stacks.render import render

    swan = project.read_swan("oci-pilot")
    swan["eventGpus"].append({"model": "A100-40GB", "flavor": "BM.GPU4.8", "gpusPerNode": 8, "maxGpus": 16})
    project.write_config("oci-pilot", swan)
    write_event("event-mig", environments=["oci-pilot"])
    assert runner.invoke(app, ["check", "event-mig"]).exit_code == 0
    out, _ = render("oci-pilot", tmp_path / "oci")
    mig = yaml.safe_load((out / "k8s" / "ConfigMap-gpu-operator-swan-mig-parted-config.yaml").read_text())
    layouts = yaml.safe_load(mig["data"]["config.yaml"])["mig-configs"]
    assert set(catalog(["A100-40GB"])["mig-configs"]) <= set(layouts)


def test_committed_event_examples_are_valid(project):
    for stack in ("event-ml-workshop", "event-physics-course", "event-llm-hackathon"):
        result = runner.invoke(app, ["check", stack])
        assert result.exit_code == 0, result.output


def test_event_plan_of_an_environment_stack_is_refused(project):
    result = runner.invoke(app, ["event", "plan", "kind"])
    assert result.exit_code == 2
    assert "config/Pulumi.kind.yaml: swan:kind: 'kind' is an environment stack, not an event" in result.stderr
