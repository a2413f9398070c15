"""`swan event reconcile`: perform what is due for every event, one event at a time, and say so.

Decisions are pure (`decide`: each event's phase and action from its window and its stack's state);
the run (`Reconciler.run`) performs each due action through two seams, an event-stack backend
(stacks/events/automation.py: Pulumi's Automation API) and a readiness proof (stacks/events/prove.py:
`swan verify ENVIRONMENT --event NAME`), then reports as Prometheus text and Markdown. One action per
event per run: the next run (a few minutes later) sees the new state and does the next step, so a
run never waits on a state it has not observed.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator, Optional, Protocol

from stacks.events.automation import StackState
from stacks.events.lifecycle import PHASES, Standing, standing
from stacks.events.schedule import ScheduledEvent

LOCK_FILE = Path("build") / "event-reconcile.lock"
PUSH_JOB = "swan_event_reconcile"
LOCK_HELD = 3  # exit code: another reconcile is running; nothing was done


class EventStackBackend(Protocol):
    def state(self, stack: str) -> StackState: ...
    def up(self, stack: str) -> None: ...
    def destroy(self, stack: str) -> None: ...
    def mark_proven(self, stack: str) -> None: ...


@dataclass(frozen=True)
class Proof:
    """What proving an event's session gave: passed, a line saying why not, the verify run's Markdown."""

    ok: bool
    detail: str = ""
    markdown: str = ""


@dataclass(frozen=True)
class Decision:
    event: ScheduledEvent
    state: Optional[StackState]   # None: could not be read
    standing: Optional[Standing]


@dataclass(frozen=True)
class Outcome:
    """One event after this run: what was done (None: nothing due, or --dry-run) and how it went."""

    decision: Decision
    action: Optional[str] = None
    ok: Optional[bool] = None
    detail: str = ""
    seconds: float = 0.0
    after: Optional[StackState] = None  # the state the action left (None: unchanged)
    markdown: str = ""

    @property
    def state(self) -> Optional[StackState]:
        return self.after or self.decision.state


def decide(events: list[ScheduledEvent], states: dict[str, StackState], at: dt.datetime) -> list[Decision]:
    """Each event's standing at `at` from its stack's observed state."""
    return [Decision(e, states[e.stack], standing(e.window, at, states[e.stack].deployed, states[e.stack].proven))
            for e in events]


def state_after(action: str, before: StackState, now: dt.datetime) -> StackState:
    """What a successful action leaves: up deploys (a new up, so nothing proven yet), destroy removes,
    verify proves."""
    if action == "up":
        return StackState(deployed=True, up_at=now)
    if action == "destroy":
        return replace(before, deployed=False)
    return replace(before, proven_at=now)


class LockHeld(Exception):
    pass


@contextlib.contextmanager
def reconcile_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` for the run (fcntl, released when the process ends, however it ends);
    LockHeld at once when another run holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
            raise LockHeld(f"another swan event reconcile holds {path}{f' ({holder})' if holder else ''}; "
                           "nothing was done") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} since {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}"
                  .encode(), 0)
        yield
    finally:
        os.close(fd)


@dataclass
class Reconciler:
    backend: EventStackBackend
    prove: Callable[[ScheduledEvent], Proof]
    log: Callable[[str], None] = lambda line: None
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.timezone.utc))

    def run(self, events: list[ScheduledEvent], at: dt.datetime, dry_run: bool = False) -> list[Outcome]:
        """Read every event stack's state and decide; then perform the due actions one event at a time,
        most urgent first (`urgency`), none with dry_run. A stack whose state cannot be read is a failure
        of its own; the others still run. Outcomes come back in the order of `events`."""
        outcomes: dict[str, Outcome] = {}
        decisions = []
        for event in events:
            try:
                state = self.backend.state(event.stack)
            except Exception as exc:  # noqa: BLE001
                outcomes[event.stack] = Outcome(Decision(event, None, None), ok=False,
                                                detail=f"could not read the stack's state: {_one_line(exc)}")
                continue
            decisions.append(decide([event], {event.stack: state}, at)[0])
        for decision in sorted(decisions, key=urgency):
            action = decision.standing.action
            stack = decision.event.stack
            outcomes[stack] = Outcome(decision) if action is None or dry_run else self._perform(decision, action)
        return [outcomes[e.stack] for e in events]

    def _perform(self, decision: Decision, action: str) -> Outcome:
        event = decision.event
        self.log(f"{event.stack}: {action} ({decision.standing.phase})")
        started = time.monotonic()
        markdown, detail = "", ""
        try:
            if action == "up":
                self.backend.up(event.stack)
            elif action == "destroy":
                self.backend.destroy(event.stack)
            else:
                proof = self.prove(event)
                markdown, detail = proof.markdown, proof.detail
                if not proof.ok:
                    return Outcome(decision, action, False, detail or "verification failed",
                                   time.monotonic() - started, markdown=markdown)
                self.backend.mark_proven(event.stack)
        except Exception as exc:  # noqa: BLE001 - any failure of one event is reported, the others still run
            return Outcome(decision, action, False, _one_line(exc), time.monotonic() - started, markdown=markdown)
        return Outcome(decision, action, True, detail, time.monotonic() - started,
                       after=state_after(action, decision.state, self.clock()), markdown=markdown)


def urgency(decision: Decision) -> tuple:
    """Order of the actions in a run: proofs first (the start is near and a failure must leave time to
    act), then ups by ready_by, then destroys (a late shrink costs money, a late up costs the course)."""
    w = decision.event.window
    rank = {"verify": 0, "up": 1, "destroy": 2}.get(decision.standing.action, 3)
    deadline = {"verify": w.start, "up": w.ready_by}.get(decision.standing.action, w.down_from)
    return rank, deadline, decision.event.stack


def _one_line(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:800]}"


def exit_code(outcomes: list[Outcome]) -> int:
    return 1 if any(o.ok is False for o in outcomes) else 0


def phase_after(outcome: Outcome, at: dt.datetime) -> Optional[str]:
    """The phase the run leaves the event in (None: its state could not be read)."""
    s = outcome.state
    return None if s is None else standing(outcome.decision.event.window, at, s.deployed, s.proven).phase


# -- reports -------------------------------------------------------------------------------------
def to_prometheus(outcomes: list[Outcome], at: dt.datetime, finished: float) -> str:
    """The metrics alert rules read (all gauges): phase, window times, readiness, the action's result."""
    from stacks.verify.report import metric_family

    def ids(o: Outcome) -> dict[str, str]:
        return {"event": o.decision.event.name, "stack": o.decision.event.stack}

    def ts(t: dt.datetime) -> float:
        return round(t.timestamp())

    out = [
        metric_family("swan_event_phase", "1 for the event's current phase, 0 for the others.",
                      [({**ids(o), "phase": p}, int(phase_after(o, at) == p)) for o in outcomes for p in PHASES]),
        metric_family("swan_event_ready_by_timestamp_seconds", "Unix time the event's nodes must be ready.",
                      [(ids(o), ts(o.decision.event.window.ready_by)) for o in outcomes]),
        metric_family("swan_event_start_timestamp_seconds", "Unix time the event starts.",
                      [(ids(o), ts(o.decision.event.window.start)) for o in outcomes]),
        metric_family("swan_event_end_timestamp_seconds", "Unix time the event ends.",
                      [(ids(o), ts(o.decision.event.window.end)) for o in outcomes]),
        metric_family("swan_event_ready", "1 when a participant's session was proven since the last up.",
                      [(ids(o), int(bool(o.state and o.state.deployed and o.state.proven))) for o in outcomes]),
        metric_family("swan_event_action_success", "1/0 for the action this run performed (absent if none).",
                      [({**ids(o), "action": o.action}, int(bool(o.ok))) for o in outcomes if o.action and o.ok is not None]),
        metric_family("swan_event_reconcile_last_run_timestamp_seconds", "Unix time the run finished.",
                      [({}, round(finished))]),
    ]
    return "".join(out)


