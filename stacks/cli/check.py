"""`swan check`: validate stack configs and list every problem (exit 2), before any deploy."""
from __future__ import annotations

from typing import Optional

import typer
from rich.table import Table

from stacks.cli.common import console, err_console, name_column
from stacks.errors import InputError


def check(stacks: Optional[list[str]] = typer.Argument(None, help="Stack names (default: every config/Pulumi.*.yaml).")) -> None:
    """Validate stack configs; print `file: key: problem` lines and exit 2 if any is wrong."""
    from stacks.config.loader import config_dir, display_path, load_stack, stack_file, stack_names
    from stacks.config.secrets_provider import production_secrets_warnings
    from stacks.events.checks import cross_stack_problems, stack_warnings

    names = stacks or stack_names()
    if not names:
        err_console.print(f"{config_dir()}: no Pulumi.<stack>.yaml files found", markup=False)
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
        loaded[name] = cfg
        table.add_row(name, cfg.kind, getattr(cfg, "cloud", "-"), "[green]ok[/green]")
    for warning in stack_warnings(loaded) + production_secrets_warnings(loaded):
        err_console.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    console.print(table)
    if failed:
        raise typer.Exit(2)
