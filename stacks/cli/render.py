"""`swan render`: what `pulumi up -s STACK` would create, fully offline, plus a readable summary."""
from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Optional

import typer
from rich.tree import Tree

from stacks.cli.common import console, input_errors_exit_2


def summary_tree(stack: str, resources: list) -> Tree:
    """Components with the count of each resource type they own, Helm charts with versions."""
    children: dict[str | None, list] = defaultdict(list)
    for r in resources:
        children[r.parent].append(r)
    tree = Tree(f"[bold]{stack}[/bold]: {len(resources)} resources")

    def add(node: Tree, key: str | None) -> None:
        owned = children.get(key, [])
        for comp in sorted((r for r in owned if not r.custom), key=lambda r: r.name):
            add(node.add(f"[cyan]{comp.type}[/cyan] {comp.name}"), f"{comp.type}::{comp.name}")
        counts = Counter(r.type for r in owned if r.custom)
        for type_, count in sorted(counts.items()):
            if type_ == "kubernetes:helm.sh/v3:Release":
                for r in sorted((r for r in owned if r.type == type_), key=lambda r: r.name):
                    node.add(f"helm release [green]{r.inputs.get('name', r.name)}[/green]: chart "
                             f"{r.inputs.get('chart')} {r.inputs.get('version')} in {r.inputs.get('namespace')}")
            else:
                node.add(f"{count} x {type_}")

    add(tree, None)
    return tree


@input_errors_exit_2
def render(stack: str = typer.Argument(..., help="Stack name: config/Pulumi.<stack>.yaml"),
           out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default build/render/STACK).")) -> None:
    """Run the Pulumi program for STACK offline (mock engine) and write what it would create."""
    from stacks.render import render as render_stack

    with console.status(f"Running the Pulumi program for {stack} under the mock engine..."):
        folder, rendered = render_stack(stack, out)
    resources = rendered.resources
    console.print(summary_tree(stack, resources))
    k8s = len(list((folder / "k8s").iterdir()))
    helm = len(list((folder / "helm").iterdir()))
    console.print(f"Wrote {folder}/: resources.json ({len(resources)} resources), "
                  f"k8s/ ({k8s} objects), helm/ ({helm} releases), outputs.json ({len(rendered.outputs)} stack outputs)")
