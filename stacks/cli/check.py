"""`swan check`: validate stack configs and list every problem (exit 2), before any deploy."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from stacks.cli.common import console, err_console, name_column
from stacks.errors import InputError


def against_render(name: str, cfg, folder: Path) -> tuple[list, list[str]]:
    """(refusals, notes) of deploying STACK's config over what the render in `folder` shows: the stack
    is rendered again (resources only, into a temporary folder) and the two renders compared."""
    import tempfile

    from stacks import render as rendering
    from stacks.changes import guard
    from stacks.changes.diff import diff_folders, load
    from stacks.config.loader import display_path, stack_file

    load(folder)  # a folder that is not a render is refused before the stack is rendered
    with tempfile.TemporaryDirectory(prefix="swan-check-") as tmp:
        now = Path(tmp) / name
        rendering.write(rendering.run_program(name), now, name)
        diff = diff_folders(folder, now)
    if getattr(cfg, "kind", "environment") != "environment":  # an event's pool lives days: not guarded
        return [], guard.notes(diff, cfg, display_path(stack_file(name)))
    where = display_path(stack_file(name))
    return guard.refusals(diff, cfg, where), guard.notes(diff, cfg, where)


def check(stacks: Optional[list[str]] = typer.Argument(None, help="Stack names (default: every config/Pulumi.*.yaml)."),
          against: Optional[Path] = typer.Option(
              None, "--against", help="An earlier `swan render` of the one STACK named (the target branch's, or the "
                                      "golden one): refuse changes that replace a cluster, network, subnet, router "
                                      "or node group unless swan:replace lists it.")) -> None:
    """Validate stack configs; print `file: key: problem` lines and exit 2 if any is wrong."""
    from stacks.config.loader import config_dir, display_path, load_stack, stack_file, stack_names
    from stacks.config.secrets_provider import production_secrets_warnings
    from stacks.events.checks import cross_stack_problems, stack_warnings

    names = stacks or stack_names()
    if not names:
        err_console.print(f"{config_dir()}: no Pulumi.<stack>.yaml files found", markup=False)
        raise typer.Exit(2)
    if against is not None and len(names) != 1:
        err_console.print(f"--against: {against}: compares one stack with its earlier render; name exactly one "
                          f"stack (got {len(names)})", markup=False, highlight=False)
        raise typer.Exit(2)
    table = Table(title="swan check")
    for column in ("stack", "kind", "cloud", "status"):
        name_column(table, column)
    failed = False
    loaded = {}
    for name in names:
        try:
            cfg = load_stack(name)
            if problems := cross_stack_problems(cfg, display_path(stack_file(name))):
                raise InputError(problems)
        except InputError as exc:
            failed = True
            for problem in exc.problems:
                err_console.print(str(problem), markup=False, highlight=False, soft_wrap=True)
            table.add_row(name, "?", "?", "[red]invalid[/red]")
            continue
        if against is not None:
            try:
                refused, explained = against_render(name, cfg, against)
            except InputError as exc:
                refused, explained = exc.problems, []
            for note in explained:
                err_console.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
            if refused:
                failed = True
                for problem in refused:
                    err_console.print(str(problem), markup=False, highlight=False, soft_wrap=True)
                table.add_row(name, cfg.kind, getattr(cfg, "cloud", "-"), "[red]refused[/red]")
                continue
        loaded[name] = cfg
        table.add_row(name, cfg.kind, getattr(cfg, "cloud", "-"), "[green]ok[/green]")
    from stacks.infra.clouds import cloud_of

    cloud_warnings = [f"{name}: {text}" for name, cfg in loaded.items() if getattr(cfg, "cloud", None)
                      for text in cloud_of(cfg).warnings(cfg)]
    for warning in [*cloud_warnings, *stack_warnings(loaded), *production_secrets_warnings(loaded)]:
        err_console.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    console.print(table)
    if failed:
        raise typer.Exit(2)
