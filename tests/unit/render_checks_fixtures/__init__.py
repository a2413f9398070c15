"""Real chart output for the render_checks tests: `helm template` of the pinned upstream charts.

The chart mirror is `SWAN_CHART_MIRROR`, else `shared/reference/charts` next to the repository;
helm is `SWAN_HELM`, else `helm` on PATH. A missing one fails the test, naming what is missing:
these tests exist to run against the real charts, so they never skip.
"""
from __future__ import annotations

import copy
import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

from stacks.render_checks import RenderObject, objects_from_manifests

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
KUBE_VERSION = "1.31.0"


def chart_mirror() -> Path:
    mirror = Path(os.environ.get("SWAN_CHART_MIRROR") or REPO.parent / "shared" / "reference" / "charts")
    if not mirror.is_dir():
        pytest.fail(f"chart mirror {mirror} is missing: set SWAN_CHART_MIRROR to a folder of <chart>-<version> charts")
    return mirror


def helm() -> str:
    found = os.environ.get("SWAN_HELM") or shutil.which("helm")
    if not found:
        pytest.fail("helm is missing: put a helm 3 binary on PATH or set SWAN_HELM to it")
    return found


@lru_cache(maxsize=None)
def _template(chart: str, release: str, namespace: str, args: tuple[str, ...]) -> str:
    chart_dir = chart_mirror() / chart
    if not (chart_dir / "Chart.yaml").is_file():
        pytest.fail(f"chart {chart} is missing from the chart mirror {chart_mirror()}")
    command = [helm(), "template", release, str(chart_dir), "--namespace", namespace,
               "--kube-version", KUBE_VERSION, *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode:
        pytest.fail(f"{' '.join(command)} failed: {done.stderr}")
    return done.stdout


@lru_cache(maxsize=None)
def _manifests(chart: str, release: str, namespace: str, args: tuple[str, ...]) -> list[dict]:
    text = _template(chart, release, namespace, args)
    return [m for m in yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) if m]


def chart_objects(chart: str, release: str, namespace: str, *args: str) -> list[RenderObject]:
    """The objects `helm template` makes of a chart in the mirror, as `swan render` writes them
    under charts/<release>/ (namespaced objects get the release namespace), fresh for each caller.
    `args` go to helm: ("--set", "a.b=c"), ("-f", fixture("x.yaml")), ("--include-crds",)."""
    manifests = copy.deepcopy(_manifests(chart, release, namespace, tuple(args)))
    return objects_from_manifests(manifests, f"chart:{release}", namespace)


def fixture(name: str) -> str:
    return str(HERE / name)


def load(name: str) -> list[dict]:
    """The manifests of a hand-written YAML fixture."""
    return [d for d in yaml.safe_load_all((HERE / name).read_text()) if d]
