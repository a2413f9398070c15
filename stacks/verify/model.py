"""What a check is and what it reports: the vocabulary shared by runner, targets and reports."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Callable, Union

GROUPS = ("hub", "cluster", "nodes")


class Status(str, Enum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class CheckResult:
    """One row of the report; `detail` says what was seen (pass), what broke (fail) or why not run (skip)."""

    name: str
    group: str
    status: Status
    seconds: float
    detail: str

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "group": self.group,
            "status": self.status.value,
            "seconds": round(self.seconds, 3),
            "detail": self.detail,
        }


class CheckFailed(Exception):
    """Raised by a check body: the thing checked is broken; the message is the detail."""


class CheckSkipped(Exception):
    """Raised by a check body: the check does not apply here; the message is the reason."""


class Flaky(CheckFailed):
    """A failure known to pass on a later attempt (e.g. a session waiting for a node to scale up)."""


class Deadline:
    """Time left for one check, so long waits inside a check stop at its timeout."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def expired(self) -> bool:
        return self.remaining() <= 0


# A check body returns its pass detail, or a list of results when one check fans out into
# several rows (the node suites: one row per host and suite).
Outcome = Union[str, list[CheckResult]]


@dataclass
class Check:
    """A named unit of verification with its own timeout, retries and prerequisites.

    `needs` names checks that must pass first; when one of them does not, this check is
    skipped and says which. `always` checks (cleanup) run once their prerequisites have
    finished, whatever the outcome, and also after Ctrl-C.
    """

    name: str
    group: str
    run: Callable[[Deadline], Outcome]
    timeout: float = 60.0
    retries: int = 0
    backoff: float = 2.0
    needs: tuple[str, ...] = ()
    always: bool = False
    after: tuple[str, ...] = field(default=())  # ordering only (for `always` checks)


@dataclass(frozen=True)
class Summary:
    passed: int
    failed: int
    skipped: int

    @classmethod
    def of(cls, results: list[CheckResult]) -> "Summary":
        count = lambda s: sum(1 for r in results if r.status is s)  # noqa: E731
        return cls(count(Status.PASS), count(Status.FAIL), count(Status.SKIP))

    @property
    def exit_code(self) -> int:
        """0 when nothing failed, 1 when a check failed (2 is for bad arguments, raised earlier)."""
        return 1 if self.failed else 0
