"""`swan event report STACK`: the arguments checked (all problems at once, exit 2), the event's samples
read from one source, the report written (glue over stacks.events.usage, usage_sources, usage_report)."""
from __future__ import annotations

import datetime as dt
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from stacks.errors import InputError, Problem
from stacks.events.plan import EventPlan
from stacks.events.usage import Series

REPORT, CHART, SAMPLES = "report.md", "usage.png", "samples.json"


def default_out(stack: str) -> Path:
    return Path("build") / "events" / stack


@dataclass(frozen=True)
class ReportArgs:
    stack: str
    out: Optional[Path] = None
    prometheus: tuple[str, ...] = ()
    kubeconfig: tuple[str, ...] = ()
    context: Optional[str] = None
    from_file: Optional[Path] = None
    grace: str = "1h"


def per_environment(option: str, values: tuple[str, ...], environments: list[str],
                    problems: list[Problem]) -> dict[str, str]:
    """`[ENV=]VALUE` options -> environment -> value. A bare VALUE only for an event in one environment;
    every environment of the event needs one."""
    out: dict[str, str] = {}
    for value in values:
        env, sep, rest = value.partition("=")
        named = bool(sep) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", env) is not None  # not part of a URL
        if named and env not in environments:
            problems.append(Problem(option, "", f"{value!r}: {env} is not an environment of this event "
                                                f"({', '.join(environments)})"))
            continue
        if named:
            chosen, text = env, rest
        elif len(environments) == 1:
            chosen, text = environments[0], value
        else:
            problems.append(Problem(option, "", f"{value!r}: give ENV=VALUE with ENV one of the event's "
                                                f"environments ({', '.join(environments)})"))
            continue
        if chosen in out:
            problems.append(Problem(option, "", f"given twice for environment {chosen}"))
        elif not text.strip():
            problems.append(Problem(option, "", f"empty value for environment {chosen}"))
        out[chosen] = text
    missing = [e for e in environments if e not in out]
    if values and missing:
        problems.append(Problem(option, "", f"none given for {', '.join(missing)}: every environment of the event "
                                            "needs one (ENV=VALUE)"))
    return out


def check_args(args: ReportArgs, plan_problems: list[Problem], plan: Optional[EventPlan]):
    """Every problem with the arguments, before anything is read or written; else what the run needs."""
    from pydantic import TypeAdapter, ValidationError

    from stacks.config.types import Duration, duration_seconds
    from stacks.output_files import output_file_problem, output_folder_problem
    from stacks.verify.cluster import read_kubeconfig
    from stacks.verify.request import hub_url_problem

    problems = list(plan_problems)
    out = args.out or default_out(args.stack)
    folder = output_folder_problem("--out", out)
    if folder:
        problems.append(folder)
    else:
        for name, ext in ((REPORT, ".md"), (CHART, ".png"), (SAMPLES, ".json")):
            if p := output_file_problem("--out", out / name, (ext,), create_parents=True):
                problems.append(p)
    try:
        grace = duration_seconds(TypeAdapter(Duration).validate_python(args.grace))
    except ValidationError as exc:
        problems.append(Problem("--grace", "", str(exc.errors()[0].get("ctx", {}).get("error", exc))))
        grace = 0
    given = [o for o, v in (("--prometheus", args.prometheus), ("--kubeconfig", args.kubeconfig),
                            ("--from", args.from_file)) if v]
    if len(given) > 1:
        problems.append(Problem(given[1], "", f"give one source: {' or '.join(given)}, not both"))
    elif not given:
        problems.append(Problem("swan event report", "", "no source: give --prometheus URL, --kubeconfig FILE "
                                                         "(the cluster as it is now) or --from FILE (recorded samples)"))
    if args.context and not args.kubeconfig:
        problems.append(Problem("--context", "", "only with --kubeconfig"))
    if args.from_file is not None and not args.from_file.is_file():
        problems.append(Problem("--from", "", f"{args.from_file}: no such file"))
    sources: dict[str, str] = {}
    if plan is not None:
        envs = list(plan.event.environments)
        if args.prometheus:
            sources = per_environment("--prometheus", args.prometheus, envs, problems)
            problems += [p for url in sources.values() if (p := hub_url_problem("--prometheus", url))]
        elif args.kubeconfig:
            sources = per_environment("--kubeconfig", args.kubeconfig, envs, problems)
            for path in sources.values():
                try:
                    read_kubeconfig(path, args.context, shown=f"--kubeconfig: {path}")
                except InputError as exc:
                    problems += exc.problems
    if problems:
        raise InputError(problems)
    return out, grace, sources


