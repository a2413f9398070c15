"""`swan event reconcile`: the decisions on a table, the Automation API glue driving a stand-in `pulumi`,
the command end to end (actions, metrics, Markdown, exit codes), the lock, --dry-run, and that
environment stacks are never touched.

The real Pulumi CLI is not installable here (npm's `pulumi` package only downloads the binary from
github.com, which is unreachable), so `tests/events/fake_pulumi.py` stands in for it on PATH: it answers
exactly the commands the pinned SDK's Automation API runs (read from `pulumi/automation/_local_workspace.py`,
`_stack.py`, `_cmd.py`) and records every call. Everything else is the real code: `pulumi.automation`
itself, the lifecycle, the metrics, and for `verify` the real `swan verify` request path (which reads the
environment's outputs with `pulumi stack output`).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stacks.cli.main import app
from stacks.events.automation import PROVEN_TAG, UP_TAG, EventStacks, NotAnEventStack, StackState
from stacks.events.lifecycle import Window
from stacks.events.reconcile import LOCK_FILE, Proof, Reconciler, decide, reconcile_lock, to_prometheus
from stacks.events.schedule import ScheduledEvent

HERE = Path(__file__).resolve().parent
UTC = dt.timezone.utc
runner = CliRunner()
ENVIRONMENTS = ("openstack-prod", "oci-pilot", "kind", "t4-shared", "everything-on")


# -- decisions, pure --------------------------------------------------------------------------------
def _event(stack: str, ready_by_hour: float) -> ScheduledEvent:
    ready_by = dt.datetime(2026, 12, 1, tzinfo=UTC) + dt.timedelta(hours=ready_by_hour)
    window = Window(ready_by, ready_by + dt.timedelta(hours=2), ready_by + dt.timedelta(hours=10),
                    dt.timedelta(minutes=30), dt.timedelta(minutes=15))
    return ScheduledEvent(stack, stack.removeprefix("event-"), window, ("openstack-prod",), "openstack-prod")


UP_AT = dt.datetime(2026, 12, 1, 5, tzinfo=UTC)
DECISIONS = [
    # ready_by hour, state -> phase, action  (judged at 07:00 UTC)
    (9, StackState(False), "scheduled", None),
    (7, StackState(False), "due-up", "up"),
    (7, StackState(True, UP_AT), "warming", "verify"),
    (7, StackState(True, UP_AT, UP_AT - dt.timedelta(hours=1)), "warming", "verify"),  # proven before the last up
    (7, StackState(True, UP_AT, UP_AT + dt.timedelta(minutes=5)), "ready", None),
    (6, StackState(True, UP_AT), "warming", "verify"),
    (4, StackState(True, UP_AT), "running", None),
    (-3, StackState(True, None, None), "running", None),      # ended 07:00: in the 15 minutes of grace
    (-4, StackState(True, None, None), "due-down", "destroy"),
    (-4, StackState(False), "ended", None),
]


def test_decisions_on_a_table():
    at = dt.datetime(2026, 12, 1, 7, tzinfo=UTC)
    events = [_event(f"event-e{i}", hour) for i, (hour, *_rest) in enumerate(DECISIONS)]
    states = {e.stack: state for e, (_, state, *_r) in zip(events, DECISIONS)}
    got = [(d.standing.phase, d.standing.action) for d in decide(events, states, at)]
    assert got == [(phase, action) for *_, phase, action in DECISIONS]


class MemoryBackend:
    """In-memory event stacks for the run's bookkeeping (the Pulumi glue is tested below with the stand-in)."""

    def __init__(self, states: dict[str, StackState], failing: set[str] = frozenset()):
        self.states, self.failing, self.calls = dict(states), failing, []

    def state(self, stack):
        if f"state:{stack}" in self.failing:
            raise RuntimeError("backend unreachable")
        return self.states[stack]

    def _do(self, op, stack):
        self.calls.append((op, stack))
        if f"{op}:{stack}" in self.failing:
            raise RuntimeError(f"{op} failed")

    def up(self, stack):
        self._do("up", stack)

    def destroy(self, stack):
        self._do("destroy", stack)

    def mark_proven(self, stack):
        self._do("mark_proven", stack)


