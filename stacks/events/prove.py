"""Prove an event ready: the same run as `swan verify ENVIRONMENT --only hub --event NAME`, once per
environment the event's plan puts nodes in (each has its own hub offering the flavour).

That run reads the environment's `verify` output (hub URL, kubeconfig, events namespace, event
session options) with the pulumi CLI, spawns the event's flavour as a synthetic member of the
event's group, runs code on the GPU, checks the software, and removes its test users. Its Markdown
report is kept for the reconcile's summary.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional

from stacks.events.reconcile import Proof
from stacks.events.schedule import ScheduledEvent


def verify_event(environment: str, event: str, token_env: Optional[str], console, err_console, echo) -> Proof:
    """One `swan verify` run for `event` on `environment`; bad arguments count as a failed proof."""
    from stacks.errors import InputError
    from stacks.verify.request import VerifyArgs, VerifyRequest
    from stacks.verify.session import VerifySession

    with tempfile.TemporaryDirectory(prefix="swan-event-prove-") as folder:
        markdown = Path(folder) / "verify.md"
        args = VerifyArgs(stack=environment, only="hub", event=(event,), token_env=token_env,
                          markdown=str(markdown), metrics_label=(f"event={event}",))
        try:
            code = VerifySession(VerifyRequest.from_args(args), console, err_console, echo).run()
        except InputError as exc:
            return Proof(False, f"swan verify {environment} --event {event}: " + "; ".join(map(str, exc.problems)))
        text = markdown.read_text() if markdown.exists() else ""
    return Proof(code == 0, "" if code == 0 else f"swan verify {environment} --event {event} exited {code}", text)


def prover(token_env: Optional[str], console, err_console, echo):
    """The reconcile's `prove`: every environment of the event must pass."""
    def prove(event: ScheduledEvent) -> Proof:
        proofs = [verify_event(env, event.name, token_env, console, err_console, echo) for env in event.environments]
        failed = [p for p in proofs if not p.ok]
        return Proof(not failed, "; ".join(p.detail for p in failed),
                     "\n\n".join(p.markdown for p in proofs if p.markdown))
    return prove
