"""`swan event ...`: course events on the command line (glue over stacks.events)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from stacks.cli.common import console, input_errors_exit_2, name_column, text_column
from stacks.output_files import atomic_output, output_file_problem

app = typer.Typer(help="Course events: capacity plans and the events timeline.", no_args_is_help=True)


def _event_plan(stack: str):
    """Load an event stack and plan it; problems become `path: key: message` lines (exit 2)."""
    from stacks.config.event_model import EventConfig
    from stacks.config.loader import display_path, load_stack, stack_file
    from stacks.errors import InputError, Problem
    from stacks.events.plan import PlanError, plan_event

    cfg = load_stack(stack)
    if not isinstance(cfg, EventConfig):
        raise InputError(Problem(display_path(stack_file(stack)), "swan:kind",
                                 f"'{stack}' is an {cfg.kind} stack, not an event; `swan event plan` needs "
                                 "swan:kind: event"))
    try:
        return plan_event(cfg, stack=stack)
    except PlanError as exc:
        raise InputError(Problem(display_path(stack_file(stack)), "swan:event.environments", str(exc))) from None


@app.command("plan")
@input_errors_exit_2
def plan_command(
    stack: str = typer.Argument(..., help="An event stack, e.g. event-ml-workshop."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
    chart: Optional[Path] = typer.Option(None, "--chart", help="Also draw the plan as a PNG (FILE.png)."),
) -> None:
    """The event's capacity plan: GPUs (the planner's minimum), MIG layouts, nodes per environment, window.

    --chart is checked before any work (a .png file in an existing, writable folder) and written
    atomically: exit 2 when it cannot be, and an earlier chart stays as it was."""
    from stacks.errors import InputError

    problems = [p for p in [output_file_problem("--chart", chart, (".png",))] if p]
    try:
        plan = _event_plan(stack)
    except InputError as exc:
        raise InputError(exc.problems + problems) from None
    if problems:
        raise InputError(problems)
    if chart is not None:
        from stacks.events.timeline import plan_chart

        _write_png("--chart", chart, lambda tmp: plan_chart(plan, tmp))
    if as_json:
        typer.echo(json.dumps(plan.to_json(), indent=2))
        return
    print_plan(plan)
    if chart is not None:
        console.print(f"chart: {chart}")


def print_plan(plan) -> None:
    from rich.table import Table

    from stacks.events.objects import node_labels
    from stacks.events.timeline import session_text

    e = plan.event
    head = Table(title=f"{plan.stack or e.name}: {e.title}", show_header=False)
    head.add_column(style="bold", no_wrap=True)
    text_column(head, "")
    head.add_row("group", e.group)
    head.add_row("sessions", f"{e.sessions} ({e.participants} participants + {e.instructors} instructors)")
    head.add_row("session", f"{e.session.gpu_model} {session_text(plan)}, {e.session.cores:g} cores, {e.session.memory}")
    head.add_row("nodes ready by", e.ready_by.isoformat())
    head.add_row("window", f"{e.start.isoformat()} to {e.end.isoformat()}")
    head.add_row("GPUs (planner minimum)", f"{plan.packed.gpus} (lower bound {plan.packed.lower_bound}; "
                                             f"one GPU per session would need {plan.packed.whole_gpus})")
    head.add_row("GPUs on whole nodes", str(plan.gpus_provisioned))
    head.add_row("placeholders", f"{plan.placeholders} of {e.sessions} seats held by placeholder pods")
    if len(plan.gpus.per_mode) > 1:  # sized by GPU memory: what each way of sharing would have needed
        head.add_row("GPUs per mode", ", ".join(f"{mode} {n}" for mode, n in plan.gpus.per_mode.items()))
    console.print(head)

    # every cell whole, or ending in '…' on a terminal too narrow for the table (nothing wraps mid-name)
    nodes = Table(title="nodes")
    name_column(nodes, "environment")
    name_column(nodes, "pool")
    name_column(nodes, "nodes x\nGPUs", justify="right")
    name_column(nodes, "flavor")
    name_column(nodes, "sessions", justify="right")
    for n in plan.nodes:
        nodes.add_row(f"{n.environment}\n({n.cloud})", n.pool, f"{n.count} x {n.gpus_per_node}", n.flavor or "-",
                      str(n.sessions))
    console.print(nodes)
    for mig_config in dict.fromkeys(n.mig_config for n in plan.nodes):
        console.print(f"MIG layout (node label nvidia.com/mig.config): {mig_config}", highlight=False)
    for n in plan.nodes[:1]:
        if n.sharing:
            console.print(f"sharing: {n.sharing}, {n.replicas} sessions per GPU", highlight=False)
            console.print("device-plugin config (node label nvidia.com/device-plugin.config): "
                          f"{node_labels(plan.event, n)['nvidia.com/device-plugin.config']}", highlight=False)


TIMELINE = Path("build/events-timeline.png")


def _write_png(option: str, path: Path, draw):
    """Draw into a temporary file beside `path` and move it in place; a failure to write exits 2
    naming the option and the file (an earlier file at `path` is left as it was)."""
    from stacks.errors import InputError, Problem

    try:
        with atomic_output(path) as tmp:
            return draw(tmp)
    except OSError as exc:
        raise InputError(Problem(option, "", f"{path}: could not write the chart ({exc.strerror or exc}); "
                                             "nothing was changed")) from None


@app.command("timeline")
@input_errors_exit_2
def timeline_command(
    out: Optional[Path] = typer.Option(None, "--out", help=f"Where to write the PNG (default {TIMELINE}).",
                                       show_default=False),
) -> None:
    """Chart every event stack over time: GPU demand against each environment's event capacity.

    --out is checked before any work (a .png file in an existing, writable folder; the default's
    folder is created) and written atomically: exit 2 when it cannot be, and an earlier chart
    stays as it was."""
    from stacks.events.calendar import load_event_plans
    from stacks.events.timeline import timeline_chart
    from stacks.errors import InputError, Problem

    problem = output_file_problem("--out", out or TIMELINE, (".png",), create_parents=out is None)
    if problem:
        raise InputError(problem)
    out = out or TIMELINE
    plans, capacity = load_event_plans()
    if not plans:
        from stacks.config.loader import config_dir

        raise InputError(Problem(str(config_dir()), "", "no event stacks (swan:kind: event) found"))
    overloads = _write_png("--out", out, lambda tmp: timeline_chart(plans, capacity, tmp))
    console.print(f"wrote {out}: {len(plans)} events")
    for o in overloads:
        console.print(f"[red]over capacity[/red] {o.describe()}", highlight=False)
