"""Node checks: hand the stack's Ansible inventory to the testinfra suites of `stacks.nodes`
and turn their results into one row per host and suite.

`stacks.nodes.run_node_suites` is imported when the check runs, so `swan verify --only hub`
never pays for (or depends on) the node suites.
"""
from __future__ import annotations

from typing import Callable, Optional

from stacks.verify.model import Check, CheckFailed, CheckResult, Deadline, Status


def _load_runner() -> Callable:
    try:
        from stacks.nodes import run_node_suites
    except ImportError as exc:
        raise CheckFailed(f"node suites unavailable: cannot import stacks.nodes.run_node_suites ({exc})") from None
    return run_node_suites


def _field(result, name: str):
    return result[name] if isinstance(result, dict) else getattr(result, name)


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
            detail = "; ".join(f"{_field(t, 'test')}: {str(_field(t, 'detail') or '').strip()[:200]}" for t in failed)
            rows.append(CheckResult(f"nodes.{suite}@{host}", "nodes", Status.FAIL, seconds,
                                    f"{len(failed)} of {len(tests)} tests failed: {detail}"))
        else:
            skipped = sum(1 for t in tests if getattr(t, "skipped", False) or (isinstance(t, dict) and t.get("skipped")))
            note = f" ({skipped} not applicable)" if skipped else ""
            rows.append(CheckResult(f"nodes.{suite}@{host}", "nodes", Status.PASS, seconds,
                                    f"{len(tests)} tests passed{note}"))
    return rows


def node_checks(inventory: str, limit: Optional[str] = None, timeout: float = 1800.0,
                runner: Optional[Callable] = None) -> list[Check]:
    """One check that fans out into a row per host and suite once the suites have run."""

    def run(deadline: Deadline):
        run_suites = runner or _load_runner()
        results = list(run_suites(inventory, limit=limit))
        if not results:
            raise CheckFailed(f"the node suites reported no results for inventory {inventory}")
        return rows_from_suite_results(results)

    return [Check("nodes.suites", "nodes", run, timeout=timeout)]
