"""`swan nodes apply`: run the node playbooks through ansible-runner outside Pulumi, with
progress per task and host. Ansible is imported only when the command runs."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional

import typer

from stacks.cli.common import console, input_errors_exit_2, name_column
from stacks.errors import InputError, Problem

if TYPE_CHECKING:
    from stacks.nodes.runner import PlaybookRun

app = typer.Typer(help="Configure nodes with the Ansible roles under roles/.", no_args_is_help=True)

_STYLE = {"ok": "green", "changed": "yellow", "failed": "bold red", "unreachable": "bold red", "skipped": "cyan"}


def parse_extra_vars(items: list[str]) -> dict[str, Any]:
    """`KEY=VALUE` (VALUE read as YAML, so 5, true, [a, b] keep their type) or `@FILE`
    (a YAML/JSON mapping); later items win."""
    import yaml

    result: dict[str, Any] = {}
    problems = []
    for item in items:
        if item.startswith("@"):
            path = Path(item[1:])
            try:
                data = yaml.safe_load(path.read_text())
            except (OSError, yaml.YAMLError) as error:
                problems.append(Problem("--extra-vars", item, f"cannot read: {error}"))
                continue
            if not isinstance(data, dict):
                problems.append(Problem("--extra-vars", item, "must hold a mapping of variables"))
                continue
            result.update(data)
        elif "=" in item and item.split("=", 1)[0]:
            key, value = item.split("=", 1)
            try:
                result[key] = yaml.safe_load(value) if value else ""
            except yaml.YAMLError:
                result[key] = value
        else:
            problems.append(Problem("--extra-vars", item, "expected KEY=VALUE or @FILE"))
    if problems:
        raise InputError(problems)
    return result


def apply_nodes(
    inventory: str | Path | Mapping[str, Any],
    *,
    playbook: str = "site",
    limit: Optional[str] = None,
    extravars: Optional[Mapping[str, Any]] = None,
) -> "PlaybookRun":
    """Apply a playbook with live progress on the console and a per-host recap; raises
    PlaybookFailed (host and task named) after printing the recap."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from stacks.nodes.runner import PlaybookFailed, TaskEvent, apply_playbook

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        current = progress.add_task(f"starting {playbook}", total=None)

        def show(event: TaskEvent) -> None:
            if event.status == "start":
                role = f"{event.role}: " if event.role else ""
                progress.update(current, description=f"{role}{event.task}")
                return
            if event.status in ("ok", "skipped"):
                return
            role = f"{event.role} | " if event.role else ""
            progress.console.print(f"[{_STYLE[event.status]}]{event.status:<11}[/] ", end="", highlight=False)
            progress.console.print(f"{event.host:<20} {role}{event.task}", markup=False, highlight=False)
            if event.message and event.status in ("failed", "unreachable"):
                progress.console.print(f"            {event.message}", markup=False, highlight=False)

        try:
            run = apply_playbook(playbook, inventory, extravars=extravars, limit=limit, on_event=show)
        except PlaybookFailed as failure:
            _recap(failure.run)
            raise
    _recap(run)
    return run


def _recap(run: "PlaybookRun") -> None:
    from rich.table import Table

    table = Table(title=f"{Path(run.playbook).name}: {run.status} in {run.seconds:.0f}s")
    name_column(table, "host")
    for column in ("ok", "changed", "failed", "unreachable", "skipped"):
        table.add_column(column, justify="right", no_wrap=True)
    for host, stats in sorted(run.hosts.items()):
        table.add_row(host, str(stats.ok), str(stats.changed), str(stats.failed), str(stats.unreachable), str(stats.skipped))
    console.print(table)