def collect(args: ReportArgs, plan: EventPlan, envs: dict, window, sources: dict[str, str]):
    """environment -> {"sessions", "nodes"} series, the source as the report names it, a note, the queries
    used, and the source the samples first came from (what samples.json records)."""
    from stacks.events import usage_sources as src
    from stacks.events.usage import read_samples

    event = plan.event
    names = list(event.environments)
    if args.from_file is not None:
        try:
            data = json.loads(args.from_file.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise InputError(Problem("--from", "", f"{args.from_file}: not a JSON samples file ({exc})")) from None
        series, source, note, problems = read_samples(data, f"--from: {args.from_file}", event.name, names)
        if problems:
            raise InputError(problems)
        return series, f"recorded samples {args.from_file} (first from: {source or 'unknown'})", note, None, source
    if args.prometheus:
        step = src.query_step(window.looked_to - window.looked_from)
        series, queries = {}, {}
        for env in names:
            asked = src.prometheus_queries(event, envs[env].security.user_namespace)
            series[env] = {kind: src.prometheus_series(sources[env], q, window.looked_from, window.looked_to, step)
                           for kind, q in asked.items()}
            queries.update({kind if len(names) == 1 else f"{kind} ({env})": q for kind, q in asked.items()})
        where = ", ".join(f"{env}: {sources[env]}" for env in names)
        source = f"Prometheus query_range, step {step}s ({where})"
        return series, source, "", queries, source
    from stacks.verify.cluster import KubeApi

    now = min(time.time(), window.looked_to)
    if now <= window.looked_from:
        raise InputError(Problem("--kubeconfig", "", f"{args.stack} has not begun: its nodes are looked for from "
                                                     f"{dt.datetime.fromtimestamp(window.looked_from, dt.timezone.utc)}"))
    series = {}
    for env in names:
        api = KubeApi.from_kubeconfig(sources[env], args.context)
        try:
            series[env] = src.cluster_series(api, event, envs[env].security.user_namespace, window.looked_from, now)
        except Exception as exc:  # noqa: BLE001 - any API failure ends the run with its message
            raise src.SourceError("--kubeconfig", f"{sources[env]}: {exc}") from None
    source = f"the cluster as it was at {dt.datetime.fromtimestamp(now, dt.timezone.utc):%Y-%m-%d %H:%M} UTC " \
             "(Kubernetes API)"
    return series, source, "a lower bound: sessions that ended and nodes already removed are not counted", None, source


def run(args: ReportArgs, plan: Optional[EventPlan], plan_problems: list[Problem]) -> tuple[Path, object]:
    """Check, collect, compute, write; returns the folder written and the usage."""
    from stacks.events.plan import load_environments
    from stacks.events.usage import EnvironmentSamples, Price, Window, compute_usage, samples_document
    from stacks.events.usage_report import markdown, usage_chart
    from stacks.output_files import atomic_output

    out, grace, sources = check_args(args, plan_problems, plan)
    event = plan.event
    envs = load_environments(list(event.environments))
    window = Window.of(event.ready_by, event.start, event.end, grace)
    series, source, note, queries, first_source = collect(args, plan, envs, window, sources)
    samples = []
    for env in event.environments:
        offer = next(o for o in envs[env].event_gpus if o.model == event.session.gpu_model)
        price = Price(offer.price_per_gpu_hour, offer.currency) if offer.price_per_gpu_hour is not None else None
        samples.append(EnvironmentSamples(
            environment=env, seats=sum(n.sessions for n in plan.nodes if n.environment == env),
            gpus_per_node=offer.gpus_per_node, sessions=series[env].get("sessions", Series()),
            nodes=series[env].get("nodes", Series()), price=price))
    usage = compute_usage(window, samples)
    # all three drawn into temporary files first, then moved in place: a failure keeps the earlier report whole
    try:
        with atomic_output(out / REPORT) as md, atomic_output(out / SAMPLES) as js, atomic_output(out / CHART) as png:
            usage_chart(plan, usage, png)
            js.write_text(json.dumps(samples_document(event.name, first_source, series, note), indent=1) + "\n")
            md.write_text(markdown(plan, args.stack, usage, source, note, queries))
    except OSError as exc:
        raise InputError(Problem("--out", "", f"{out}: could not write the report ({exc.strerror or exc}); "
                                              "an earlier report there is as it was")) from None
    return out, usage