def test_one_action_per_event_failures_isolated_and_reported():
    """A failing up does not stop the next event's destroy; a failed proof is not recorded as proven;
    a state that cannot be read fails that event only. The metrics say each."""
    at = dt.datetime(2026, 12, 1, 7, tzinfo=UTC)
    events = [_event("event-a", 7), _event("event-b", -4), _event("event-c", 7), _event("event-d", 7), _event("event-e", 7)]
    backend = MemoryBackend({"event-a": StackState(False), "event-b": StackState(True),
                             "event-c": StackState(True, UP_AT), "event-d": StackState(True, UP_AT),
                             "event-e": StackState(False)},
                            failing={"up:event-a", "state:event-e"})
    proofs = {"c": Proof(False, "spawn timed out", "| hub.event | **FAIL** |"), "d": Proof(True)}
    outcomes = Reconciler(backend, lambda e: proofs[e.name]).run(events, at)
    # proofs first, then ups, then destroys; the outcomes in the events' order
    assert backend.calls == [("mark_proven", "event-d"), ("up", "event-a"), ("destroy", "event-b")]
    assert [(o.action, o.ok) for o in outcomes] == [("up", False), ("destroy", True), ("verify", False),
                                                    ("verify", True), (None, False)]
    metrics = to_prometheus(outcomes, at, finished=1_800_000_000)
    assert 'swan_event_action_success{event="a",stack="event-a",action="up"} 0' in metrics
    assert 'swan_event_action_success{event="c",stack="event-c",action="verify"} 0' in metrics
    assert 'swan_event_ready{event="d",stack="event-d"} 1' in metrics
    assert 'swan_event_ready{event="c",stack="event-c"} 0' in metrics
    assert 'swan_event_phase{event="d",stack="event-d",phase="ready"} 1' in metrics
    assert 'swan_event_phase{event="b",stack="event-b",phase="ended"} 1' in metrics
    assert 'swan_event_phase{event="e",stack="event-e",phase="due-up"} 0' in metrics  # unknown: no phase is 1
    assert not any(line.startswith('swan_event_phase{event="e"') and line.endswith(" 1") for line in metrics.splitlines())
    assert "swan_event_reconcile_last_run_timestamp_seconds 1800000000" in metrics


def test_ups_are_performed_by_ready_by_before_any_destroy():
    at = dt.datetime(2026, 12, 1, 7, tzinfo=UTC)
    events = [_event("event-a", -4), _event("event-b", 7.25), _event("event-c", 7)]
    backend = MemoryBackend({e.stack: StackState(e.stack == "event-a") for e in events})
    Reconciler(backend, lambda e: Proof(True)).run(events, at)
    assert backend.calls == [("up", "event-c"), ("up", "event-b"), ("destroy", "event-a")]


def test_dry_run_performs_nothing():
    at = dt.datetime(2026, 12, 1, 7, tzinfo=UTC)
    backend = MemoryBackend({"event-a": StackState(False), "event-b": StackState(True)})
    outcomes = Reconciler(backend, lambda e: pytest.fail("no proof in a dry run")).run(
        [_event("event-a", 7), _event("event-b", -4)], at, dry_run=True)
    assert backend.calls == [] and [o.decision.standing.action for o in outcomes] == ["up", "destroy"]


