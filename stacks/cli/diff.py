"""`swan diff A B`: what `pulumi up` would change going from render A to render B, replacements flagged."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.text import Text

from stacks.cli.common import console, input_errors_exit_2

STYLE = {"replace": "bold red", "ignored": "dim", "update": "yellow"}


def print_diff(diff) -> None:
    from stacks.changes.diff import shown

    for c in diff.changes:
        origin = "" if c.origin == "resource" else f" [{c.origin}]"
        if c.change != "changed":
            style = "green" if c.change == "added" else "red"
            console.print(Text.assemble((f"{c.change:8}", style), f" {c.label}{origin}"))
            continue
        head = ("REPLACE ", "bold red") if c.replaced else ("update  ", "yellow")
        console.print(Text.assemble(head, f" {c.label}{origin}"))
        for f in c.fields:
            note = {"replace": f"replaces: {f.why}", "ignored": f"ignored after creation ({f.why})",
                    "update": "in place"}[f.kind]
            console.print(Text.assemble("    ", (f.dotted, STYLE[f.kind]), f": {shown(f.before)} -> {shown(f.after)}  ",
                                        (f"[{note}]", "dim")))
    for f in diff.outputs:
        console.print(f"output   {f.dotted}: {shown(f.before)} -> {shown(f.after)}", markup=False, highlight=False)


@input_errors_exit_2
def diff(dir_a: Path = typer.Argument(..., help="The earlier render (e.g. the target branch's, or the golden one)."),
         dir_b: Path = typer.Argument(..., help="The new render."),
         markdown: Optional[Path] = typer.Option(None, "--markdown", help="Also write a merge-request comment body here."),
         fail_on_replace: bool = typer.Option(False, "--fail-on-replace",
                                              help="Exit 1 when a resource would be replaced.")) -> None:
    """Compare two `swan render` folders: resources added, removed and changed (per field), chart
    objects and stack outputs, each change the provider makes by REPLACEMENT flagged. Exit 0; 1 with
    --fail-on-replace and a replacement; 2 when a folder is not a render."""
    from stacks.changes.diff import diff_folders, markdown as to_markdown
    from stacks.errors import InputError, Problem
    from stacks.output_files import atomic_output, output_file_problem

    problem = output_file_problem("--markdown", markdown, [".md", ".markdown", ".txt"])
    try:
        found = diff_folders(dir_a, dir_b)
    except InputError as exc:  # every bad argument at once
        raise InputError([*exc.problems, *([problem] if problem else [])]) from None
    if problem:
        raise InputError(problem)
    print_diff(found)
    replaced = found.replacements
    counts = {k: sum(1 for c in found.changes if c.change == k) for k in ("added", "removed", "changed")}
    console.print(f"{counts['added']} added, {counts['removed']} removed, {counts['changed']} changed, "
                  f"{len(replaced)} replaced", markup=False, highlight=False)
    if markdown is not None:
        try:
            with atomic_output(markdown) as out:
                out.write_text(to_markdown(found, str(dir_a), str(dir_b)))
        except OSError as exc:
            raise InputError(Problem("--markdown", "", f"{markdown}: cannot write ({exc.strerror or exc})")) from None
    if replaced and fail_on_replace:
        raise typer.Exit(1)
