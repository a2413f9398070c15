"""`swan charts pull`: fill the local chart cache with the charts the stacks pin."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from stacks.cli.common import console, err_console, input_errors_exit_2
from stacks.output_files import output_folder_problem

app = typer.Typer(help="The upstream Helm charts the stacks pin (the chart cache `swan render` reads).",
                  no_args_is_help=True)


@app.command("pull")
@input_errors_exit_2
def pull(stacks: Optional[List[str]] = typer.Argument(None, help="Stacks whose charts to fetch (default: all)."),
         cache: Optional[Path] = typer.Option(None, "--charts", help="Cache folder (default: the first folder of "
                                                                    "$SWAN_CHARTS, else ~/.cache/swan-iac/charts).")
         ) -> None:
    """`helm pull` every chart the stacks' releases pin into the cache, as `<chart>-<version>/`.

    Exit 2 before any pull when the cache is a file, or when a chart is missing from it and it
    cannot be written (a complete read-only mirror is fine)."""
    from stacks import charts
    from stacks.config.loader import stack_names
    from stacks.errors import InputError
    from stacks.render import release_specs, run_program

    target = cache or charts.chart_dirs()[0]
    option = "--charts" if cache else f"${charts.CHARTS_ENV} (the chart cache)"
    problem = output_folder_problem(option, target, writable=False)
    if problem:
        raise InputError(problem)
    refs: dict[str, charts.ChartRef] = {}
    for stack in stacks or stack_names():
        with console.status(f"Reading the releases of {stack}..."):
            for spec in release_specs(run_program(stack).resources):
                refs.setdefault(spec.ref.folder, spec.ref)
    if any(charts.find_chart(ref, [target]) is None for ref in refs.values()):
        problem = output_folder_problem(option, target)
        if problem:
            raise InputError(problem)
    failed = 0
    for folder, ref in sorted(refs.items()):
        with console.status(f"helm pull {ref}..."):
            try:
                path = charts.pull(ref, target)
            except charts.ChartError as exc:
                failed += 1
                err_console.print(f"{folder}: {exc}", markup=False, highlight=False)
                continue
        console.print(f"{folder}: {path}", markup=False, highlight=False)
    console.print(f"{len(refs) - failed} of {len(refs)} charts in {target}")
    if failed:
        raise typer.Exit(1)
