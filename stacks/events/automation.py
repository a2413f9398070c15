"""The one place `swan event` drives Pulumi: event stacks through the Automation API
(`pulumi.automation`, which runs the pulumi CLI on the project folder; `Pulumi.yaml`'s
`stackConfigDir: config` makes it read `config/Pulumi.<stack>.yaml`).

What a later run must know is kept on the stack itself, as stack tags (the backend holds them,
so a fresh CI job sees them; DIY backends keep tags since Pulumi 3.211):
- `swan-event-up-at`: when the last `up` by `swan event reconcile` finished (ISO 8601, UTC);
- `swan-event-proven-at`: when a participant's session was last proven on it.
Proven since the last up = proven-at >= up-at. Tags are only ever set, never removed (the DIY
backend's `stack tag rm` could not remove a stack's last tag, pulumi/pulumi#23687).

Every entry point refuses a stack whose file is not `swan:kind: event`: an environment stack is
never selected, brought up or destroyed from here.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

UP_TAG = "swan-event-up-at"
PROVEN_TAG = "swan-event-proven-at"
# Resources every stack has, deployed or not: the stack itself and default providers.
_BOOKKEEPING = ("pulumi:pulumi:Stack",)


class NotAnEventStack(Exception):
    """Raised before any Pulumi command when asked to act on a stack that is not an event."""


@dataclass(frozen=True)
class StackState:
    deployed: bool
    up_at: Optional[dt.datetime] = None
    proven_at: Optional[dt.datetime] = None

    @property
    def proven(self) -> bool:
        """A session was proven after the last recorded up (an up never recorded: any proof counts)."""
        if self.proven_at is None:
            return False
        return self.up_at is None or self.proven_at >= self.up_at


def _time(text: Optional[str]) -> Optional[dt.datetime]:
    try:
        value = dt.datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
    return value if value is None or value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def deployed_resources(deployment: Optional[dict]) -> list[str]:
    """URNs of the resources a stack's exported state holds, the stack and providers left out."""
    resources = (deployment or {}).get("resources") or []
    return [r.get("urn", "?") for r in resources
            if r.get("type") not in _BOOKKEEPING and not str(r.get("type", "")).startswith("pulumi:providers:")]


def require_event_stack(stack: str) -> None:
    """NotAnEventStack unless config/Pulumi.<stack>.yaml says `swan:kind: event`."""
    from stacks.config.loader import read_swan_keys, stack_file
    from stacks.errors import InputError

    try:
        kind = read_swan_keys(stack_file(stack)).get("kind")
    except InputError:
        kind = None
    if kind != "event":
        raise NotAnEventStack(f"{stack}: not an event stack (swan:kind is {kind or 'not set'}); "
                              "swan event reconcile only acts on swan:kind: event stacks")


class EventStacks:
    """Event stacks of the project through the Automation API. `output` receives the CLI's lines."""

    def __init__(self, project_dir: Path, output: Callable[[str], None] = lambda line: None,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc)):
        self.project_dir, self.output, self.clock = Path(project_dir), output, clock

    def _stack(self, stack: str, create: bool = False):
        from pulumi import automation as auto

        require_event_stack(stack)
        select = auto.create_or_select_stack if create else auto.select_stack
        return select(stack_name=stack, work_dir=str(self.project_dir))

    def state(self, stack: str) -> StackState:
        """Deployed (any resource in its state) and the recorded times; a stack never created is not deployed."""
        from pulumi.automation import StackNotFoundError

        try:
            s = self._stack(stack)
        except StackNotFoundError:
            return StackState(deployed=False)
        deployed = bool(deployed_resources(s.export_stack().deployment))
        tags = s.list_tags()
        return StackState(deployed, _time(tags.get(UP_TAG)), _time(tags.get(PROVEN_TAG)))

    def up(self, stack: str) -> None:
        s = self._stack(stack, create=True)
        s.up(on_output=self.output, message="swan event reconcile: up")
        s.set_tag(UP_TAG, self._now())

    def destroy(self, stack: str) -> None:
        s = self._stack(stack)
        s.destroy(on_output=self.output, message="swan event reconcile: destroy")

    def mark_proven(self, stack: str) -> None:
        self._stack(stack).set_tag(PROVEN_TAG, self._now())

    def _now(self) -> str:
        return self.clock().astimezone(dt.timezone.utc).isoformat(timespec="seconds")
