"""`swan verify --only hub` against a real JupyterHub on 127.0.0.1, healthy and with faults."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest

from verify_support import SWAN, swan_verify

pytestmark = pytest.mark.hub

HUB_CHECKS = ["hub.health", "hub.spawn", "hub.execute", "hub.software", "hub.storage", "hub.gpu", "hub.cleanup"]


def verify_hub(hub, tmp_path, *extra, token=None):
    out = tmp_path / "out.json"
    proc = swan_verify("--only", "hub", "--hub-url", hub.url, "--token-env", "HUB_TOKEN",
                       "--spawn-timeout", "90", "--check-timeout", "30", "--json", str(out), *extra,
                       env={"HUB_TOKEN": token or hub.token})
    report = json.loads(out.read_text()) if out.exists() else None
    return proc, report


def by_name(report):
    return {c["name"]: c for c in report["checks"]}


def test_healthy_hub_passes_every_applicable_check(hub, tmp_path):
    junit, md, prom = tmp_path / "j.xml", tmp_path / "s.md", tmp_path / "m.prom"
    proc, report = verify_hub(hub, tmp_path, "--software-path", sys.executable, "--software-import", "json",
                              "--junit", str(junit), "--markdown", str(md), "--prometheus", str(prom))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    checks = by_name(report)
    assert list(checks) == HUB_CHECKS
    assert checks["hub.gpu"]["status"] == "skip" and "no GPU" in checks["hub.gpu"]["detail"]
    assert all(c["status"] == "pass" for n, c in checks.items() if n != "hub.gpu"), report
    assert "42" in checks["hub.execute"]["detail"]
    assert (report["passed"], report["failed"], report["skipped"]) == (6, 0, 1)
    assert set(report["checks"][0]) == {"name", "group", "status", "seconds", "detail"}
    assert not [u for u in hub.user_names() if u.startswith("swan-verify")]
    root = ET.parse(junit).getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == 7 and len(root.findall(".//failure")) == 0 and len(root.findall(".//skipped")) == 1
    assert "OK" in md.read_text().splitlines()[0]
    assert "swan_verify_success 1" in prom.read_text()


def test_wrong_token_fails_health_and_skips_the_rest(hub, tmp_path):
    junit = tmp_path / "j.xml"
    proc, report = verify_hub(hub, tmp_path, "--junit", str(junit), token="not-the-token")
    assert proc.returncode == 1
    checks = by_name(report)
    assert checks["hub.health"]["status"] == "fail"
    assert "rejected the API token" in checks["hub.health"]["detail"]
    assert checks["hub.spawn"]["status"] == "skip" and "hub.health" in checks["hub.spawn"]["detail"]
    assert report["failed"] == 1
    assert len(ET.parse(junit).getroot().findall(".//failure")) == 1
    assert "hub.health" in proc.stdout


def test_spawner_that_cannot_start_fails_spawn_and_user_is_removed(broken_hub, tmp_path):
    junit = tmp_path / "j.xml"
    proc, report = verify_hub(broken_hub, tmp_path, "--junit", str(junit))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    checks = by_name(report)
    assert checks["hub.health"]["status"] == "pass"
    spawn = checks["hub.spawn"]
    assert spawn["status"] == "fail"
    assert "did not start" in spawn["detail"] and "nonexistent" in spawn["detail"], spawn
    for name in ("hub.execute", "hub.software", "hub.storage", "hub.gpu"):
        assert checks[name]["status"] == "skip"
    assert checks["hub.cleanup"]["status"] == "pass"
    assert not [u for u in broken_hub.user_names() if u.startswith("swan-verify")]
    root = ET.parse(junit).getroot()
    failures = root.findall(".//failure")
    assert len(failures) == 1 and "did not start" in failures[0].get("message")


def test_session_that_times_out_is_retried_with_backoff_then_fails(slow_hub, tmp_path):
    proc, report = verify_hub(slow_hub, tmp_path, "--spawn-retries", "1")
    assert proc.returncode == 1
    spawn = by_name(report)["hub.spawn"]
    assert spawn["status"] == "fail"
    assert "didn't respond in 3 seconds" in spawn["detail"] and spawn["detail"].endswith("(after 2 attempts)"), spawn
    # Our 5 s backoff is exact; the hub's 3 s timeout is its own clock and was seen ending ~0.07 s
    # early in CI, so each attempt is counted at 2.5 s: without the backoff the check takes ~6 s.
    assert spawn["seconds"] >= 2.5 + 5 + 2.5  # two hub timeouts and the backoff between them
    assert by_name(report)["hub.cleanup"]["status"] == "pass"
    assert not [u for u in slow_hub.user_names() if u.startswith("swan-verify")]


def test_code_that_raises_fails_execute_and_user_is_removed(hub, tmp_path):
    proc, report = verify_hub(hub, tmp_path, "--code", "import math\nmath.sqrt(-1)")
    assert proc.returncode == 1
    checks = by_name(report)
    assert checks["hub.spawn"]["status"] == "pass"
    assert checks["hub.execute"]["status"] == "fail"
    assert "ValueError: math domain error" in checks["hub.execute"]["detail"]
    assert checks["hub.storage"]["status"] == "skip" and "hub.execute (fail)" in checks["hub.storage"]["detail"]
    assert checks["hub.cleanup"]["status"] == "pass"
    assert not [u for u in hub.user_names() if u.startswith("swan-verify")]


def test_missing_software_fails_only_software(hub, tmp_path):
    proc, report = verify_hub(hub, tmp_path, "--software-path", "/cvmfs/sft.cern.ch/lcg/views/LCG_107/x86_64-el9-gcc13-opt")
    assert proc.returncode == 1
    checks = by_name(report)
    assert checks["hub.software"]["status"] == "fail"
    assert "/cvmfs/sft.cern.ch/lcg/views/LCG_107/x86_64-el9-gcc13-opt missing" in checks["hub.software"]["detail"]
    assert [n for n, c in checks.items() if c["status"] == "fail"] == ["hub.software"]


def test_gpu_option_without_gpu_fails_gpu_check(hub, tmp_path):
    proc, report = verify_hub(hub, tmp_path, "--profile", "gpu-a100")
    assert proc.returncode == 1
    checks = by_name(report)
    assert checks["hub.gpu[gpu-a100]"]["status"] == "fail"
    assert "no GPU visible" in checks["hub.gpu[gpu-a100]"]["detail"]
    assert checks["hub.spawn[gpu-a100]"]["status"] == "pass"


def test_each_session_option_up_to_the_cap_gets_its_own_session(hub, tmp_path):
    proc, report = verify_hub(hub, tmp_path, "--profile", "cpu", "--profile", "bigmem", "--profile", "gpu-a100",
                              "--max-sessions", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    checks = by_name(report)
    for option in ("cpu", "bigmem"):
        assert checks[f"hub.spawn[{option}]"]["status"] == "pass"
        assert checks[f"hub.execute[{option}]"]["status"] == "pass"
        assert f"session '{option}'" in checks[f"hub.spawn[{option}]"]["detail"]
    assert not any("gpu-a100" in n for n in checks)  # third option: over the cap
    assert checks["hub.cleanup"]["status"] == "pass"
    assert not [u for u in hub.user_names() if u.startswith("swan-verify")]


def test_ctrl_c_during_a_session_still_removes_the_test_user(hub, tmp_path):
    out = tmp_path / "out.json"
    proc = subprocess.Popen([str(SWAN), "verify", "--only", "hub", "--hub-url", hub.url, "--token-env", "HUB_TOKEN",
                             "--user-prefix", "swan-ctrlc", "--code", "import time; time.sleep(60)",
                             "--check-timeout", "90", "--json", str(out)],
                            env={**os.environ, "HUB_TOKEN": hub.token},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        end = time.monotonic() + 60
        while time.monotonic() < end:  # wait until the session is up and the long code runs
            users = [u for u in hub.api("GET", "/users").json() if u["name"].startswith("swan-ctrlc")]
            if users and users[0]["servers"].get("", {}).get("ready"):
                break
            time.sleep(0.3)
        else:
            pytest.fail("test session never became ready")
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, output
    assert not [u for u in hub.user_names() if u.startswith("swan-ctrlc")]
    report = json.loads(out.read_text())
    assert by_name(report)["hub.cleanup"]["status"] == "pass"
    assert by_name(report)["hub.execute"]["detail"] == "interrupted (Ctrl-C)"
