"""GPU idle timeouts per pool and per course event (pure: no render): which cullers the hub gets, which
timeouts the config refuses, and what `swan check` says. tests/session runs the real hub on them.
"""
from __future__ import annotations

import copy

import pytest
from typer.testing import CliRunner

from stacks.cli.main import app
from stacks.config.loader import load_stack
from stacks.config.model import EnvironmentConfig
from stacks.platform_layer.hub_values import culling_settings, flavour_timeouts


def _with(cfg: EnvironmentConfig, pool: str, **gpu) -> dict:
    raw = cfg.model_dump(by_alias=True, exclude_unset=True, mode="json")
    raw = copy.deepcopy(raw)
    for p in raw["nodePools"]:
        if p["name"] == pool:
            p["gpu"].update(gpu)
    return raw


def test_a_pool_idle_timeout_gets_its_own_culler_and_its_flavours_map_to_it():
    cfg = load_stack("everything-on")  # gpu-a100: idleTimeout 30m
    assert flavour_timeouts(cfg) == {"A100 partition (5 GB)": 1800, "Tesla T4 (15 GB)": 3600,
                                     "Tesla T4 shared by 4, time-slicing (15 GB)": 3600}
    settings = culling_settings(cfg)
    assert settings["gpuCullers"] == [
        {"timeout": 1800, "service": "swan-gpu-idle-culler-1800s", "group": "swan-gpu-sessions-1800s"},
        {"timeout": 3600, "service": "swan-gpu-idle-culler", "group": "swan-gpu-sessions"}]
    assert settings["flavourTimeouts"] == {"A100 partition (5 GB)": 1800}
    # a pool culled at hub.culling.timeout needs no culler of its own: the one for every session stops it
    same = EnvironmentConfig.model_validate(_with(cfg, "gpu-a100", idleTimeout="4h"))
    assert [c["timeout"] for c in culling_settings(same)["gpuCullers"]] == [3600]
    assert culling_settings(same)["flavourTimeouts"] == {"A100 partition (5 GB)": 14400}


@pytest.mark.parametrize("idle, message", [
    ("5h", "idleTimeout 5h is longer than hub.culling.timeout 4h"),
    ("5m", "idleTimeout 5m is shorter than hub.culling.every 10m"),
])
def test_pool_idle_timeouts_outside_what_the_cullers_can_keep_are_refused(idle, message):
    from pydantic import ValidationError

    cfg = load_stack("everything-on")
    with pytest.raises(ValidationError) as err:
        EnvironmentConfig.model_validate(_with(cfg, "gpu-a100", idleTimeout=idle))
    (problem,) = err.value.errors()
    index = [p.name for p in cfg.node_pools].index("gpu-a100")
    assert problem["loc"] == ("nodePools", index, "gpu", "idleTimeout") and message in problem["msg"]


def test_swan_check_names_disagreeing_pools_and_event_timeouts_no_hub_culls_with(project):
    swan = project.read_swan("everything-on")
    swan["nodePools"].append({"name": "gpu-t4-b", "flavor": "g1.xlarge.t4", "count": 1,
                              "gpu": {"model": "T4", "idleTimeout": "20m"}})
    project.write_config("everything-on", swan)
    event = project.read_swan("event-ml-workshop")
    event["event"]["session"]["idleTimeout"] = "2h"
    project.write_config("event-ml-workshop", event)
    result = CliRunner().invoke(app, ["check", "everything-on", "event-ml-workshop"])
    assert result.exit_code == 2
    added = len(swan["nodePools"]) - 1
    assert (f"config/Pulumi.everything-on.yaml: swan:nodePools[{added}].gpu.idleTimeout: pool gpu-t4-b offers the GPU "
            "flavour 'Tesla T4 (15 GB)' with idle timeout 20m, pool gpu-t4 offers it with 1h") in result.stderr
    assert ("config/Pulumi.event-ml-workshop.yaml: swan:event.session.idleTimeout: 2h is not an idle timeout the "
            "hub of 'openstack-prod' culls with; it has: 1h, 4h") in result.stderr
