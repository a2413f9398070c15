"""Run checks: prerequisites first, independent checks in parallel, a timeout per check,
retries with backoff for failures known to be flaky, and `always` checks (cleanup) that run
whatever happened before them, Ctrl-C included.

Each attempt runs in a daemon thread, so a check stuck past its timeout is reported as
failed and abandoned instead of hanging the whole run.
"""
from __future__ import annotations

import queue
import threading
import time
from typing import Callable, Optional

from stacks.verify.model import (
    Check,
    CheckFailed,
    CheckResult,
    CheckSkipped,
    Deadline,
    Flaky,
    Status,
)

OnEvent = Optional[Callable[[Check], None]]
OnResult = Optional[Callable[[Check, CheckResult], None]]  # the check and one of its rows


def attempt_check(check: Check, sleep: Callable[[float], None] = time.sleep) -> list[CheckResult]:
    """Run one check body to completion (with its retries) and turn the outcome into rows."""
    started = time.monotonic()
    deadline = Deadline(check.timeout)
    attempts = 0

    def row(status: Status, detail: str) -> list[CheckResult]:
        return [CheckResult(check.name, check.group, status, time.monotonic() - started, detail)]

    while True:
        attempts += 1
        try:
            outcome = check.run(deadline)
        except CheckSkipped as exc:
            return row(Status.SKIP, str(exc))
        except Flaky as exc:
            wait = check.backoff * 2 ** (attempts - 1)
            if attempts > check.retries or deadline.remaining() <= wait:
                suffix = f" (after {attempts} attempts)" if attempts > 1 else ""
                return row(Status.FAIL, f"{exc}{suffix}")
            sleep(wait)
            continue
        except CheckFailed as exc:
            return row(Status.FAIL, str(exc))
        except Exception as exc:  # a bug or an unexpected answer: report it, keep the run going
            return row(Status.FAIL, f"{type(exc).__name__}: {exc}")
        if isinstance(outcome, list):
            return outcome
        detail = str(outcome or "")
        if attempts > 1:
            detail = f"{detail} (attempt {attempts})".strip()
        return row(Status.PASS, detail)


def _status_of(rows: list[CheckResult]) -> Status:
    """A check that fanned out passes only if every row passed (skips do not count as failures)."""
    if any(r.status is Status.FAIL for r in rows):
        return Status.FAIL
    if rows and all(r.status is Status.SKIP for r in rows):
        return Status.SKIP
    return Status.PASS


def run_checks(
    checks: list[Check],
    on_start: OnEvent = None,
    on_result: OnResult = None,
    max_parallel: int = 8,
) -> list[CheckResult]:
    """Run `checks` and return their results in the order the checks were given.

    Raises KeyboardInterrupt after the `always` checks have run when interrupted.
    """
    names = {c.name for c in checks}
    for c in checks:
        unknown = [n for n in (*c.needs, *c.after) if n not in names]
        if unknown:
            raise ValueError(f"check {c.name} depends on unknown checks {unknown}")

    results: dict[str, list[CheckResult]] = {}
    status: dict[str, Status] = {}
    running: dict[str, tuple[Check, float]] = {}  # name -> (check, wall-clock deadline)
    finished: queue.Queue = queue.Queue()
    interrupted = False

    def record(check: Check, rows: list[CheckResult]) -> None:
        results[check.name] = rows
        status[check.name] = _status_of(rows)
        for r in rows:
            if on_result:
                on_result(check, r)

    def start(check: Check) -> None:
        if on_start:
            on_start(check)

        def work() -> None:
            finished.put((check.name, attempt_check(check)))

        running[check.name] = (check, time.monotonic() + check.timeout + 1.0)
        threading.Thread(target=work, name=f"check-{check.name}", daemon=True).start()

    while len(status) < len(checks):
        progress = len(status)
        try:
            for check in checks:
                if check.name in status or check.name in running:
                    continue
                if interrupted and not check.always:
                    record(check, [CheckResult(check.name, check.group, Status.SKIP, 0.0, "interrupted (Ctrl-C)")])
                    continue
                deps = (*check.needs, *check.after)
                if not all(d in status for d in deps):
                    continue
                not_passed = [d for d in check.needs if status[d] is not Status.PASS]
                if not_passed and not check.always:
                    why = ", ".join(f"{d} ({status[d].value})" for d in not_passed)
                    record(check, [CheckResult(check.name, check.group, Status.SKIP, 0.0, f"needs {why}")])
                    continue
                if len(running) < max_parallel:
                    start(check)
            if len(status) == len(checks):
                break
            if not running:
                if len(status) == progress:
                    raise ValueError("checks wait on each other in a cycle")
                continue
            wait = max(0.05, min(end for _, end in running.values()) - time.monotonic())
            try:
                name, rows = finished.get(timeout=wait)
            except queue.Empty:
                now = time.monotonic()
                for name, (check, end) in list(running.items()):
                    if now >= end:
                        del running[name]
                        record(check, [CheckResult(check.name, check.group, Status.FAIL, check.timeout,
                                                   f"timed out after {check.timeout:g}s")])
                continue
            if name in running:  # not already reported as timed out
                check, _ = running.pop(name)
                record(check, rows)
        except KeyboardInterrupt:
            if interrupted:  # second Ctrl-C: give up on cleanup too
                raise
            interrupted = True
            for name, (check, _) in list(running.items()):
                if not check.always:
                    del running[name]
                    record(check, [CheckResult(check.name, check.group, Status.FAIL, 0.0, "interrupted (Ctrl-C)")])

    ordered = [r for c in checks for r in results[c.name]]
    if interrupted:
        raise Interrupted(ordered)
    return ordered


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run; carries the results gathered (cleanup included) for the reports."""

    def __init__(self, results: list[CheckResult]):
        super().__init__("interrupted")
        self.results = results
