"""Entry point of the `swan` console script; each command group lives in its own module."""
from __future__ import annotations

import typer

from stacks.cli import charts, check, diff, event, gpu, nodes, render, verify

app = typer.Typer(
    name="swan",
    help="Provision and verify the SWAN service (see README.md).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(gpu.app, name="gpu")
app.add_typer(event.app, name="event")
app.add_typer(nodes.app, name="nodes")
app.add_typer(charts.app, name="charts")

app.command("check")(check.check)
app.command("render")(render.render)
app.command("diff")(diff.diff)
app.command("verify")(verify.verify)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
