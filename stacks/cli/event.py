"""`swan event ...`: course events on the command line (glue over stacks.events)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from stacks.cli.common import console, err_console, input_errors_exit_2, name_column, text_column
from stacks.output_files import atomic_output, output_file_problem

app = typer.Typer(help="Course events: capacity plans, the events timeline, status and reconcile.", no_args_is_help=True)


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


# -- events that run themselves: status and reconcile ------------------------------------------------
def _at_option(text: Optional[str]):
    """--at: ISO 8601 with a zone (e.g. 2026-12-01T07:00:00+01:00 or ...Z); default now."""
    import datetime as dt

    from stacks.errors import InputError, Problem

    if text is None:
        return dt.datetime.now(dt.timezone.utc)
    try:
        at = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(Problem("--at", "", f"{text!r} is not an ISO 8601 time, e.g. 2026-12-01T07:00:00+01:00"))\
            from None
    if at.tzinfo is None:
        raise InputError(Problem("--at", "", f"{text!r} has no time zone; add one, e.g. {at.isoformat()}Z or "
                                             f"{at.isoformat()}+01:00"))
    return at


def _pulumi_problem(option: str):
    import shutil

    from stacks.errors import Problem

    if shutil.which("pulumi"):
        return None
    return Problem(option, "", "the pulumi CLI is not on PATH (install it and set PULUMI_BACKEND_URL and "
                               "PULUMI_CONFIG_PASSPHRASE or a secrets provider)")


def _event_stacks(log=None):
    from stacks.config.loader import project_dir
    from stacks.events.automation import EventStacks

    return EventStacks(project_dir(), output=log or (lambda line: None))


def _hours(delta) -> str:
    minutes = round(delta.total_seconds() / 60)
    return f"{minutes // 60}h{minutes % 60:02d}" if minutes >= 60 else f"{minutes}m"


@app.command("status")
@input_errors_exit_2
def status_command(
    at: Optional[str] = typer.Option(None, "--at", help="The time to judge at, ISO 8601 with a zone (default now)."),
    as_json: bool = typer.Option(False, "--json", help="Print the events as JSON."),
    deployed_from: str = typer.Option("none", "--deployed-from", help="Where to learn whether each event stack "
                                      "is deployed: none (offline: unknown) or pulumi (asks the backend)."),
) -> None:
    """Every event stack: window, lead, phase and the action due (scheduled, due-up, warming, ready, running,
    due-down, ended). Offline the deployed state is unknown, so every phase the time allows is shown."""
    from stacks.errors import InputError, Problem
    from stacks.events.lifecycle import possible
    from stacks.events.schedule import load_schedule

    problems = []
    try:
        when = _at_option(at)
    except InputError as exc:
        problems += exc.problems
    if deployed_from not in ("none", "pulumi"):
        problems.append(Problem("--deployed-from", "", f"{deployed_from!r}: choose none or pulumi"))
    elif deployed_from == "pulumi" and (p := _pulumi_problem("--deployed-from")):
        problems.append(p)
    if problems:
        raise InputError(problems)
    events = load_schedule()
    states = {}
    if deployed_from == "pulumi":
        backend = _event_stacks()
        for e in events:
            try:
                states[e.stack] = backend.state(e.stack)
            except Exception as exc:  # noqa: BLE001 - the CLI's own message (not logged in, no passphrase)
                err_console.print(f"{e.stack}: could not read its state from the Pulumi backend: "
                                  f"{' '.join(str(exc).split())[:800]}", markup=False, highlight=False)
                raise typer.Exit(1) from None
    rows = []
    for e in events:
        s = states.get(e.stack)
        options = possible(e.window, when, s.deployed if s else None, s.proven if s else None)
        w = e.window
        rows.append({
            "stack": e.stack, "event": e.name, "ready_by": w.ready_by.isoformat(), "start": w.start.isoformat(),
            "end": w.end.isoformat(), "up_from": w.up_from.isoformat(), "down_from": w.down_from.isoformat(),
            "lead_seconds": int(w.lead.total_seconds()), "lead_from": e.lead_from,
            "grace_seconds": int(w.grace.total_seconds()),
            "deployed": s.deployed if s else None, "proven": (s.deployed and s.proven) if s else None,
            "phase": options[0].phase if len(options) == 1 else None,
            "possible_phases": list(dict.fromkeys(o.phase for o in options)),
            "action": options[0].action if len(options) == 1 else None,
            "possible_actions": sorted({o.action for o in options if o.action})})
    if as_json:
        typer.echo(json.dumps({"at": when.isoformat(), "deployed_from": deployed_from, "events": rows}, indent=2))
        return
    from rich.table import Table

    table = Table(title=f"events at {when.isoformat(timespec='minutes')} (times in each file's zone)")
    name_column(table, "stack")
    name_column(table, "ready by\nend")
    text_column(table, "lead\ngrace", justify="right")
    text_column(table, "deployed", min_width=7)
    text_column(table, "phase", min_width=9)
    text_column(table, "action due", min_width=7)
    fmt = lambda text: text[5:16].replace("T", " ")  # noqa: E731 - month-day hour:minute, in the file's zone
    for e, r in zip(events, rows):
        deployed = "unknown" if r["deployed"] is None else ("yes, proven" if r["proven"] else
                                                            "yes" if r["deployed"] else "no")
        phase = r["phase"] or "\n".join(r["possible_phases"])  # unknown state: one possible phase a line
        action = r["action"] or ("none" if r["phase"] else "\n".join(r["possible_actions"]) or "none")
        table.add_row(e.stack, f"{fmt(r['ready_by'])}\n{fmt(r['end'])}",
                      f"{_hours(e.window.lead)}\n{_hours(e.window.grace)}", deployed, phase, action)
    console.print(table)
    if deployed_from == "none" and events:
        console.print("deployed state unknown (offline): every phase the time allows is shown; "
                      "`--deployed-from pulumi` asks the backend", highlight=False)


@app.command("reconcile")
@input_errors_exit_2
def reconcile_command(
    at: Optional[str] = typer.Option(None, "--at", help="Decide as if it were this time, ISO 8601 with a zone "
                                     "(default now)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what is due and change nothing."),
    prometheus: Optional[Path] = typer.Option(None, "--prometheus", help="Write the metrics here (.prom/.txt, "
                                              "textfile collector)."),
    pushgateway: Optional[str] = typer.Option(None, "--pushgateway", help="Push the metrics to this Prometheus "
                                              "Pushgateway (job swan_event_reconcile)."),
    markdown: Optional[Path] = typer.Option(None, "--markdown", help="Write a Markdown summary for a chat (.md)."),
    token_env: Optional[str] = typer.Option(None, "--token-env", help="Environment variable holding the hub API "
                                            "token `verify` uses (as for swan verify)."),
) -> None:
    """Perform what is due for every event stack, one event at a time: `up` from ready_by - lead, `verify`
    (a participant's session, as `swan verify ENV --event NAME`) from ready_by until the start, `destroy`
    from end + grace. Only `swan:kind: event` stacks are ever touched. Exit 0 all due actions succeeded
    (or nothing due), 1 an action failed, 2 bad input, 3 another reconcile holds the lock."""
    import os
    import time

    from stacks.config.loader import project_dir
    from stacks.errors import InputError, Problem
    from stacks.events import reconcile as rc
    from stacks.events.prove import prover
    from stacks.events.schedule import load_schedule
    from stacks.output_files import check_output_files, write_atomic
    from stacks.verify.request import hub_url_problem

    problems = []
    try:
        when = _at_option(at)
    except InputError as exc:
        problems += exc.problems
    check_output_files([("--prometheus", prometheus, (".prom", ".txt")), ("--markdown", markdown, (".md",))],
                       problems)
    if pushgateway is not None and (p := hub_url_problem("--pushgateway", pushgateway)):
        problems.append(p)
    if token_env is not None and not os.environ.get(token_env):
        problems.append(Problem("--token-env", "", f"environment variable {token_env} is not set or empty"))
    if p := _pulumi_problem("swan event reconcile"):
        problems.append(p)
    try:
        events = load_schedule()
    except InputError as exc:
        problems += exc.problems
    if problems:
        raise InputError(problems)

    def log(line: str) -> None:
        console.print(f"  [dim]{line}[/dim]", highlight=False)

    reconciler = rc.Reconciler(_event_stacks(log), prover(token_env, console, err_console, typer.echo),
                               log=lambda line: console.print(f"[bold]{line}[/bold]", highlight=False))
    try:
        with rc.reconcile_lock(project_dir() / rc.LOCK_FILE):
            outcomes = reconciler.run(events, when, dry_run=dry_run)
    except rc.LockHeld as exc:
        err_console.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(rc.LOCK_HELD) from None
    _print_outcomes(outcomes, when, dry_run)
    code = rc.exit_code(outcomes)
    metrics = rc.to_prometheus(outcomes, when, time.time())
    for path, text in ((prometheus, metrics), (markdown, rc.to_markdown(outcomes, when, dry_run))):
        if path is not None:
            try:
                write_atomic(path, text)
            except OSError as exc:
                err_console.print(f"could not write {path} ({exc.strerror or exc}); its content follows",
                                  markup=False, highlight=False)
                typer.echo(text)
                code = code or 1
    if pushgateway and dry_run:
        console.print("dry run: metrics not pushed", highlight=False)
    elif pushgateway:
        import requests

        from stacks.verify.report import push_to_gateway

        try:
            push_to_gateway(pushgateway, metrics, job=rc.PUSH_JOB)
        except requests.RequestException as exc:
            err_console.print(f"could not push metrics to {pushgateway}: {exc}", markup=False, highlight=False)
            code = code or 1
    raise typer.Exit(code)


def _print_outcomes(outcomes, when, dry_run: bool) -> None:
    from rich.table import Table

    from stacks.events.reconcile import phase_after

    table = Table(title=f"swan event reconcile at {when.isoformat(timespec='minutes')}"
                        + (" (dry run: nothing changed)" if dry_run else ""))
    for header in ("stack", "phase", "action", "result"):
        name_column(table, header)
    text_column(table, "detail")
    for o in outcomes:
        due = o.decision.standing.action if o.decision.standing else None
        action = o.action or (f"{due} (dry run)" if due else "-")
        result = {None: "-", True: "[green]ok[/green]", False: "[bold red]FAILED[/bold red]"}[o.ok]
        table.add_row(o.decision.event.stack, phase_after(o, when) or "unknown", action, result, o.detail)
    console.print(table)
@app.command("report")
@input_errors_exit_2
def report_command(
    stack: str = typer.Argument(..., help="An event stack, e.g. event-ml-workshop."),
    out: Optional[Path] = typer.Option(None, "--out", metavar="DIR", help="Folder for report.md, usage.png and samples.json "
                                                           "(default build/events/STACK).", show_default=False),
    prometheus: list[str] = typer.Option([], "--prometheus", metavar="[ENV=]URL", help="Prometheus URL that scrapes kube-state-metrics "
                                         "(ENV=URL for each environment of an event in several)."),
    kubeconfig: list[str] = typer.Option([], "--kubeconfig", metavar="[ENV=]FILE", help="Read the cluster as it is now instead "
                                         "(a lower bound; ENV=FILE for each environment of an event in several)."),
    context: Optional[str] = typer.Option(None, "--context", help="Kubeconfig context (with --kubeconfig)."),
    from_file: Optional[Path] = typer.Option(None, "--from", metavar="FILE", help="Build the report from recorded samples "
                                             "(a samples.json an earlier report wrote)."),
    grace: str = typer.Option("1h", "--grace", metavar="DURATION", help="How long before ready_by and after the end to look "
                                                    "(nodes come up before and go after)."),
) -> None:
    """What the event used: peak and mean sessions against seats, session-, node- and GPU-hours, and an
    estimated cost where the environment's eventGpus declare pricePerGpuHour.

    Writes report.md, usage.png and samples.json (to rebuild it with --from), each atomically. Every
    argument is checked before any source is read (exit 2, each problem naming its option); a source
    that cannot be read exits 1 and writes nothing."""
    from stacks.cli.common import err_console
    from stacks.cli.event_report import ReportArgs, run
    from stacks.errors import InputError
    from stacks.events.usage_sources import SourceError

    try:
        plan, plan_problems = _event_plan(stack), []
    except InputError as exc:
        plan, plan_problems = None, exc.problems
    args = ReportArgs(stack, out, tuple(prometheus), tuple(kubeconfig), context, from_file, grace)
    try:
        folder, usage = run(args, plan, plan_problems)
    except SourceError as exc:
        err_console.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(1) from None
    peak = f"peak {usage.peak_sessions:g} of {usage.seats} seats"
    mean = "" if usage.mean_sessions is None else f", mean {usage.mean_sessions:.1f}"
    console.print(f"wrote {folder}/report.md and usage.png: {peak}{mean}, {usage.gpu_hours:.1f} GPU-hours, "
                  f"{usage.node_hours:.1f} node-hours", highlight=False)
    for currency, amount in sorted(usage.costs.items()):
        console.print(f"estimated cost: {amount:,.2f} {currency}", highlight=False)
