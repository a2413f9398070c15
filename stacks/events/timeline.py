"""PNG charts of events (matplotlib, Agg backend: no display needed).

- `plan_chart`: one event's nodes, GPUs and MIG instances, seats used and spare.
- `timeline_chart`: every event over time; per environment and GPU model the GPUs booked
  (stacked by event) against the environment's event capacity, with overlapping events
  shaded and stretches over capacity in red.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from stacks.events.calendar import Overload, bookings, overloads, segments
from stacks.events.plan import EventPlan

COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plan_chart(plan: EventPlan, out: Path) -> None:
    """Every planned node as a row of GPUs, each GPU cut into its seats (MIG instances, or the sessions
    sharing it); used seats coloured."""
    plt = _pyplot()
    from matplotlib.patches import Rectangle

    from stacks.planner.mig_parted import layout_name

    event = plan.event
    rows = [(group, node) for group in plan.nodes for node in range(group.count)]
    width = max(group.gpus_per_node for group in plan.nodes)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * width + 3), 0.55 * len(rows) + 1.8))
    seats_left = event.sessions
    planned_gpus_left = plan.packed.gpus
    envs = list(dict.fromkeys(g.environment for g in plan.nodes))
    layouts = {layout_name(event.session.gpu_model, layout): layout for _, layout in plan.packed.layouts}
    for y, (group, node) in enumerate(rows):
        layout = layouts[group.mig_config]
        instances = [p for p, n in layout.items() for _ in range(n)] if plan.gpus.mode == "mig" else \
            ["seat"] * plan.gpus.seats(layout)
        colour = COLOURS[envs.index(group.environment) % len(COLOURS)]
        for gpu in range(group.gpus_per_node):
            x = gpu * 1.1
            planned = planned_gpus_left > 0
            planned_gpus_left -= 1
            ax.add_patch(Rectangle((x, -y - 0.9), 1.0, 0.8, fill=False, edgecolor="black" if planned else "#999999",
                                   linewidth=0.8, linestyle="-" if planned else "--"))
            step = 1.0 / len(instances)
            for k, _ in enumerate(instances):
                used = seats_left > 0
                seats_left -= 1 if used else 0
                ax.add_patch(Rectangle((x + k * step + 0.02, -y - 0.85), step - 0.04, 0.7,
                                       facecolor=colour if used else "#dddddd", edgecolor="none"))
        ax.text(-0.1, -y - 0.5, f"{group.environment} / {group.pool} #{node + 1}", ha="right", va="center",
                fontsize=8)
    ax.set_xlim(-0.1, width * 1.1)
    ax.set_ylim(-len(rows) - 0.2, 0.2)
    ax.axis("off")
    what = session_text(plan)
    ax.set_title(f"{event.title}: {event.sessions} sessions of {event.session.gpu_model} {what}\n"
                 f"{plan.packed.gpus} GPUs needed (planner minimum), {plan.gpus_provisioned} on whole nodes; "
                 f"grey: spare seats; dashed: GPUs beyond the minimum (whole nodes)", fontsize=9)
    _save(plt, fig, out)


def session_text(plan: EventPlan) -> str:
    """How the event's sessions get their GPU, in words: `whole GPUs`, `MIG 1g.5gb`, `4Gi, MPS, 4 per GPU`."""
    gpus, s = plan.gpus, plan.event.session
    if gpus.mode == "whole":
        return "whole GPUs"
    if gpus.mode == "mig":
        return f"MIG {gpus.resource.removeprefix('nvidia.com/mig-')}"
    return f"{s.gpu_memory}, {'MPS' if gpus.mode == 'mps' else 'time-slicing'}, {gpus.replicas} per GPU"


def _save(plt, fig, out: Path) -> None:
    """PNG whatever `out` is called (the CLI hands a temporary name, then moves it in place)."""
    try:
        fig.tight_layout()
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=110, format="png")
    finally:
        plt.close(fig)


def _utc(t: dt.datetime) -> dt.datetime:
    return t.astimezone(dt.timezone.utc).replace(tzinfo=None)