# -- the stand-in pulumi -------------------------------------------------------------------------------
class FakePulumi:
    def __init__(self, root: Path):
        self.log, self.state_file = root / "pulumi-calls.jsonl", root / "pulumi-state.json"
        self.bin = root / "bin"
        self.bin.mkdir()
        script = self.bin / "pulumi"
        script.write_text(f"#!/bin/sh\nexec {sys.executable} {HERE / 'fake_pulumi.py'} \"$@\"\n")
        script.chmod(0o755)

    def calls(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []

    def argv(self) -> list[list[str]]:
        return [[a for a in c["argv"] if a != "--non-interactive"] for c in self.calls()]

    def state(self) -> dict:
        return json.loads(self.state_file.read_text()) if self.state_file.exists() else {}

    def seed(self, stacks: dict) -> None:
        self.state_file.write_text(json.dumps(stacks))


DEPLOYED = [{"urn": "urn:pulumi:s::swan::pulumi:pulumi:Stack::s", "type": "pulumi:pulumi:Stack"},
            {"urn": "urn:pulumi:s::swan::openstack:containerinfra/nodeGroup:NodeGroup::pool",
             "type": "openstack:containerinfra/nodeGroup:NodeGroup"}]


@pytest.fixture
def pulumi(project, tmp_path, monkeypatch) -> FakePulumi:
    fake = FakePulumi(tmp_path)
    monkeypatch.setenv("PATH", f"{fake.bin}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_PULUMI_LOG", str(fake.log))
    monkeypatch.setenv("FAKE_PULUMI_STATE", str(fake.state_file))
    monkeypatch.delenv("FAKE_PULUMI_FAIL", raising=False)
    # the environments are deployed: the reconcile must leave them alone
    fake.seed({env: {"resources": DEPLOYED, "tags": {}, "outputs": {}} for env in ENVIRONMENTS})
    return fake


def _touching(argv: list[str], stacks) -> bool:
    return any(s in argv for s in stacks)


def test_automation_glue_drives_the_cli_as_the_sdk_does(project, pulumi):
    stacks = EventStacks(project.root, clock=lambda: dt.datetime(2026, 12, 1, 5, 0, tzinfo=UTC))
    assert stacks.state("event-ml-workshop") == StackState(False)   # never created: not deployed
    stacks.up("event-ml-workshop")
    argv = pulumi.argv()
    assert ["stack", "select", "--stack", "event-ml-workshop"] in argv
    assert ["stack", "init", "event-ml-workshop"] in argv              # created on the first up
    up = next(a for a in argv if a[0] == "up")
    assert up[:3] == ["up", "--yes", "--skip-preview"] and up[-2:] == ["--stack", "event-ml-workshop"]
    assert ["stack", "tag", "set", UP_TAG, "2026-12-01T05:00:00+00:00", "--stack", "event-ml-workshop"] in argv
    assert {c["cwd"] for c in pulumi.calls()} == {str(project.root)}  # the project: Pulumi.yaml, config/
    state = stacks.state("event-ml-workshop")
    assert state.deployed and not state.proven
    stacks.clock = lambda: dt.datetime(2026, 12, 1, 5, 40, tzinfo=UTC)
    stacks.mark_proven("event-ml-workshop")
    assert stacks.state("event-ml-workshop").proven
    stacks.destroy("event-ml-workshop")
    assert any(a[:3] == ["destroy", "--skip-preview", "--yes"] for a in pulumi.argv())
    assert not stacks.state("event-ml-workshop").deployed
    assert pulumi.state()["event-ml-workshop"]["tags"][PROVEN_TAG] == "2026-12-01T05:40:00+00:00"


@pytest.mark.parametrize("stack", ["openstack-prod", "kind", "no-such-stack"])
@pytest.mark.parametrize("operation", ["state", "up", "destroy", "mark_proven"])
def test_the_glue_refuses_any_stack_that_is_not_an_event(project, pulumi, stack, operation):
    with pytest.raises(NotAnEventStack, match="not an event stack"):
        getattr(EventStacks(project.root), operation)(stack)
    assert pulumi.calls() == []   # refused before the CLI is even asked its version


# -- the command ---------------------------------------------------------------------------------------
def _reconcile(*args: str):
    return runner.invoke(app, ["event", "reconcile", *args])


def _actions(pulumi: FakePulumi) -> list[tuple[str, str]]:
    """(operation, stack) of every call that changes something."""
    changing = []
    for a in pulumi.argv():
        stack = a[a.index("--stack") + 1] if "--stack" in a else a[a.index("-s") + 1] if "-s" in a else None
        if a[0] in ("up", "destroy") or a[:2] == ["stack", "init"] or a[:3] == ["stack", "tag", "set"]:
            changing.append((" ".join(a[:3]) if a[0] == "stack" else a[0], stack or a[2]))
    return changing


DUE_UP = "2026-12-01T05:45:00+01:00"   # ml-workshop: ready_by 06:00, lead 30m; the others later


def test_reconcile_brings_up_what_is_due_and_reports_it(project, pulumi):
    result = _reconcile("--at", DUE_UP, "--prometheus", "m.prom", "--markdown", "r.md")
    assert result.exit_code == 0, result.output
    assert [op for op in _actions(pulumi) if op[0] == "up"] == [("up", "event-ml-workshop")]
    for env in ENVIRONMENTS:
        assert not any(_touching(a, [env]) for a in pulumi.argv()), f"{env} was touched"
    metrics = (project.root / "m.prom").read_text()
    assert 'swan_event_action_success{event="ml-workshop",stack="event-ml-workshop",action="up"} 1' in metrics
    assert 'swan_event_phase{event="ml-workshop",stack="event-ml-workshop",phase="warming"} 1' in metrics
    assert 'swan_event_phase{event="physics-course",stack="event-physics-course",phase="scheduled"} 1' in metrics
    ready_by = int(dt.datetime.fromisoformat("2026-12-01T06:00:00+01:00").timestamp())
    assert f'swan_event_ready_by_timestamp_seconds{{event="ml-workshop",stack="event-ml-workshop"}} {ready_by}' in metrics
    assert "| ml-workshop | `event-ml-workshop` | warming | up | ok |" in (project.root / "r.md").read_text()
    # the next run, same time: nothing more is due (verify only from ready_by)
    before = len(pulumi.calls())
    assert _reconcile("--at", DUE_UP).exit_code == 0
    assert [a for a in pulumi.argv()[before:] if a[0] in ("up", "destroy")] == []


def test_dry_run_changes_nothing(project, pulumi):
    before = pulumi.state()
    result = _reconcile("--at", DUE_UP, "--dry-run", "--markdown", "r.md")
    assert result.exit_code == 0, result.output
    assert _actions(pulumi) == [] and pulumi.state() == before
    assert "up (dry run)" in result.stdout
    assert "dry run: nothing was changed" in (project.root / "r.md").read_text()


def test_a_failed_up_is_exit_1_with_metric_and_summary(project, pulumi, monkeypatch):
    monkeypatch.setenv("FAKE_PULUMI_FAIL", "up:event-ml-workshop")
    result = _reconcile("--at", DUE_UP, "--prometheus", "m.prom", "--markdown", "r.md")
    assert result.exit_code == 1, result.output
    assert 'action="up"} 0' in (project.root / "m.prom").read_text()
    summary = (project.root / "r.md").read_text()
    assert "**1 action(s) FAILED**" in summary and "quota exceeded" in summary


def test_a_failed_proof_is_loud_and_reads_the_environment_only(project, pulumi):
    """At ready_by the deployed event is verified with the real `swan verify ENV --event NAME` path; the
    environment's outputs (here: no `verify` output) make it fail: exit 1, ready 0, the reason in the
    summary. The environment stack is only read (`stack output`), never changed."""
    stacks = pulumi.state()
    stacks["event-ml-workshop"] = {"resources": DEPLOYED, "tags": {UP_TAG: "2026-12-01T04:00:00+00:00"}}
    pulumi.seed(stacks)
    result = _reconcile("--at", "2026-12-01T06:00:00+01:00", "--prometheus", "m.prom", "--markdown", "r.md")
    assert result.exit_code == 1, result.output
    metrics = (project.root / "m.prom").read_text()
    assert 'swan_event_action_success{event="ml-workshop",stack="event-ml-workshop",action="verify"} 0' in metrics
    assert 'swan_event_ready{event="ml-workshop",stack="event-ml-workshop"} 0' in metrics
    assert "the stack has no `verify` output" in (project.root / "r.md").read_text()
    env_calls = [a for a in pulumi.argv() if _touching(a, ["openstack-prod"])]
    assert env_calls and all(a[:2] == ["stack", "output"] for a in env_calls)
    assert PROVEN_TAG not in pulumi.state()["event-ml-workshop"]["tags"]


def test_destroy_after_end_and_grace_leaves_environments_and_running_events(project, pulumi):
    stacks = pulumi.state()
    stacks["event-ml-workshop"] = {"resources": DEPLOYED, "tags": {}}
    stacks["event-physics-course"] = {"resources": DEPLOYED, "tags": {}}
    pulumi.seed(stacks)
    assert _reconcile("--at", "2026-12-03T18:15:00+01:00").exit_code == 0    # end 18:00 + grace 15m
    assert _actions(pulumi) == [("destroy", "event-ml-workshop")]
    assert pulumi.state()["openstack-prod"]["resources"] == DEPLOYED


def test_a_second_concurrent_reconcile_is_refused(project, pulumi):
    """Another process holds the lock (as a long `up` would): this run exits 3 and does nothing."""
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys
            from pathlib import Path
            from stacks.events.reconcile import reconcile_lock
            with reconcile_lock(Path({str(project.root / LOCK_FILE)!r})):
                print("locked", flush=True)
                sys.stdin.readline()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(HERE.parents[1])})
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = _reconcile("--at", DUE_UP)
        assert result.exit_code == 3, result.output
        assert "another swan event reconcile holds" in result.stderr and f"pid {holder.pid}" in result.stderr
        assert _actions(pulumi) == []
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert _reconcile("--at", DUE_UP).exit_code == 0   # released: the next run proceeds
    assert ("up", "event-ml-workshop") in _actions(pulumi)


