"""`swan gpu pack` with memory classes and --sharing: JSON shape, the side-by-side table, MIG
profile demand unchanged, bad input exits 2 naming the option."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from stacks.cli.main import app

runner = CliRunner()


def swan(*args):
    return runner.invoke(app, ["gpu", "pack", *args])


def test_t4_4gb_times_40_plans_10_gpus_with_mps_and_a_device_plugin_config():
    result = swan("--gpu", "T4", "--demand", "4gb=40", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert list(doc) == ["gpu", "gpus", "lower_bound", "sharing", "modes", "layouts", "mig_parted",
                         "device_plugin", "gpus_per_mode"]
    assert (doc["gpu"], doc["gpus"], doc["lower_bound"], doc["sharing"]) == ("T4", 10, 10, "mps")
    assert doc["layouts"] == [{
        "count": 10, "sharing": "mps", "replicas": 4, "mig_devices": {"full": 1},
        "sessions": {"4gb:time-slicing": 40}, "resources": {"nvidia.com/gpu": 4},
        "node_labels": {"nvidia.com/mig.config": "all-disabled", "nvidia.com/device-plugin.config": "mps-4"}}]
    assert doc["device_plugin"] == {
        "default": {"version": "v1"},
        "mps-4": {"version": "v1", "sharing": {"mps": {
            "renameByDefault": False, "failRequestsGreaterThanOne": True,
            "resources": [{"name": "nvidia.com/gpu", "replicas": 4}]}}},
    }
    assert doc["mig_parted"]["mig-configs"] == {"all-disabled": [{"devices": "all", "mig-enabled": False}]}
    assert doc["gpus_per_mode"] == {"whole": 40, "mig": None, "mps": 10, "time-slicing": 10}


@pytest.mark.parametrize("args, gpus, modes", [
    (["--gpu", "T4", "--demand", "4gb=40", "--sharing", "mps"], 10, {"mps": 10}),
    (["--gpu", "T4", "--demand", "4gb=40", "--sharing", "time-slicing"], 10, {"mps": 10}),  # a tie: stronger
    (["--gpu", "T4", "--demand", "4gb=40", "--sharing", "whole"], 40, {"whole": 40}),
    (["--gpu", "T4", "--demand", "4gb@0.25=40"], 10, {"mps": 10}),
    (["--gpu", "T4", "--demand", "4gb@50%=40"], 20, {"mps": 20}),
    (["--gpu", "A100-40GB", "--demand", "5gb=60"], 8, {"mps": 8}),
    (["--gpu", "A100-40GB", "--demand", "5gb=60", "--sharing", "mig"], 9, {"mig": 9}),
    (["--gpu", "a100-40gb", "--demand", "5GB:mig=60", "--sharing", "mps"], 9, {"mig": 9}),
    (["--gpu", "V100", "--demand", "0.5gb=32"], 1, {"time-slicing": 1}),
    (["--gpu", "A100-40GB", "--demand", "1g.5gb=7", "--demand", "4gb:mps=10"], 2, {"mig": 1, "mps": 1}),
    (["--gpu", "A100-40GB", "--demand", "1g.5gb=14", "--sharing", "mps"], 2, {"mig": 2}),
])
def test_sharing_modes_on_the_command_line(args, gpus, modes):
    result = swan(*args, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["gpus"], doc["modes"]) == (gpus, modes)
    for layout in doc["layouts"]:
        name = layout["node_labels"]["nvidia.com/device-plugin.config"]
        assert name in doc["device_plugin"]
        if layout["sharing"] in ("mps", "time-slicing"):
            key = "mps" if layout["sharing"] == "mps" else "timeSlicing"
            assert doc["device_plugin"][name]["sharing"][key]["resources"] == [
                {"name": "nvidia.com/gpu", "replicas": layout["replicas"]}]


def test_mig_profile_demand_keeps_its_json():
    doc = json.loads(swan("--gpu", "A100-40GB", "--demand", "1g.5gb=28", "--demand", "3g.20gb=4", "--json").stdout)
    assert list(doc) == ["gpu", "gpus", "lower_bound", "layouts", "mig_parted"]
    assert doc["layouts"] == [{"count": 4, "mig_devices": {"1g.5gb": 7}}, {"count": 2, "mig_devices": {"3g.20gb": 2}}]


def test_table_shows_modes_side_by_side_and_seats_per_gpu():
    result = runner.invoke(app, ["gpu", "pack", "--gpu", "T4", "--demand", "4gb=40"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()

    def row(text):
        line = next(line for line in lines if text in line and "│" in line)
        return [cell.strip() for cell in line.split("│")[1:-1]]

    assert row("this plan")[1:] == ["10", "30"] and "10 mps" in row("this plan")[0]
    assert row("whole GPUs")[1:] == ["40", "0"]
    assert row("MIG partitions")[1:] == ["-", "no mig on T4"]
    assert row("MPS (device plugin)")[1:] == ["10", "30"]
    assert row("time-slicing (device plugin)")[1:] == ["10", "30"]
    assert "sharing: mps; lower bound: 10 GPUs; plan: 10 GPUs (proven minimal)" in result.stdout
    assert row("4gb:time-slicing") == ["1", "10", "mps", "4", "40 x 4gb:time-slicing"]
    assert row("all-disabled") == ["1", "all-disabled", "mps-4"]
    assert all(len(line) <= 80 for line in lines)


def test_table_of_a_mixed_plan_names_each_layout():
    result = runner.invoke(app, ["gpu", "pack", "--gpu", "A100-40GB", "--demand", "1g.5gb=7", "--demand",
                                 "3gb:mps=20", "--demand", "40gb:whole=1"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "this plan (1 whole, 1 mig, 2 mps)" in out and "sharing: mixed" in out
    assert "a100-40gb-7x1g.5gb" in out and "mps-13" in out
    assert "7: 7 x 1g.5gb" in out
    assert "20 x 3gb:mps (6 spare)" in out  # 2 GPUs of mps-13 for 20 sessions


@pytest.mark.parametrize("args, key, text", [
    (["--gpu", "T4", "--demand", "4gb=40", "--sharing", "mig"], "--sharing",
     "T4 cannot give mig isolation (it has no MIG); it offers: whole, mps, time-slicing"),
    (["--gpu", "T4", "--demand", "4gb=40", "--sharing", "best"], "--sharing", "unknown isolation 'best'"),
    (["--gpu", "T4", "--demand", "24gb=2"], "--demand", "24gb:time-slicing: asks 24 GB of GPU memory; one T4 has 16 GB"),
    (["--gpu", "T4", "--demand", "4gb@1.5=2"], "--demand", "compute share must be more than 0 and at most 1"),
    (["--gpu", "T4", "--demand", "4gb@0=2"], "--demand", "compute share must be more than 0 and at most 1"),
    (["--gpu", "T4", "--demand", "4gb@x=2"], "--demand", "compute share must be a fraction like @0.25"),
    (["--gpu", "T4", "--demand", "4gb:fast=2"], "--demand", "unknown isolation 'fast'"),
    (["--gpu", "L4", "--demand", "4gb:mig=2"], "--demand", "L4 cannot give mig isolation"),
    (["--gpu", "T4", "--demand", "4gb=0"], "--demand", "count must be a positive integer"),
    (["--gpu", "T4", "--demand", "4gb", "--sharing", "mps"], "--demand", "is not MEMORYgb=N or PROFILE=N"),
    (["--gpu", "T4", "--demand", "1g.5gb=3", "--demand", "4gb=1"], "--demand", "'1g.5gb' is neither memory"),
    (["--gpu", "B200", "--demand", "4gb=1"], "--gpu", "unknown GPU model 'B200'"),
])
def test_bad_input_exits_2_naming_the_option(args, key, text):
    result = swan(*args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert f"swan gpu pack: {key}: " in result.stderr and text in result.stderr
    assert "Traceback" not in result.output


def test_every_problem_is_reported_at_once():
    result = swan("--gpu", "B200", "--demand", "4gb@2=1", "--demand", "x", "--sharing", "nope")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert [line.split(": ")[1] for line in lines] == ["--gpu", "--sharing", "--demand", "--demand"]