def timeline_chart(plans: dict[str, EventPlan], capacity: dict[tuple[str, str], int], out: Path) -> list[Overload]:
    """Write the timeline PNG; returns the stretches over capacity (also drawn in red)."""
    plt = _pyplot()
    import matplotlib.dates as mdates

    items = bookings(plans)
    over = overloads(items, capacity)
    lanes = list(dict.fromkeys((b.environment, b.gpu_model) for b in items))
    stacks = sorted(plans)
    colour = {s: COLOURS[i % len(COLOURS)] for i, s in enumerate(stacks)}
    fig, axes = plt.subplots(1 + len(lanes), 1, sharex=True, squeeze=False,
                             figsize=(11, 1.2 + 0.45 * len(stacks) + 2.2 * len(lanes)),
                             gridspec_kw={"height_ratios": [max(1.0, 0.45 * len(stacks))] + [2.2] * len(lanes)})
    axes = [a[0] for a in axes]

    gantt = axes[0]
    for i, stack in enumerate(stacks):
        e = plans[stack].event
        ready, start, end = mdates.date2num([_utc(e.ready_by), _utc(e.start), _utc(e.end)])
        gantt.barh(i, start - ready, left=ready, color=colour[stack], alpha=0.35, height=0.6, zorder=2)
        gantt.barh(i, end - start, left=start, color=colour[stack], height=0.6, zorder=2)
        gantt.text(end, i, f"  {e.sessions} x {e.session.gpu_model} {session_text(plans[stack])}", va="center",
                   fontsize=8)
    _shade_overlaps(gantt, _one_per_event(items))
    gantt.set_yticks(range(len(stacks)), [f"{s}\n{plans[s].event.title}" for s in stacks], fontsize=8)
    gantt.invert_yaxis()
    gantt.set_title("Course events (light: prewarm before the start; yellow: events overlap; red: over capacity)",
                    fontsize=10)

    for ax, (env, model) in zip(axes[1:], lanes):
        lane = [b for b in items if (b.environment, b.gpu_model) == (env, model)]
        edges = sorted({b.opens for b in lane} | {b.closes for b in lane})
        x = mdates.date2num([_utc(t) for t in edges])
        base = [0] * (len(edges) - 1)
        for stack in stacks:
            values = [sum(b.gpus for b in lane if b.stack == stack and b.opens <= a and b.closes >= z)
                      for a, z in zip(edges, edges[1:])]
            if any(values):
                ax.stairs([b + v for b, v in zip(base, values)], x, baseline=base, fill=True,
                          color=colour[stack], label=stack, zorder=2)
                base = [b + v for b, v in zip(base, values)]
        limit = capacity.get((env, model), 0)
        _shade_overlaps(ax, lane)
        ax.axhline(limit, color="black", linestyle="--", linewidth=1, zorder=3)
        ax.text(x[0], limit, f" capacity {limit}", va="bottom", fontsize=8)
        for o in over:
            if (o.environment, o.gpu_model) == (env, model):
                ax.axvspan(_utc(o.start), _utc(o.end), color="red", alpha=0.25, linewidth=0, zorder=1)
                ax.text(_utc(o.start), 0.97, f" over capacity: {o.peak} > {limit}", color="red", va="top",
                        fontsize=8, zorder=4, transform=ax.get_xaxis_transform())
        ax.set_ylabel(f"{env}\n{model} GPUs", fontsize=8)
        ax.set_ylim(0, max([limit, *base]) * 1.25 + 1)
        ax.legend(fontsize=7, loc="upper right")
    axes[-1].xaxis.set_major_formatter(mdates.DateFormatter("%b %d\n%H:%M"))
    axes[-1].set_xlabel("time (UTC)")
    _save(plt, fig, out)
    return over


def _shade_overlaps(ax, items) -> None:
    """Yellow where two or more of `items` are active at once."""
    for start, end, active in segments(items):
        if len(active) > 1:
            ax.axvspan(_utc(start), _utc(end), color="#ffd54f", alpha=0.35, linewidth=0, zorder=0)


def _one_per_event(items):
    """Bookings reduced to one per event, so overlap shading counts events, not environments."""
    seen, result = set(), []
    for b in items:
        if b.stack not in seen:
            seen.add(b.stack)
            result.append(b)
    return result