def test_the_lock_is_exclusive_within_a_process_too(tmp_path):
    from stacks.events.reconcile import LockHeld

    with reconcile_lock(tmp_path / "l"):
        with pytest.raises(LockHeld):
            with reconcile_lock(tmp_path / "l"):
                pass
    with reconcile_lock(tmp_path / "l"):
        pass


def test_status_asks_the_backend_when_told(project, pulumi):
    stacks = pulumi.state()
    stacks["event-ml-workshop"] = {"resources": DEPLOYED, "tags": {UP_TAG: "2026-12-01T04:00:00+00:00",
                                                                    PROVEN_TAG: "2026-12-01T05:10:00+00:00"}}
    pulumi.seed(stacks)
    result = runner.invoke(app, ["event", "status", "--json", "--deployed-from", "pulumi",
                                 "--at", "2026-12-01T07:00:00+01:00"])
    assert result.exit_code == 0, result.output
    events = {e["stack"]: e for e in json.loads(result.stdout)["events"]}
    assert (events["event-ml-workshop"]["phase"], events["event-ml-workshop"]["action"]) == ("ready", None)
    assert (events["event-t4-course"]["phase"], events["event-t4-course"]["deployed"]) == ("scheduled", False)
    assert _actions(pulumi) == []


@pytest.fixture
def pushgateway():
    """A real HTTP server on loopback that records what is PUT to it, as a Pushgateway receives it."""
    import http.server
    import threading

    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_PUT(self):  # noqa: N802 - the http.server API
            received.append((self.path, self.rfile.read(int(self.headers["Content-Length"])).decode()))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def test_metrics_are_pushed_under_the_reconcile_job_but_not_in_a_dry_run(project, pulumi, pushgateway):
    url, received = pushgateway
    assert _reconcile("--at", DUE_UP, "--dry-run", "--pushgateway", url).exit_code == 0
    assert received == []
    assert _reconcile("--at", DUE_UP, "--pushgateway", url).exit_code == 0
    [(path, body)] = received
    assert path == "/metrics/job/swan_event_reconcile"
    assert "# TYPE swan_event_phase gauge" in body and "swan_event_reconcile_last_run_timestamp_seconds " in body
