"""Apply a playbook through ansible-runner and report what happened per host, role and
task; a failure becomes one error naming the host and the task. Called with plain data
(paths, dicts) so the CLI and the Pulumi resource share it."""
from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from stacks.errors import InputError, Problem
from stacks.nodes.inventory import write_inventory

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = REPO / "playbooks"
ROLES_PATH = REPO / "roles"

_RESULT_EVENTS = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_skipped": "skipped",
    "runner_on_unreachable": "unreachable",
}


@dataclass(frozen=True)
class TaskEvent:
    """One task's result on one host (status: ok, changed, failed, skipped, unreachable),
    or the start of a task (status "start", host empty)."""

    host: str
    role: str
    task: str
    status: str
    message: str = ""
    ignored: bool = False
    seconds: float = 0.0


@dataclass
class HostStats:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0


@dataclass
class PlaybookRun:
    """What a playbook run did: per-host totals from Ansible's recap, and every task result."""

    playbook: str
    status: str
    rc: int
    seconds: float
    hosts: dict[str, HostStats] = field(default_factory=dict)
    events: list[TaskEvent] = field(default_factory=list)

    def changed_by_role(self) -> dict[tuple[str, str], int]:
        """(host, role) -> number of changed task results (tasks outside roles: role "")."""
        counts: Counter[tuple[str, str]] = Counter()
        for event in self.events:
            if event.status == "changed":
                counts[(event.host, event.role)] += 1
        return dict(counts)

    def changed_tasks(self) -> list[TaskEvent]:
        return [e for e in self.events if e.status == "changed"]

    def skipped_tasks(self) -> list[TaskEvent]:
        return [e for e in self.events if e.status == "skipped"]

    @property
    def changed(self) -> int:
        return sum(s.changed for s in self.hosts.values())

    def summary(self) -> dict[str, Any]:
        """Plain data (JSON-able) for Pulumi outputs and reports."""
        return {
            "playbook": Path(self.playbook).name, "status": self.status, "rc": self.rc,
            "seconds": round(self.seconds, 1),
            "hosts": {host: asdict(stats) for host, stats in sorted(self.hosts.items())},
            "changed_by_role": {f"{h}/{r or '-'}": n for (h, r), n in sorted(self.changed_by_role().items())},
        }