def stack_inventory(stack: str) -> dict:
    """The inventory `pulumi up` applied for STACK: its secret `nodeInventory` output, parsed through the
    stack-output contract (`stacks.stack_outputs.EnvironmentOutputs.node_inventory`)."""
    from pydantic import ValidationError

    from stacks.pulumi_cli import stack_outputs
    from stacks.stack_outputs import EnvironmentOutputs, output_name, parse_field

    name = output_name(EnvironmentOutputs, "node_inventory")
    inventory = stack_outputs(stack, "--inventory FILE").get(name)
    if not isinstance(inventory, dict):
        raise InputError(Problem("STACK", stack, f"the stack has no {name} output "
                                 "(no swan:nodes in its config, or not deployed yet)"))
    try:
        parsed = parse_field(EnvironmentOutputs, "node_inventory", inventory)
    except ValidationError as exc:
        raise InputError([Problem("STACK", ".".join([f"{stack}:{name}", *map(str, e["loc"])]),
                                  "unknown key" if e["type"] == "extra_forbidden" else e["msg"])
                          for e in exc.errors()]) from None
    return parsed.model_dump(mode="json", exclude_unset=True)


def _check_stack_inventory(stack: str, inventory: dict, limit: Optional[str]) -> None:
    """The stack's inventory through the same check as --inventory (written to a private temp file)."""
    import tempfile

    from stacks.nodes.inventory import inventory_hosts, write_inventory

    with tempfile.TemporaryDirectory(prefix="swan-inventory-") as folder:
        path = write_inventory(inventory, Path(folder) / "hosts.yml")
        try:
            inventory_hosts(path, limit, option="STACK")
        except InputError as exc:  # name the stack, not the temp file
            raise InputError([Problem(p.path, p.key, p.message.replace(str(path), f"{stack}'s nodeInventory"))
                              for p in exc.problems]) from None


@app.command("apply")
@input_errors_exit_2
def apply(
    stack: Optional[str] = typer.Argument(None, help="Deployed stack whose swan:nodes to configure (needs the pulumi CLI)."),
    inventory: Optional[str] = typer.Option(None, "--inventory", "-i", help="Ansible inventory (YAML/INI file) of the nodes."),
    limit: Optional[str] = typer.Option(None, "--limit", "-l", help="Ansible host pattern: only these hosts."),
    playbook: str = typer.Option("site", "--playbook", help="Playbook name under playbooks/ (site, role) or a path."),
    extra_vars: list[str] = typer.Option([], "--extra-vars", "-e", help="KEY=VALUE or @FILE; repeat as needed."),
) -> None:
    """Apply the roles to the nodes of a deployed STACK or of an inventory; exit 1 naming the failing host and task.

    site.yml gives every host `common` and each other role to the group of its name. Exit 2 before
    Ansible runs for an inventory Ansible cannot read or that holds no host, and for a --limit that
    matches no host (the hosts there are listed)."""
    from stacks.nodes.inventory import inventory_hosts
    from stacks.nodes.runner import PlaybookFailed, playbook_path

    if (stack is None) == (inventory is None):
        raise InputError(Problem("swan nodes apply", "STACK|--inventory", "give exactly one of STACK or --inventory"))
    extravars = parse_extra_vars(extra_vars)
    try:
        playbook_path(playbook)
    except InputError as exc:
        raise InputError([Problem("--playbook", "", f"{playbook}: {p.message}") for p in exc.problems]) from None
    # Before Ansible runs: Ansible itself reads the inventory; one it cannot read, one without
    # hosts or a --limit matching none of them is refused (ansible-playbook would "succeed" on 0 hosts).
    if stack:
        hosts = stack_inventory(stack)
        _check_stack_inventory(stack, hosts, limit)
    else:
        hosts = inventory
        inventory_hosts(inventory, limit, option="--inventory")
    try:
        run = apply_nodes(hosts, playbook=playbook, limit=limit, extravars=extravars)
    except PlaybookFailed as failure:
        console.print("[bold red]failed[/] ", end="")
        console.print(str(failure), markup=False, highlight=False)
        raise typer.Exit(1) from None
    console.print(f"[green]done[/]: {len(run.hosts)} host(s), {run.changed} change(s)", highlight=False)
