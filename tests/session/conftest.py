"""Fixtures for the session tests: the real SWAN hub of a rendered stack (see swan_hub.py).

Everything these tests need is checked up front and a missing piece FAILS the test, naming
it: root (mount and network namespaces), the hub venv (.venv-hub, `make .venv-hub/.installed`),
helm, configurable-http-proxy, util-linux.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from swan_hub import HUB_VENV, REPO  # noqa: E402

REFERENCE_CHARTS = REPO.parent / "shared" / "reference" / "charts"


def missing_prerequisites() -> list[str]:
    missing = []
    if os.geteuid() != 0:
        missing.append("root (the harness makes mount, PID and network namespaces)")
    if not (HUB_VENV / ".installed").exists() or not (HUB_VENV / "bin" / "swanhub").exists():
        missing.append(f"{HUB_VENV} with the hub image's packages (`make .venv-hub/.installed`)")
    if not (os.environ.get("SWAN_HELM") or shutil.which("helm")):
        missing.append("helm 3 on PATH (or SWAN_HELM)")
    if not shutil.which("configurable-http-proxy"):
        missing.append("configurable-http-proxy (npm install -g configurable-http-proxy)")
    return missing


@pytest.fixture(scope="session")
def prerequisites():
    missing = missing_prerequisites()
    if missing:
        pytest.fail("the session harness needs: " + "; ".join(missing), pytrace=False)


def chart_env() -> dict:
    """`swan render` finds the pinned charts in SWAN_CHARTS; default to the shared mirror."""
    env = dict(os.environ)
    if not env.get("SWAN_CHARTS") and REFERENCE_CHARTS.is_dir():
        env["SWAN_CHARTS"] = str(REFERENCE_CHARTS)
    return env


@pytest.fixture
def render(tmp_path, prerequisites):
    """render(stack) -> the folder `swan render STACK --out ...` wrote."""
    def run(stack: str) -> Path:
        out = tmp_path / f"render-{stack}"
        done = subprocess.run([str(REPO / ".venv" / "bin" / "swan"), "render", stack, "--out", str(out)],
                              cwd=REPO, env=chart_env(), capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            pytest.fail(f"swan render {stack} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}",
                        pytrace=False)
        return out
    return run


def host_state() -> dict:
    """What the harness must leave as it found it: listening TCP ports, mounts, a few paths."""
    ports = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(name) as f:
            for line in list(f)[1:]:
                fields = line.split()
                if fields[3] == "0A":
                    ports.add(fields[1])
    with open("/proc/self/mountinfo") as f:
        mounts = sorted(line.split()[4] for line in f)
    paths = {p: os.path.lexists(p) for p in ("/run/secrets", "/usr/local/etc/jupyterhub", "/srv/jupyterhub",
                                             "/etc/pki/tls/certs/ca-bundle.crt", "/jupyterhub.sqlite", "/opt/venv",
                                             "/srv/configurable-http-proxy", "/dev/termination-log")}
    return {"ports": ports, "mounts": mounts, "paths": paths}


@pytest.fixture
def host_unchanged():
    """Asserts, after the test, that no port, mount or file was left on the host."""
    before = host_state()
    yield
    after = host_state()
    assert after["ports"] == before["ports"], f"listening ports left: {after['ports'] - before['ports']}"
    assert after["mounts"] == before["mounts"], "mounts changed on the host"
    assert after["paths"] == before["paths"], f"host paths changed: {after['paths']} (before {before['paths']})"
