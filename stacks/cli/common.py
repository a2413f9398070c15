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


ELLIPSIS = "…"


def fit(text: str, room: int | None) -> str:
    """`text` as it is when it fits in `room` columns, else shortened in the middle with '…'
    (more of the end kept: a type's kind, a path's file name). None: no limit."""
    if room is None or len(text) <= room:
        return text
    if room <= 1:
        return ELLIPSIS[:max(room, 0)]
    tail = (room - 1) * 2 // 3
    head = room - 1 - tail
    return text[:head] + ELLIPSIS + text[len(text) - tail:]


def fit_words(text: str, room: int | None) -> str:
    """Every space-separated word of `text` that is longer than `room` shortened with `fit`: the
    text can then wrap between words without a word being cut unmarked."""
    if room is None:
        return text
    return " ".join(fit(word, room) for word in text.split(" "))


def name_column(table, header: str, **options) -> None:
    """A table column of names (stacks, pools, hosts, checks): a name is never split over lines
    or cut without a mark; when the table is too wide it ends in '…'."""
    table.add_column(header, no_wrap=True, overflow="ellipsis", **options)


def text_column(table, header: str, **options) -> None:
    """A column of free text: wraps between words; a word too long for the column ends in '…'."""
    table.add_column(header, overflow="ellipsis", **options)
