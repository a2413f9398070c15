"""Benchmark: wall time of `swan render` per stack next to the time of merely importing the SDKs.

Each measurement runs in a fresh interpreter (imports are cached within one). The render run
reports which SDK modules the program loaded (Pulumi and its providers, and scipy, the planner's
solver, for event stacks); a second interpreter imports exactly those, so the difference is the
program's own overhead (config, components, mock engine, writing files). An event stack runs two
programs: its environment's first (for the StackReference), then its own.
Target: less than 1 s over the imports. Prints numbers; asserts nothing.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SDK_PREFIXES = ("pulumi", "pulumi_kubernetes", "pulumi_openstack", "pulumi_oci", "grpc", "google.protobuf", "scipy")
RUNS = 3

RENDER = """
import json, sys, time
t0 = time.perf_counter()
from stacks.render import render
render(sys.argv[1], __import__("pathlib").Path(sys.argv[2]))
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


def measure(stack: str) -> tuple[float, float]:
    renders, imports = [], []
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory() as out:
            done = subprocess.run([sys.executable, "-c", RENDER, stack, out, json.dumps(SDK_PREFIXES)],
                                  cwd=REPO, capture_output=True, text=True, check=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        renders.append(result["seconds"])
        imported = subprocess.run([sys.executable, "-c", IMPORTS], input=json.dumps(result["modules"]),
                                  cwd=REPO, capture_output=True, text=True, check=True)
        imports.append(float(imported.stdout.strip()))
    return statistics.median(renders), statistics.median(imports)


def main() -> None:
    print(f"swan render, median of {RUNS} fresh interpreters per stack (seconds)")
    print(f"{'stack':<28}{'render':>9}{'SDK imports':>13}{'overhead':>10}")
    for stack in stacks():
        try:
            render, imports = measure(stack)
        except subprocess.CalledProcessError as exc:
            print(f"{stack:<28} failed: {exc.stderr.strip().splitlines()[-1] if exc.stderr else exc}")
            continue
        print(f"{stack:<28}{render:>9.2f}{imports:>13.2f}{render - imports:>10.2f}")
    print("target: overhead < 1.00 s per stack")


if __name__ == "__main__":
    main()
