"""`swan gpu ...`: GPU capacity planning on the command line (glue over stacks.planner)."""
from __future__ import annotations

import json

import typer

from stacks.cli.common import console, input_errors_exit_2, name_column, text_column

app = typer.Typer(help="GPU capacity planning (MIG packing).", no_args_is_help=True)


@app.command("pack")
@input_errors_exit_2
def pack_command(
    gpu: str = typer.Option(..., "--gpu", help="GPU model, e.g. A100-40GB, H100-80GB, A30-24GB, T4."),
    demand: list[str] = typer.Option(..., "--demand", help="PROFILE=N sessions, repeatable (e.g. 1g.5gb=60)."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON (with a mig-parted config)."),
) -> None:
    """Pack GPU demand onto the fewest GPUs of one model (exact integer programming)."""
    from stacks.errors import InputError
    from stacks.planner.geometry import canonical_model, parse_demand
    from stacks.planner.pack import pack

    problems, model = [], None
    try:
        model = canonical_model(gpu)
    except InputError as exc:  # still check --demand, to report every problem at once
        problems += exc.problems
    try:
        wanted = parse_demand(demand, model=model)
    except InputError as exc:
        problems += exc.problems
    if problems:
        raise InputError(problems)
    result = pack(model, wanted)
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
        return
    print_plan(result)


def print_plan(result) -> None:
    """Rich tables: the plan against one whole GPU per session and uniform layouts, then its layouts."""
    from rich.table import Table

    from stacks.planner.mig_parted import layout_name

    demand = ", ".join(f"{n} x {p}" for p, n in result.demand.items())
    compare = Table(title=f"{result.gpu}: {demand}")
    compare.add_column("allocation")
    compare.add_column("GPUs", justify="right")
    compare.add_column("saved vs whole GPUs", justify="right")
    rows = [
        ("this plan (packed MIG layouts)", result.gpus),
        ("uniform all-<profile> layouts", result.uniform_gpus),
        ("one whole GPU per session", result.whole_gpus),
    ]
    for label, gpus in rows:
        compare.add_row(label, str(gpus), str(result.whole_gpus - gpus))
    console.print(compare)
    proof = "proven minimal" if result.gpus == result.lower_bound else "optimal (integer program)"
    console.print(f"lower bound: {result.lower_bound} GPUs; plan: {result.gpus} GPUs ({proof})")

    layouts = Table(title="layouts")
    layouts.add_column("GPUs", justify="right", no_wrap=True)
    text_column(layouts, "instances per GPU")
    name_column(layouts, "nvidia.com/mig.config")
    for count, layout in result.layouts:
        layouts.add_row(str(count), " + ".join(f"{n} x {p}" for p, n in layout.items()),
                        layout_name(result.gpu, layout))
    console.print(layouts)
    if result.spare:
        console.print("spare instances: " + ", ".join(f"{n} x {p}" for p, n in result.spare.items()))
