"""Read what to verify from a deployed stack: `pulumi stack output --json --show-secrets -s STACK`.

An environment exports `verify` (`stacks.stack_outputs.VerifySettings`): `hub_url`, `profiles`,
`session_options`, `software_paths`, `expectations` (the cluster expectations document, see
`stacks.verify.cluster.load_expectations`: every pool with its GPU resources, labels and taints), and,
where course events can be tried, `events_namespace` and `event_options`; `gpu_profiles` and
`software_imports` are accepted too. The kubeconfig and the node inventory are secrets, so they are
outputs of their own (`kubeconfig`, `nodeInventory`): `verify_settings` adds them as `kubeconfig` and
`inventory` (a `kubeconfig` or `inventory` inside `verify`, as older deployments or hand-made outputs
may have, wins). Every output is parsed through its model in `stacks.stack_outputs`. The hub token is
never an output: it comes from the environment variable named by `--token-env`.

Only `read_stack_outputs` needs the Pulumi CLI and a backend; it is exercised by real runs,
not by the tests here. `verify_settings` is pure but for writing the stack's inventory, which
Ansible reads from a file, to a private temporary file (its `inventory_file` argument).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from stacks.errors import InputError, Problem
from stacks.pulumi_cli import stack_outputs
from stacks.stack_outputs import EnvironmentOutputs, VerifySettings, output_name, parse_field

KNOWN_KEYS = tuple(VerifySettings.model_fields)


def read_stack_outputs(stack: str) -> dict:
    """Outputs of a deployed stack, secrets included (the kubeconfig is one)."""
    return stack_outputs(stack, "--hub-url/--token-env/--kubeconfig/--inventory explicitly")


def _problems(exc: ValidationError, where: str) -> list[Problem]:
    """One line per error, naming the output and key: `STACK: verify.hubUrl: unknown key`."""
    problems = []
    for error in exc.errors():
        key = ".".join([where, *(str(part) for part in error["loc"])])
        problems.append(Problem("STACK", key, "unknown key" if error["type"] == "extra_forbidden" else error["msg"]))
    return problems


def private_inventory_file(inventory: dict[str, Any]) -> str:
    """The inventory in a file only this user can read (it holds the join token and keytab), removed at exit."""
    import atexit
    import shutil
    import tempfile
    from pathlib import Path

    from stacks.nodes.inventory import write_inventory

    folder = tempfile.mkdtemp(prefix="swan-verify-inventory-")  # mode 0700
    atexit.register(shutil.rmtree, folder, True)
    return str(write_inventory(inventory, Path(folder) / "hosts.yml"))


def verify_settings(outputs: dict, stack: str,
                    inventory_file: Callable[[dict[str, Any]], str] = private_inventory_file) -> dict:
    """The settings `swan verify STACK` takes from the stack's outputs: its `verify` output, checked against
    the contract (an unknown key or a wrong type exits 2 naming it), plus the stack's `kubeconfig` and, when
    it configures nodes, its `nodeInventory` as an inventory file (`inventory_file`)."""
    raw = outputs.get("verify")
    if not isinstance(raw, dict):
        raise InputError(Problem("STACK", stack, "the stack has no `verify` output (is the platform layer deployed?)"))
    try:
        settings = VerifySettings.model_validate(raw).model_dump(mode="json", exclude_unset=True, exclude_none=True)
    except ValidationError as exc:
        raise InputError(_problems(exc, "verify")) from None
    for field, key in (("kubeconfig", "kubeconfig"), ("node_inventory", "inventory")):
        name = output_name(EnvironmentOutputs, field)
        if key in settings or outputs.get(name) is None:
            continue
        try:
            value = parse_field(EnvironmentOutputs, field, outputs[name])
        except ValidationError as exc:
            raise InputError(_problems(exc, name)) from None
        # Ansible reads an inventory from a file; a kubeconfig's text the command writes itself
        settings[key] = inventory_file(value.model_dump(mode="json", exclude_unset=True)) \
            if key == "inventory" else value
    return settings
