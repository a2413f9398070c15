"""`swan render`: what `pulumi up -s STACK` would create, fully offline, plus a readable summary."""
from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Optional

import typer
from rich.tree import Tree

from stacks.cli.common import console, err_console, input_errors_exit_2


def summary_tree(stack: str, resources: list, templates: dict | None = None) -> Tree:
    """Components with the count of each resource type they own; Helm releases with their chart
    and how many objects the chart created (or why it could not be templated)."""
    templates = templates or {}
    children: dict[str | None, list] = defaultdict(list)
    for r in resources:
        children[r.parent].append(r)
    tree = Tree(f"[bold]{stack}[/bold]: {len(resources)} resources")

    def release_line(r) -> str:
        name = r.inputs.get("name", r.name)
        line = (f"helm release [green]{name}[/green]: chart {r.inputs.get('chart')} "
                f"{r.inputs.get('version')} in {r.inputs.get('namespace')}")
        done = templates.get(name)
        if done is None:
            return line
        if done.problem:
            return f"{line}: [red]not templated[/red] ({done.problem})"
        return f"{line}: {len(done.objects)} chart objects"

    def add(node: Tree, key: str | None) -> None:
        owned = children.get(key, [])
        for comp in sorted((r for r in owned if not r.custom), key=lambda r: r.name):
            add(node.add(f"[cyan]{comp.type}[/cyan] {comp.name}"), f"{comp.type}::{comp.name}")
        counts = Counter(r.type for r in owned if r.custom)
        for type_, count in sorted(counts.items()):
            if type_ == "kubernetes:helm.sh/v3:Release":
                for r in sorted((r for r in owned if r.type == type_), key=lambda r: r.name):
                    node.add(release_line(r))
            else:
                node.add(f"{count} x {type_}")

    add(tree, None)
    return tree


@input_errors_exit_2
def render(stack: str = typer.Argument(..., help="Stack name: config/Pulumi.<stack>.yaml"),
           out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default build/render/STACK)."),
           charts: Optional[str] = typer.Option(
               None, "--charts", help="Folder(s) of `<chart>-<version>` charts, ':'-separated "
                                      "(default: $SWAN_CHARTS, else ~/.cache/swan-iac/charts)."),
           require_charts: bool = typer.Option(
               False, "--require-charts", help="Exit 1 when a release's chart or helm is missing.")) -> None:
    """Run the Pulumi program for STACK offline (mock engine), template every Helm release with its
    real chart, and write what `pulumi up` would create."""
    from stacks import charts as chart_cache
    from stacks.render import render as render_stack

    dirs = chart_cache.chart_dirs(charts)
    with console.status(f"Running the Pulumi program for {stack} under the mock engine, then its charts..."):
        folder, rendered = render_stack(stack, out, dirs)
    templates = {t.release: t for t in rendered.charts}
    console.print(summary_tree(stack, rendered.resources, templates), soft_wrap=False)  # wrap, never crop
    k8s = len(list((folder / "k8s").iterdir()))
    objects = sum(len(t.objects or []) for t in rendered.charts)
    console.print(f"Wrote {folder}/: resources.json ({len(rendered.resources)} resources), "
                  f"k8s/ ({k8s} objects), helm/ ({len(templates)} releases), "
                  f"charts/ ({objects} objects from {sum(1 for t in rendered.charts if not t.problem)} charts), "
                  f"outputs.json ({len(rendered.outputs)} stack outputs)")
    missing = [t for t in rendered.charts if t.problem]
    for t in missing:
        err_console.print(f"{stack}: helm release {t.release}: {t.problem}", markup=False, highlight=False)
    if missing and require_charts:
        raise typer.Exit(1)
