"""Benchmark: wall time of `swan render` per stack, with chart templating, next to the time of
merely importing the SDKs.

Each measurement runs in a fresh interpreter (imports are cached within one). The render run
reports which SDK modules the program loaded (Pulumi and its providers, and scipy, the planner's
solver, for event stacks); a second interpreter imports exactly those, so the difference is the
program's own overhead (config, components, mock engine, writing files). An event stack runs two
programs: its environment's first (for the StackReference), then its own.
Targets: the program adds less than 1 s over the imports; the whole `swan render STACK` command,
real charts templated with helm, takes less than 3 s. Charts come from SWAN_CHARTS (default: the
shared/reference/charts mirror beside the repository). Prints numbers; asserts nothing.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SDK_PREFIXES = ("pulumi", "pulumi_kubernetes", "pulumi_openstack", "pulumi_oci", "grpc", "google.protobuf", "scipy")
RUNS = 3
MIRROR = REPO.parent / "shared" / "reference" / "charts"
ENV = {**os.environ, "SWAN_CHARTS": os.environ.get("SWAN_CHARTS", str(MIRROR))}
SWAN = Path(sys.executable).with_name("swan")

RENDER = """
import json, sys, time
t0 = time.perf_counter()
from stacks.render import render
_, rendered = render(sys.argv[1], __import__("pathlib").Path(sys.argv[2]) / "out")
elapsed = time.perf_counter() - t0
prefixes = tuple(json.loads(sys.argv[3]))
sdk = sorted(m for m in sys.modules if m.split(".")[0] in {p.split(".")[0] for p in prefixes})
print(json.dumps({"seconds": elapsed, "modules": sdk}))
"""

IMPORTS = """
import importlib, json, sys, time
modules = json.loads(sys.stdin.read())
t0 = time.perf_counter()
for name in modules:
    try:
        importlib.import_module(name)
    except Exception:
        pass
print(time.perf_counter() - t0)
"""


def stacks() -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in (REPO / "config").glob("Pulumi.*.yaml"))


CHARTS = """
import sys, time
from stacks import charts
from stacks.render import run_program, template_charts
rendered = run_program(sys.argv[1])
t0 = time.perf_counter()
done = template_charts(rendered, charts.chart_dirs())
print(time.perf_counter() - t0, sum(len(t.objects or []) for t in done), sum(1 for t in done if t.problem))
"""


def measure(stack: str) -> dict[str, float]:
    runs: dict[str, list[float]] = {"render": [], "imports": [], "charts": [], "command": []}
    objects = failures = 0
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory() as out:
            done = subprocess.run([sys.executable, "-c", RENDER, stack, out, json.dumps(SDK_PREFIXES)],
                                  cwd=REPO, capture_output=True, text=True, check=True, env=ENV)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        runs["render"].append(result["seconds"])
        imported = subprocess.run([sys.executable, "-c", IMPORTS], input=json.dumps(result["modules"]),
                                  cwd=REPO, capture_output=True, text=True, check=True, env=ENV)
        runs["imports"].append(float(imported.stdout.strip()))
        templated = subprocess.run([sys.executable, "-c", CHARTS, stack], cwd=REPO, capture_output=True, text=True,
                                   check=True, env=ENV).stdout.split()
        runs["charts"].append(float(templated[0]))
        objects, failures = int(templated[1]), int(templated[2])
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            subprocess.run([str(SWAN), "render", stack, "--out", f"{out}/r", "--require-charts"], cwd=REPO,
                           capture_output=True, check=True, env=ENV)
            runs["command"].append(time.perf_counter() - t0)
    medians = {k: statistics.median(v) for k, v in runs.items()}
    return {**medians, "objects": objects, "failures": failures}


def main() -> None:
    print(f"swan render, median of {RUNS} fresh interpreters per stack (seconds); charts from {ENV['SWAN_CHARTS']}")
    print(f"{'stack':<24}{'render':>8}{'SDK imports':>13}{'overhead':>10}{'charts':>8}{'objects':>9}"
          f"{'whole command':>15}")
    for stack in stacks():
        try:
            m = measure(stack)
        except subprocess.CalledProcessError as exc:
            print(f"{stack:<24} failed: {exc.stderr.strip().splitlines()[-1] if exc.stderr else exc}")
            continue
        failed = f" ({m['failures']} releases not templated)" if m["failures"] else ""
        print(f"{stack:<24}{m['render']:>8.2f}{m['imports']:>13.2f}{m['render'] - m['imports']:>10.2f}"
              f"{m['charts']:>8.2f}{m['objects']:>9}{m['command']:>15.2f}{failed}")
    print("targets: overhead < 1.00 s; whole command (program + helm template of every release) < 3.00 s")


if __name__ == "__main__":
    main()
