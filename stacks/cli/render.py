"""`swan render`: what `pulumi up -s STACK` would create, fully offline, plus a readable summary."""
from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Optional

import typer
from rich.text import Text
from rich.tree import Tree

from stacks.cli.common import console, err_console, fit, fit_words, input_errors_exit_2


GUIDE = 4  # columns rich's Tree indents each level by


def summary_tree(stack: str, resources: list, templates: dict | None = None, width: int | None = None) -> Tree:
    """Components with the count of each resource type they own; Helm releases with their chart
    and how many objects the chart created (or why it could not be templated).

    With `width` (the console's), a resource type too long for its line is shortened in the
    middle with '…' (its kind, at the end, stays whole) and every other line wraps between
    words, so no name is ever cut without a mark."""
    templates = templates or {}
    children: dict[str | None, list] = defaultdict(list)
    for r in resources:
        children[r.parent].append(r)
    tree = Tree(Text.assemble((stack, "bold"), f": {len(resources)} resources"))

    def room(depth: int, used: int = 0) -> int | None:
        return None if width is None else width - GUIDE * depth - used

    def release_line(r, depth: int) -> Text:
        name = str(r.inputs.get("name", r.name))
        words = lambda text: fit_words(str(text), room(depth))  # noqa: E731
        line = Text.assemble("helm release ", (words(name), "green"),
                             words(f": chart {r.inputs.get('chart')} {r.inputs.get('version')} "
                                   f"in {r.inputs.get('namespace')}"))
        done = templates.get(name)
        if done is None:
            return line
        if done.problem:
            return line.append_text(Text.assemble(": ", ("not templated", "red"), words(f" ({done.problem})")))
        return line.append(f": {len(done.objects)} chart objects")

    def add(node: Tree, key: str | None, depth: int) -> None:
        owned = children.get(key, [])
        for comp in sorted((r for r in owned if not r.custom), key=lambda r: r.name):
            name = fit_words(comp.name, room(depth))
            label = Text.assemble((fit(comp.type, room(depth, len(name) + 1)), "cyan"), " ", name)
            add(node.add(label), f"{comp.type}::{comp.name}", depth + 1)
        counts = Counter(r.type for r in owned if r.custom)
        for type_, count in sorted(counts.items()):
            if type_ == "kubernetes:helm.sh/v3:Release":
                for r in sorted((r for r in owned if r.type == type_), key=lambda r: r.name):
                    node.add(release_line(r, depth))
            else:
                node.add(Text(f"{count} x {fit(type_, room(depth, len(f'{count} x ')))}"))

    add(tree, None, 1)
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
    # wrap between words, never crop: a type too long for its line is shortened with '…'
    console.print(summary_tree(stack, rendered.resources, templates, width=console.width), soft_wrap=False)
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
