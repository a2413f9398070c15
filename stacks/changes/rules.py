"""Which property changes make `pulumi up` REPLACE a resource, from `replacement_rules.json`.

The table holds facts read from the providers' sources (Terraform ForceNew attributes for the bridged
openstack and oci providers, pulumi-kubernetes' own per-kind list), one entry per resource type the
program registers, each naming its source; a test fails when the program registers a type the table
lacks, so a new type cannot go unflagged. A resource's own `replaceOnChanges` option adds to it, and
its `ignoreChanges` option takes changes out of `pulumi up` altogether.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

RULES_FILE = Path(__file__).with_name("replacement_rules.json")
ANY = "*"


@dataclass(frozen=True)
class TypeRule:
    type: str
    replace_on: tuple[str, ...]
    source: str
    part: str | None  # what `swan:replace` calls it (cluster, network, subnet, router, nodePool), if guarded


@functools.cache
def table() -> dict[str, TypeRule]:
    doc = json.loads(RULES_FILE.read_text())
    return {t: TypeRule(t, tuple(e["replaceOn"]), e["source"], e.get("part")) for t, e in doc["types"].items()}


def _segments(path: str | tuple) -> tuple[str, ...]:
    """A property path without list indices: `blockDevices.0.uuid` and ("blockDevices", 0, "uuid") alike."""
    parts = path.split(".") if isinstance(path, str) else path
    return tuple(str(p) for p in parts if not (isinstance(p, int) or str(p).isdigit() or p == "[*]" or p == ANY))


def covers(rule: str, changed: tuple) -> bool:
    """A rule path covers a changed path when one is a prefix of the other (a whole block added covers
    its ForceNew leaves; a leaf change under a ForceNew block is that block's change)."""
    if rule == ANY:
        return True
    a, b = _segments(rule), _segments(changed)
    n = min(len(a), len(b))
    return n > 0 and a[:n] == b[:n]


def replacing(type_: str, changed: tuple, options: dict) -> str | None:
    """The rule (a property path) that makes this change a replacement, or None for an in-place update.
    Unknown types count as replacing (`*`): better a false alarm than a silent replacement."""
    rule = table().get(type_)
    paths = list(rule.replace_on) if rule else [ANY]
    paths += options.get("replaceOnChanges", [])
    return next((p for p in paths if covers(p, changed)), None)


def ignored(changed: tuple, options: dict) -> str | None:
    """The `ignoreChanges` path that keeps this change out of `pulumi up` (after creation), if any."""
    return next((p for p in options.get("ignoreChanges", []) if covers(p, changed)
                 and len(_segments(p)) <= len(_segments(changed))), None)


def part_of(type_: str) -> str | None:
    rule = table().get(type_)
    return rule.part if rule else None
