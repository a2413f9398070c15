"""Run the testinfra suites (one per role) against the hosts of an Ansible inventory and
return one result per test: the same checks for test hosts and production nodes."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from stacks.nodes.inventory import hosts_in_inventory

SUITES = Path(__file__).resolve().parent / "suites"


@dataclass(frozen=True)
class SuiteResult:
    """One check on one host. A skipped check (not applicable there, e.g. kernel settings
    inside a container) has passed=True, skipped=True and the reason in `detail`."""

    host: str
    suite: str
    test: str
    passed: bool
    seconds: float
    detail: str = ""
    skipped: bool = False


def suite_file(role: str) -> Path:
    return SUITES / f"test_{role}.py"


def parse_junit(xml_text: str, host: str) -> list[SuiteResult]:
    """Results from pytest's JUnit XML for one host (test ids lose their host parameter)."""
    results = []
    for case in ET.fromstring(xml_text).iter("testcase"):
        suite = case.get("classname", "").split(".")[-1].removeprefix("test_")
        test = re.sub(r"\[[^\]]*\]$", "", case.get("name", ""))
        seconds = float(case.get("time", 0) or 0)
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        skipped = case.find("skipped")
        if failure is not None:
            text = (failure.get("message") or "") + "\n" + (failure.text or "")
            results.append(SuiteResult(host, suite, test, False, seconds, text.strip()[-2000:]))
        elif skipped is not None:
            results.append(SuiteResult(host, suite, test, True, seconds, "skipped: " + (skipped.get("message") or ""), True))
        else:
            results.append(SuiteResult(host, suite, test, True, seconds))
    return results


def _env() -> dict:
    """testinfra calls ansible-inventory: put this interpreter's scripts first on PATH."""
    scripts = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": scripts + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin")}


def _run_host(inventory: Path, host: str, roles: list[str], timeout: float) -> list[SuiteResult]:
    files = [str(suite_file(r)) for r in roles if suite_file(r).exists()]
    with tempfile.TemporaryDirectory(prefix="swan-suites-") as tmp:
        report = Path(tmp) / "junit.xml"
        command = [
            sys.executable, "-m", "pytest", "-q", "-c", str(SUITES / "pytest.ini"), "--rootdir", str(SUITES),
            "--hosts", f"ansible://{host}", "--ansible-inventory", str(inventory),
            "--junitxml", str(report), "-o", "junit_family=xunit1", *files,
        ]
        started = time.monotonic()
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=SUITES, env=_env())
        except subprocess.TimeoutExpired:
            return [SuiteResult(host, "suites", "run", False, time.monotonic() - started, f"timed out after {timeout:.0f}s")]
        if not report.exists() or done.returncode not in (0, 1):
            output = (done.stdout + done.stderr).strip()[-2000:]
            return [SuiteResult(host, "suites", "run", False, time.monotonic() - started,
                                f"pytest exited {done.returncode}: {output}")]
        return parse_junit(report.read_text(), host)


def run_node_suites(inventory_path: str | Path, limit: str | None = None, *,
                    parallel: int = 4, timeout: float = 600) -> list[SuiteResult]:
    """Check every host of the inventory (or of the Ansible pattern `limit`) with the
    suites of the roles site.yml gives it (`common` plus its role groups)."""
    inventory = Path(inventory_path).resolve()
    plan = hosts_in_inventory(inventory, limit)
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        futures = [pool.submit(_run_host, inventory, host, roles, timeout) for host, roles in sorted(plan.items())]
        return [result for future in futures for result in future.result()]
