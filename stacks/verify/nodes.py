"""Node checks: hand the stack's Ansible inventory to the testinfra suites of `stacks.nodes`
and turn their results into one row per host and suite.

`stacks.nodes.run_node_suites` is imported when the check runs, so `swan verify --only hub`
never pays for (or depends on) the node suites.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Callable, Optional

from stacks.errors import InputError
from stacks.verify.model import Check, CheckFailed, CheckResult, Deadline, Status


def _load_runner() -> Callable:
    try:
        from stacks.nodes import run_node_suites
    except ImportError as exc:
        raise CheckFailed(f"node suites unavailable: cannot import stacks.nodes.run_node_suites ({exc})") from None
    return run_node_suites


def _field(result, name: str):
    return result[name] if isinstance(result, dict) else getattr(result, name)


def _gist(text: str, limit: int = 200) -> str:
    """The telling part of a pytest failure: its first `E ` line (else its last line), shortened."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    errors = [ln[1:].strip() for ln in lines if ln.startswith("E ")]
    gist = errors[0] if errors else (lines[-1] if lines else "")
    return gist if len(gist) <= limit else gist[: limit - 3] + "..."


def _ansible_on_path() -> None:
    """testinfra's ansible backend runs `ansible-inventory`; when swan runs from an unactivated
    venv that lives next to the interpreter, not on PATH."""
    venv_bin = Path(sys.executable).parent
    if shutil.which("ansible-inventory") is None and (venv_bin / "ansible-inventory").exists():
        os.environ["PATH"] = f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}"


def rows_from_suite_results(results) -> list[CheckResult]:
    """Group per-test results into one row per (host, suite): failing tests listed in detail."""
    groups: dict[tuple[str, str], list] = {}
    for r in results:
        groups.setdefault((str(_field(r, "host")), str(_field(r, "suite"))), []).append(r)
    rows = []
    for (host, suite), tests in sorted(groups.items()):
        failed = [t for t in tests if not _field(t, "passed")]
        seconds = sum(float(_field(t, "seconds") or 0) for t in tests)
        if failed:
            detail = "; ".join(f"{_field(t, 'test')}: {_gist(str(_field(t, 'detail') or ''))}" for t in failed)
            rows.append(CheckResult(f"nodes.{suite}@{host}", "nodes", Status.FAIL, seconds,
                                    f"{len(failed)} of {len(tests)} tests failed: {detail}"))
        else:
            skipped = sum(1 for t in tests if getattr(t, "skipped", False) or (isinstance(t, dict) and t.get("skipped")))
            note = f" ({skipped} not applicable)" if skipped else ""
            rows.append(CheckResult(f"nodes.{suite}@{host}", "nodes", Status.PASS, seconds,
                                    f"{len(tests)} tests passed{note}"))
    return rows


CHECK_NAMES = ("nodes.suites",)  # one row `nodes.<suite>@<host>` per suite and host when they run


def node_checks(inventory: str, limit: Optional[str] = None, timeout: float = 1800.0,
                runner: Optional[Callable] = None) -> list[Check]:
    """One check that fans out into a row per host and suite once the suites have run."""

    def run(deadline: Deadline):
        run_suites = runner or _load_runner()
        _ansible_on_path()
        try:
            results = list(run_suites(inventory, limit=limit))
        except InputError as exc:  # e.g. a --limit no host matches
            raise CheckFailed(str(exc)) from None
        if not results:
            raise CheckFailed(f"the node suites reported no results for inventory {inventory}")
        return rows_from_suite_results(results)

    return [Check("nodes.suites", "nodes", run, timeout=timeout)]
