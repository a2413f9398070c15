"""Read what to verify from a deployed stack: `pulumi stack output --json --show-secrets -s STACK`.

The platform layer exports one output, `verify`, a mapping with any of these keys:
`hub_url`, `kubeconfig` (file path or the kubeconfig itself), `inventory` (path to the
Ansible inventory of static/vm nodes), `expectations` (the cluster expectations document,
see `stacks.verify.cluster.load_expectations`), `profiles`, `gpu_profiles`,
`software_paths`, `software_imports`, `events_namespace` and `event_options` (course events). The hub token is never an output: it comes from the
environment variable named by `--token-env`.

Only `read_stack_outputs` needs the Pulumi CLI and a backend; it is exercised by real runs,
not by the tests here. `verify_settings` is pure.
"""
from __future__ import annotations

from stacks.errors import InputError, Problem
from stacks.pulumi_cli import stack_outputs

KNOWN_KEYS = ("hub_url", "kubeconfig", "inventory", "expectations", "profiles", "gpu_profiles", "session_options",
              "software_paths", "software_imports", "events_namespace", "event_options")


def read_stack_outputs(stack: str) -> dict:
    """Outputs of a deployed stack, secrets included (the kubeconfig is one)."""
    return stack_outputs(stack, "--hub-url/--token-env/--kubeconfig/--inventory explicitly")


def verify_settings(outputs: dict, stack: str) -> dict:
    """The `verify` output of a stack, checked for unknown keys."""
    settings = outputs.get("verify")
    if not isinstance(settings, dict):
        raise InputError(Problem("STACK", stack, "the stack has no `verify` output (is the platform layer deployed?)"))
    unknown = sorted(set(settings) - set(KNOWN_KEYS))
    if unknown:
        raise InputError([Problem("STACK", f"verify.{k}", "unknown key") for k in unknown])
    return settings
