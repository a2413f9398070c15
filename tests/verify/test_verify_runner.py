"""The runner's promises: prerequisites, timeouts, retries of flaky failures, cleanup always."""
from __future__ import annotations

import threading
import time

import pytest

from stacks.verify.model import Check, CheckFailed, CheckSkipped, Flaky, Status, Summary
from stacks.verify.runner import Interrupted, attempt_check, run_checks


def ok(detail="fine"):
    return lambda deadline: detail


def fail(detail):
    def run(deadline):
        raise CheckFailed(detail)
    return run


def statuses(results):
    return {r.name: r.status for r in results}


def test_dependent_checks_are_skipped_naming_the_failed_prerequisite_and_cleanup_still_runs():
    cleaned = []
    checks = [
        Check("a", "hub", fail("broken")),
        Check("b", "hub", ok(), needs=("a",)),
        Check("c", "hub", ok(), needs=("b",)),
        Check("cleanup", "hub", lambda d: cleaned.append(1) or "done", always=True, after=("a", "b", "c")),
    ]
    results = run_checks(checks)
    assert [r.name for r in results] == ["a", "b", "c", "cleanup"]
    assert statuses(results) == {"a": Status.FAIL, "b": Status.SKIP, "c": Status.SKIP, "cleanup": Status.PASS}
    assert results[1].detail == "needs a (fail)"
    assert results[2].detail == "needs b (skip)"
    assert cleaned == [1]
    assert Summary.of(results).exit_code == 1


def test_a_check_past_its_timeout_fails_without_holding_up_the_others():
    release = threading.Event()
    checks = [Check("slow", "cluster", lambda d: release.wait(30) and "late", timeout=0.3),
              Check("quick", "cluster", ok())]
    started = time.monotonic()
    results = run_checks(checks)
    release.set()
    assert time.monotonic() - started < 5
    assert statuses(results) == {"slow": Status.FAIL, "quick": Status.PASS}
    assert "timed out after 0.3s" in results[0].detail


def test_independent_checks_run_in_parallel():
    barrier = threading.Barrier(3, timeout=5)
    checks = [Check(f"c{i}", "cluster", lambda d: barrier.wait() is not None and "met") for i in range(3)]
    assert all(r.status is Status.PASS for r in run_checks(checks))


def test_flaky_failures_are_retried_with_growing_backoff_then_pass():
    attempts, sleeps = [], []

    def spawn(deadline):
        attempts.append(1)
        if len(attempts) < 3:
            raise Flaky("pod pending: waiting for a node")
        return "ready"

    [r] = attempt_check(Check("hub.spawn", "hub", spawn, timeout=100, retries=3, backoff=2), sleep=sleeps.append)
    assert r.status is Status.PASS and "attempt 3" in r.detail
    assert sleeps == [2, 4]


def test_flaky_failures_stop_after_the_retries():
    [r] = attempt_check(Check("hub.spawn", "hub", lambda d: (_ for _ in ()).throw(Flaky("timeout")),
                              timeout=100, retries=2, backoff=0.01), sleep=lambda s: None)
    assert r.status is Status.FAIL and r.detail == "timeout (after 3 attempts)"


def test_plain_failures_are_not_retried():
    calls = []

    def run(deadline):
        calls.append(1)
        raise CheckFailed("spawner cannot start")

    [r] = attempt_check(Check("x", "hub", run, retries=3), sleep=lambda s: None)
    assert r.status is Status.FAIL and calls == [1]


def test_skips_and_unexpected_exceptions_are_reported():
    def skip(d):
        raise CheckSkipped("no GPU option")

    def boom(d):
        raise KeyError("status")

    results = run_checks([Check("s", "hub", skip), Check("b", "hub", boom)])
    assert results[0].status is Status.SKIP and results[0].detail == "no GPU option"
    assert results[1].status is Status.FAIL and results[1].detail == "KeyError: 'status'"


def test_ctrl_c_skips_what_is_left_runs_cleanup_and_keeps_the_results():
    cleaned = []

    def on_result(check, row):
        if row.name == "first":
            raise KeyboardInterrupt

    checks = [Check("first", "hub", ok()), Check("second", "hub", ok(), needs=("first",)),
              Check("cleanup", "hub", lambda d: cleaned.append(1) or "done", always=True, after=("first", "second"))]
    with pytest.raises(Interrupted) as exc:
        run_checks(checks, on_result=on_result)
    assert cleaned == [1]
    got = statuses(exc.value.results)
    assert got["second"] is Status.SKIP and got["cleanup"] is Status.PASS


def test_fan_out_check_reports_its_rows():
    from stacks.verify.model import CheckResult

    rows = [CheckResult("nodes.base@h1", "nodes", Status.PASS, 1.0, "3 tests passed"),
            CheckResult("nodes.base@h2", "nodes", Status.FAIL, 1.0, "1 of 3 tests failed")]
    results = run_checks([Check("nodes.suites", "nodes", lambda d: rows),
                          Check("after", "nodes", ok(), needs=("nodes.suites",))])
    assert [r.name for r in results] == ["nodes.base@h1", "nodes.base@h2", "after"]
    assert results[2].status is Status.SKIP


def test_unknown_dependency_is_a_programming_error():
    with pytest.raises(ValueError):
        run_checks([Check("a", "hub", ok(), needs=("nope",))])
