"""Warnings about valid but questionable stacks (for `swan check`); errors live in the model."""
from __future__ import annotations

from pydantic import BaseModel


def stack_warnings(stacks: dict[str, BaseModel]) -> list[str]:
    """Cross-stack advice. Environment stacks have none yet; event stacks add theirs here."""
    return []
