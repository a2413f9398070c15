"""`swan event report`'s two files: report.md (numbers, per environment, where they came from) and
usage.png (sessions over time against the seats, and the GPUs of the event's nodes)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Optional

from stacks.events.plan import EventPlan
from stacks.events.usage import Usage

CHART = "usage.png"


def _when(t: Optional[float]) -> str:
    if t is None:
        return "-"
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _share(x: Optional[float]) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def _money(amount: float, currency: str) -> str:
    return f"{amount:,.2f} {currency}"


def markdown(plan: EventPlan, stack: str, usage: Usage, source: str, note: str = "",
             queries: Optional[dict[str, str]] = None) -> str:
    e, w = plan.event, usage.window
    lines = [f"# What {e.title} used ({stack})", ""]
    lines += [f"Source: {source}" + (f" ({note})" if note else ""), "",
              f"Event: ready by {_when(w.ready_by)}, from {_when(w.start)} to {_when(w.end)}; "
              f"looked at {_when(w.looked_from)} to {_when(w.looked_to)}.", ""]
    mean = "no data between start and end" if usage.mean_sessions is None else \
        f"{usage.mean_sessions:.1f} ({_share(usage.mean_share)} of seats, over {usage.mean_hours:.1f} h)"
    rows = [
        ("seats (participants + instructors)", f"{usage.seats} ({e.participants} + {e.instructors})"),
        ("peak sessions", f"{usage.peak_sessions:g} ({_share(usage.peak_share)} of seats) at {_when(usage.peak_at)}"),
        ("mean sessions, start to end", mean),
        ("session-hours", f"{usage.session_hours:.1f}"),
        ("node-hours (event nodes)", f"{usage.node_hours:.1f}"),
        (f"GPU-hours ({e.session.gpu_model} on event nodes)", f"{usage.gpu_hours:.1f}"),
    ]
    for currency, amount in sorted(usage.costs.items()):
        left_out = f"; without {', '.join(usage.unpriced)} (no pricePerGpuHour)" if usage.unpriced else ""
        rows.append((f"estimated cost ({currency})", _money(amount, currency) + left_out))
    lines += ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows), ""]
    lines += ["## Per environment", "", "| environment | seats | peak sessions | session-hours | node-hours | "
              "GPU-hours | price per GPU-hour | estimated cost |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for env in usage.environments:
        price = _money(env.price.per_gpu_hour, env.price.currency) if env.price else "not declared"
        cost = _money(env.cost, env.price.currency) if env.price else "-"
        lines.append(f"| {env.environment} | {env.seats} | {env.peak_sessions:g} | {env.session_hours:.1f} | "
                     f"{env.node_hours:.1f} | {env.gpu_hours:.1f} | {price} | {cost} |")
    lines += ["", f"![sessions over time against seats]({CHART})", "",
              "Sessions: pods in the user namespace with the event's PriorityClass; nodes: nodes labelled "
              "`swan.cern.ch/event`; GPU-hours: node-hours times the GPUs per node of the environment's "
              "`eventGpus` offer; a sample holds until the next one."]
    if queries:
        lines += ["", "## Queries", ""] + [f"- {kind}: `{q}`" for kind, q in queries.items()]
    return "\n".join(lines) + "\n"


def usage_chart(plan: EventPlan, usage: Usage, out: Path) -> None:
    """Sessions (step line) against the seats (dashed), the event's time shaded; below, GPUs up."""
    from stacks.events.timeline import _pyplot, _save

    plt = _pyplot()
    import matplotlib.dates as mdates

    def x(t: float):
        return dt.datetime.fromtimestamp(t, dt.timezone.utc).replace(tzinfo=None)

    w, e = usage.window, plan.event
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(11, 5.5), gridspec_kw={"height_ratios": [3, 1.4]})
    for ax in (top, bottom):
        ax.axvspan(x(w.start), x(w.end), color="#ffd54f", alpha=0.25, linewidth=0, zorder=0)
        ax.axvline(x(w.ready_by), color="#777777", linestyle=":", linewidth=1)
        ax.grid(alpha=0.3)
    if usage.sessions.points:
        top.step([x(t) for t, _ in usage.sessions.points], [v for _, v in usage.sessions.points], where="post",
                 color="#1f77b4", linewidth=1.4, label="sessions running")
    top.axhline(usage.seats, color="black", linestyle="--", linewidth=1, label=f"seats ({usage.seats})")
    if usage.peak_at is not None:
        top.annotate(f"peak {usage.peak_sessions:g}", (x(usage.peak_at), usage.peak_sessions), fontsize=8,
                     xytext=(4, 4), textcoords="offset points")
    top.set_ylim(0, max(usage.seats, usage.peak_sessions) * 1.15 + 1)
    top.set_ylabel("sessions")
    mean = "" if usage.mean_sessions is None else f", mean {usage.mean_sessions:.1f}"
    top.set_title(f"{e.title}: sessions against seats (peak {usage.peak_sessions:g}{mean}; "
                  "shaded: the event, dotted: ready by)", fontsize=10)
    top.legend(fontsize=8, loc="upper right")
    if usage.gpus.points:
        bottom.step([x(t) for t, _ in usage.gpus.points], [v for _, v in usage.gpus.points], where="post",
                    color="#2ca02c", linewidth=1.4)
    bottom.axhline(plan.gpus_provisioned, color="black", linestyle="--", linewidth=1)
    bottom.set_ylim(0, max([plan.gpus_provisioned, *(v for _, v in usage.gpus.points)]) * 1.25 + 1)
    bottom.set_ylabel(f"{e.session.gpu_model}\nGPUs up", fontsize=8)
    bottom.set_xlim(x(w.looked_from), x(w.looked_to))
    bottom.xaxis.set_major_formatter(mdates.DateFormatter("%b %d\n%H:%M"))
    bottom.set_xlabel(f"time (UTC); {usage.gpu_hours:.0f} GPU-hours, {usage.node_hours:.0f} node-hours; "
                      f"dashed: {plan.gpus_provisioned} GPUs planned")
    _save(plt, fig, out)
