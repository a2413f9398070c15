"""`swan gpu ...`: GPU capacity planning on the command line (glue over stacks.planner)."""
from __future__ import annotations

import json

import typer

from stacks.cli.common import console, input_errors_exit_2, name_column, text_column

app = typer.Typer(help="GPU capacity planning (MIG packing).", no_args_is_help=True)


DEMAND_HELP = (
    "Sessions, repeatable. PROFILE=N: N sessions of a MIG profile (1g.5gb=60; full = a whole GPU). "
    "MEMORYgb=N: N sessions asking MEMORY GB of GPU memory (4gb=40, 2.5gb=10); add @SHARE for a "
    "minimum compute share (4gb@0.25=40 or 4gb@25%=40) and :ISOLATION for their own isolation "
    "(4gb:mps=40, 4gb@0.25:mps=40). Nominal GB, as MIG profile names count them: a T4 has 16, "
    "an A100-40GB 40."
)
SHARING_HELP = (
    "Isolation the memory classes ask for, strongest first: whole (a GPU each), mig (MIG partitions), "
    "mps (device-plugin MPS: memory and compute limits per client), time-slicing (device-plugin "
    "time-slicing, nothing enforced). A session accepts its level or any stronger one. Default: "
    "time-slicing, i.e. any mode: the fewest GPUs, and on a tie the stronger isolation."
)


@app.command("pack")
@input_errors_exit_2
def pack_command(
    gpu: str = typer.Option(..., "--gpu", help="GPU model, e.g. A100-40GB, H100-80GB, A30-24GB, T4."),
    demand: list[str] = typer.Option(..., "--demand", help=DEMAND_HELP),
    sharing: str | None = typer.Option(None, "--sharing", metavar="[whole|mig|mps|time-slicing]",
                                       help=SHARING_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON (with mig-parted and, "
                                                       "for memory classes, device-plugin configs)."),
) -> None:
    """Pack GPU demand onto the fewest GPUs of one model (exact integer programming).

    MIG profiles alone (1g.5gb=60) get MIG layouts, as always.
    Memory classes (4gb=40) may also share GPUs through NVIDIA's device plugin (MPS,
    time-slicing) or get whole GPUs; the plan then carries one device-plugin config per layout
    (selected by the node label nvidia.com/device-plugin.config).
    """
    from stacks.errors import InputError
    from stacks.planner.geometry import canonical_model, parse_demand
    from stacks.planner.sharing import is_memory_item, parse_sharing_demand, plan_sharing

    problems, model = [], None
    try:
        model = canonical_model(gpu)
    except InputError as exc:  # still check --demand, to report every problem at once
        problems += exc.problems
    if sharing is None and not any(is_memory_item(item) for item in demand):
        from stacks.planner.pack import pack

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
        return
    try:
        classes = parse_sharing_demand(demand, model=model, sharing=sharing)
    except InputError as exc:
        problems += exc.problems
    if problems:
        raise InputError(problems)
    plan = plan_sharing(model, classes, compare=True)
    if as_json:
        typer.echo(json.dumps(plan.to_json(), indent=2))
        return
    print_sharing_plan(plan)


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


MODE_NAMES = {"whole": "whole GPUs (one per session)", "mig": "MIG partitions",
              "mps": "MPS (device plugin)", "time-slicing": "time-slicing (device plugin)"}


def print_sharing_plan(plan) -> None:
    """Rich tables: the plan against each mode alone, side by side, then its layouts."""
    from rich.table import Table

    demand = ", ".join(f"{n} x {c.label}" for c, n in plan.demand.items())
    whole = plan.per_mode.get("whole") or sum(plan.demand.values())
    compare = Table(title=f"{plan.gpu}: {demand}")
    compare.add_column("allocation")
    compare.add_column("GPUs", justify="right")
    compare.add_column("saved vs whole GPUs", justify="right")
    used = ", ".join(f"{n} {mode}" for mode, n in plan.modes.items())
    compare.add_row(f"this plan ({used})", str(plan.gpus), str(whole - plan.gpus))
    for mode, gpus in plan.per_mode.items():
        if gpus is None:
            compare.add_row(f"every session: {MODE_NAMES[mode]}", "-", f"no {mode} on {plan.gpu}")
        else:
            compare.add_row(f"every session: {MODE_NAMES[mode]}", str(gpus), str(whole - gpus))
    console.print(compare)
    proof = "proven minimal" if plan.gpus == plan.lower_bound else "optimal (integer program)"
    console.print(f"sharing: {plan.sharing}; lower bound: {plan.lower_bound} GPUs; plan: {plan.gpus} GPUs ({proof})")

    layouts = Table(title="layouts")
    layouts.add_column("#", justify="right", no_wrap=True)
    layouts.add_column("GPUs", justify="right", no_wrap=True)
    name_column(layouts, "sharing")
    text_column(layouts, "seats per GPU")
    text_column(layouts, "sessions")
    labels = Table(title="node labels")
    labels.add_column("#", justify="right", no_wrap=True)
    name_column(labels, "nvidia.com/mig.config")
    name_column(labels, "nvidia.com/device-plugin.config")
    for i, layout in enumerate(plan.layouts, 1):
        seats = str(layout.replicas)
        if layout.mode == "mig":
            seats += ": " + " + ".join(f"{n} x {p}" for p, n in layout.mig_devices.items())
        sessions = ", ".join(f"{n} x {label}" for label, n in layout.sessions.items())
        if layout.spare:
            sessions += f" ({layout.spare} spare)"
        layouts.add_row(str(i), str(layout.count), layout.mode, seats, sessions)
        labels.add_row(str(i), layout.mig_config, layout.device_plugin_config)
    console.print(layouts)
    console.print(labels)
    shared = [name for name in plan.device_plugin if name != "default"]
    if shared:
        console.print("device-plugin configs (in --json): " + ", ".join(shared))
        console.print("a shared session requests nvidia.com/gpu: 1 (one replica)")