def to_markdown(outcomes: list[Outcome], at: dt.datetime, dry_run: bool = False) -> str:
    """A summary for a chat: a line per event, failures first and loud, each failed proof's checks after."""
    failed = [o for o in outcomes if o.ok is False]
    head = "dry run: nothing was changed" if dry_run else (
        f"**{len(failed)} action(s) FAILED**" if failed else "all due actions succeeded")
    lines = [f"# swan event reconcile at {at.astimezone(dt.timezone.utc):%Y-%m-%d %H:%M} UTC", "", head, "",
             "| event | stack | phase | action | result | detail |", "|---|---|---|---|---|---|"]
    for o in sorted(outcomes, key=lambda o: (o.ok is not False, o.decision.event.stack)):
        result = {None: "-", True: "ok", False: "**FAILED**"}[o.ok]
        due = o.decision.standing.action if o.decision.standing else None
        action = o.action or (f"{due} (not run)" if due else "-")
        detail = o.detail.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {o.decision.event.name} | `{o.decision.event.stack}` | {phase_after(o, at) or 'unknown'} | {action} "
                     f"| {result} | {detail} |")
    for o in failed:
        if o.markdown:
            lines += ["", f"## {o.decision.event.name}: {o.action}", "", o.markdown.strip()]
    return "\n".join(lines) + "\n"
