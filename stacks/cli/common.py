"""Shared CLI plumbing: one console, and the rule that bad input exits 2 without a traceback."""
from __future__ import annotations

import functools
from typing import Callable, TypeVar

import typer
from rich.console import Console

from stacks.errors import InputError

# No emoji ("swan:cloud:" stays text) and no hard wrapping (paths and keys stay whole in logs).
console = Console(emoji=False, soft_wrap=True)
err_console = Console(stderr=True, emoji=False, soft_wrap=True)

F = TypeVar("F", bound=Callable)


def input_errors_exit_2(func: F) -> F:
    """Print every `path: key: message` of an InputError on stderr and exit 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except InputError as exc:
            for problem in exc.problems:
                err_console.print(str(problem), markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]
