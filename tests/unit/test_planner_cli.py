"""`swan gpu pack` as an operator runs it: JSON shape, the comparison table, bad input exits 2."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from stacks.cli.main import app

runner = CliRunner()


def swan(*args):
    return runner.invoke(app, ["gpu", "pack", *args])


def test_json_has_the_design_shape():
    result = swan("--gpu", "a100-40gb", "--demand", "1g.5gb=20", "--demand", "3g.20gb=2",
                  "--demand", "1g.5gb=8", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert list(doc) == ["gpu", "gpus", "lower_bound", "layouts", "mig_parted"]
    assert doc["gpu"] == "A100-40GB"
    assert doc["gpus"] == sum(l["count"] for l in doc["layouts"]) == 5
    assert doc["lower_bound"] == 5
    assert all(set(l) == {"count", "mig_devices"} for l in doc["layouts"])
    assert {"count": 4, "mig_devices": {"1g.5gb": 7}} in doc["layouts"]
    assert doc["mig_parted"]["version"] == "v1"
    assert "a100-40gb-7x1g.5gb" in doc["mig_parted"]["mig-configs"]


def test_json_for_a_gpu_without_mig():
    doc = json.loads(swan("--gpu", "T4", "--demand", "full=25", "--json").stdout)
    assert doc["gpus"] == 25 and doc["layouts"] == [{"count": 25, "mig_devices": {"full": 1}}]
    assert doc["mig_parted"]["mig-configs"]["all-disabled"][0]["mig-enabled"] is False


def test_table_compares_plan_whole_gpus_and_uniform_layouts():
    result = swan("--gpu", "A30-24GB", "--demand", "1g.6gb=2", "--demand", "2g.12gb=1")
    assert result.exit_code == 0, result.output
    out = result.stdout
    plan = next(line for line in out.splitlines() if "this plan" in line)
    whole = next(line for line in out.splitlines() if "whole GPU per session" in line)
    uniform = next(line for line in out.splitlines() if "uniform" in line)
    assert [int(x) for x in whole.split("│")[2:4]] == [3, 0]
    assert [int(x) for x in uniform.split("│")[2:4]] == [2, 1]
    assert [int(x) for x in plan.split("│")[2:4]] == [1, 2]
    assert "a30-24gb-1x2g.12gb-2x1g.6gb" in out


@pytest.mark.parametrize("args, key, text", [
    (["--gpu", "A200", "--demand", "1g.5gb=1"], "--gpu", "unknown GPU model 'A200'"),
    (["--gpu", "A30-24GB", "--demand", "1g.5gb=1"], "--demand", "its profiles are: 1g.6gb, 2g.12gb, 4g.24gb, full"),
    (["--gpu", "L4", "--demand", "1g.5gb=1"], "--demand", "its profiles are: full"),
    (["--gpu", "A100-40GB", "--demand", "1g.5gb=0"], "--demand", "positive integer"),
    (["--gpu", "A100-40GB", "--demand", "1g.5gb=-3"], "--demand", "positive integer"),
    (["--gpu", "A100-40GB", "--demand", "1g.5gb=two"], "--demand", "positive integer"),
    (["--gpu", "A100-40GB", "--demand", "1g.5gb"], "--demand", "is not PROFILE=N"),
    (["--gpu", "A100-40GB", "--demand", "=4"], "--demand", "is not PROFILE=N"),
])
def test_bad_input_exits_2_naming_the_option(args, key, text):
    result = swan(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"swan gpu pack: {key}: " in result.stderr
    assert text in result.stderr
    assert "Traceback" not in result.output


def test_every_problem_is_reported_at_once():
    result = swan("--gpu", "B100", "--demand", "x", "--demand", "1g.5gb=0", "--json")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("swan gpu pack: --gpu: ")


def test_missing_demand_is_a_usage_error():
    result = swan("--gpu", "A100-40GB")
    assert result.exit_code == 2 and "--demand" in result.output