def content_digest(playbook: str | Path = "site") -> str:
    """SHA-256 over the playbook and every file under roles/: changes when what a run
    would apply changes (the Pulumi resource re-applies on a new digest)."""
    digest = hashlib.sha256()
    files = [playbook_path(playbook)] + sorted(p for p in ROLES_PATH.rglob("*") if p.is_file())
    for path in files:
        digest.update(str(path.relative_to(REPO)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


class PlaybookFailed(RuntimeError):
    """A playbook run failed; names the first failing host and task."""

    def __init__(self, run: PlaybookRun, host: str | None, task: str | None, message: str):
        self.run, self.host, self.task, self.message = run, host, task, message
        where = f"{host}: task {task!r}" if host else f"playbook {run.playbook}"
        super().__init__(f"{where} failed: {message}")


def playbook_path(playbook: str | Path) -> Path:
    """A playbook by name ("site" -> playbooks/site.yml) or by path."""
    candidate = Path(playbook)
    if candidate.suffix not in (".yml", ".yaml"):
        candidate = PLAYBOOKS / f"{playbook}.yml"
    if not candidate.is_file():
        names = sorted(p.stem for p in PLAYBOOKS.glob("*.yml"))
        raise InputError(Problem(str(playbook), "playbook", f"not found (known: {', '.join(names)})"))
    return candidate.resolve()


def _message(res: Mapping[str, Any]) -> str:
    """The most useful line(s) of a failed task result."""
    if res.get("censored"):
        return str(res["censored"])
    parts = [str(res.get("msg", "")).strip()]
    for key in ("stderr", "stdout", "module_stderr", "module_stdout"):
        text = str(res.get(key, "") or "").strip()
        if text:
            parts.append(text[-800:])
            break
    failed_items = [r for r in res.get("results", []) if isinstance(r, Mapping) and r.get("failed")]
    if failed_items:
        parts.append(_message(failed_items[0]))
    return "\n".join(p for p in parts if p) or "failed (no message)"


def task_event(event: Mapping[str, Any]) -> TaskEvent | None:
    """Turn one ansible-runner event into a TaskEvent (None for events we do not track)."""
    kind = event.get("event")
    data = event.get("event_data") or {}
    if kind == "playbook_on_task_start":
        return TaskEvent("", data.get("role", ""), data.get("task", ""), "start")
    status = _RESULT_EVENTS.get(kind)
    if status is None:
        return None
    res = data.get("res") or {}
    if status == "ok" and res.get("changed"):
        status = "changed"
    message = _message(res) if status in ("failed", "unreachable") else ""
    if status == "skipped":
        message = str(res.get("skip_reason", "") or "")
    return TaskEvent(data.get("host", ""), data.get("role", "") or "", data.get("task", ""), status,
                     message, bool(data.get("ignore_errors")), float(data.get("duration") or 0.0))


def apply_playbook(
    playbook: str | Path,
    inventory: str | Path | Mapping[str, Any],
    *,
    extravars: Mapping[str, Any] | None = None,
    limit: str | None = None,
    on_event: Callable[[TaskEvent], None] | None = None,
    forks: int = 10,
    workdir: str | Path | None = None,
    private_key: str | None = None,
) -> PlaybookRun:
    """Run `playbook` (name or path) on `inventory` (a file, or a dict from
    build_inventory) and return the run; raise PlaybookFailed naming the first failing
    host and task. `on_event` sees every task start and result as it happens.
    `private_key` is an ssh private key's content (e.g. a Pulumi secret), used for every
    host that does not name its own key file; it only lives in the run's temp folder."""
    import ansible_runner

    path = playbook_path(playbook)
    with tempfile.TemporaryDirectory(prefix="swan-ansible-", dir=workdir) as private:
        if isinstance(inventory, Mapping):
            inventory_file = write_inventory(inventory, Path(private) / "inventory" / "hosts.yml")
        else:
            inventory_file = Path(inventory).resolve()
            if not inventory_file.exists():
                raise InputError(Problem(str(inventory), "", "inventory file not found"))
        events: list[TaskEvent] = []
        recap: dict[str, Any] = {}

        def handle(event: dict) -> bool:
            if event.get("event") == "playbook_on_stats":
                recap.update(event.get("event_data") or {})
            parsed = task_event(event)
            if parsed is not None:
                events.append(parsed)
                if on_event is not None:
                    on_event(parsed)
            return False  # nothing else needs the raw event on disk

        venv_bin = str(Path(sys.executable).parent)
        env = {
            "PATH": venv_bin + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"),
            "ANSIBLE_ROLES_PATH": str(ROLES_PATH),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_PIPELINING": "1",
            "ANSIBLE_GATHERING": "smart",  # facts once per host per run, not once per play
            "ANSIBLE_LOCAL_TEMP": str(Path(private) / "tmp"),
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(Path(private) / "cp"),
        }
        if private_key:
            key_file = Path(private) / "ssh_key"
            key_file.touch(mode=0o600)
            key_file.write_text(private_key if private_key.endswith("\n") else private_key + "\n")
            env["ANSIBLE_PRIVATE_KEY_FILE"] = str(key_file)
        started = time.monotonic()
        result = ansible_runner.run(
            private_data_dir=private,
            project_dir=str(path.parent),
            playbook=path.name,
            inventory=str(inventory_file),
            extravars=dict(extravars or {}),
            limit=limit,
            forks=forks,
            envvars=env,
            event_handler=handle,
            quiet=True,
            json_mode=False,
        )
        seconds = time.monotonic() - started
        stats = recap
        hosts: dict[str, HostStats] = {}
        for key, attr in (("ok", "ok"), ("changed", "changed"), ("failures", "failed"),
                          ("dark", "unreachable"), ("skipped", "skipped")):
            for host, count in (stats.get(key) or {}).items():
                setattr(hosts.setdefault(host, HostStats()), attr, count)
        run = PlaybookRun(str(path), result.status, result.rc, seconds, hosts, events)
        if result.rc != 0 or result.status != "successful":
            for event in events:
                if event.status in ("failed", "unreachable") and not event.ignored:
                    raise PlaybookFailed(run, event.host, event.task, event.message)
            output = result.stdout.read() if result.stdout else ""
            tail = "\n".join(output.strip().splitlines()[-15:])
            raise PlaybookFailed(run, None, None, f"status {result.status}, rc {result.rc}\n{tail}")
        return run
