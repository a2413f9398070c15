"""The one place that calls the Pulumi CLI: outputs of a deployed stack, secrets included.

Commands that work on a deployed stack (`swan verify STACK`, `swan nodes apply STACK`) read
what they need here. Needs the pulumi CLI and a logged-in backend, so the tests exercise it
only through a stand-in `pulumi` on PATH.
"""
from __future__ import annotations

import json
import shutil
import subprocess

from stacks.errors import InputError, Problem


def stack_outputs(stack: str, instead: str) -> dict:
    """`pulumi stack output --json --show-secrets -s STACK`; `instead` says how to do without."""
    pulumi = shutil.which("pulumi")
    if not pulumi:
        raise InputError(Problem("STACK", stack, f"the pulumi CLI is not on PATH; install it, or pass {instead}"))
    proc = subprocess.run([pulumi, "stack", "output", "--json", "--show-secrets", "-s", stack],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise InputError(Problem("STACK", stack, f"pulumi stack output failed: {proc.stderr.strip()[:500]}"))
    return json.loads(proc.stdout or "{}")
