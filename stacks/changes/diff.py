"""`swan diff A B`: what changes between two renders of a stack, as `pulumi up` would see it.

Resources are matched by (parent, type, name), as Pulumi's URNs do; each changed one gets a per-field
diff (nested paths, list items by index), and each field is classed as `replace` (the provider
replaces the resource: `rules.replacing`), `ignored` (the resource's `ignoreChanges`: `pulumi up`
leaves it alone after creation) or `update` (in place). Helm values are inputs of their Release, so
they come with it (the Release is replaced only when its name or namespace changes); the objects each
chart renders (`charts/`) are compared too, because a value change shows there what Helm will do.
Helm upgrades those objects by patching them, never by a Pulumi replacement, so they are not flagged.
"""
from __future__ import annotations

import difflib

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stacks.changes import rules
from stacks.errors import InputError, Problem

MISSING = object()  # a side of a field change where the field does not exist


@dataclass(frozen=True)
class FieldChange:
    path: tuple  # keys and list indices from the resource's inputs (or the object) down
    before: Any
    after: Any
    kind: str  # "replace", "ignored" or "update"
    why: str | None = None  # the rule (replace) or ignoreChanges path (ignored)

    @property
    def dotted(self) -> str:
        return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in self.path)


@dataclass(frozen=True)
class ResourceChange:
    type: str
    name: str
    parent: str | None
    change: str  # "added", "removed" or "changed"
    fields: tuple[FieldChange, ...] = ()
    options: dict = field(default_factory=dict)  # the new render's options (the old one's when removed)
    origin: str = "resource"  # "resource" (resources.json) or "chart:<release>" (a chart-rendered object)
    cloud_name: str | None = None  # the `name` input (a node group's pool name), for messages

    @property
    def replaced(self) -> bool:
        return any(f.kind == "replace" for f in self.fields)

    @property
    def label(self) -> str:
        return f"{self.type} {self.name}" + (f" (in {self.parent})" if self.parent else "")


@dataclass
class RenderDiff:
    changes: list[ResourceChange]
    outputs: list[FieldChange]

    @property
    def replacements(self) -> list[ResourceChange]:
        return [c for c in self.changes if c.replaced]

    @property
    def empty(self) -> bool:
        return not self.changes and not self.outputs


def _item_key(item: Any) -> str:
    """What identifies a list item across two renders: its name when it has one, else its whole value."""
    if isinstance(item, dict) and isinstance(item.get("name"), str):
        return "name:" + item["name"]
    return json.dumps(item, sort_keys=True, default=str)


def field_changes(before: Any, after: Any, path: tuple = ()) -> list[tuple[tuple, Any, Any]]:
    """(path, before, after) of every leaf that differs; a key or item on one side only is one change."""
    if isinstance(before, dict) and isinstance(after, dict):
        found = []
        for key in sorted(set(before) | set(after), key=str):
            found += field_changes(before.get(key, MISSING), after.get(key, MISSING), (*path, key))
        return found
    if isinstance(before, list) and isinstance(after, list):
        # Items are aligned as a text diff aligns lines (a named item by its name), so that one entry
        # inserted into dependsOn, env or args is one change, not a shift of every item after it.
        found = []
        matcher = difflib.SequenceMatcher(None, [_item_key(x) for x in before], [_item_key(x) for x in after],
                                          autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            paired = min(i2 - i1, j2 - j1)  # equal, or replaced item for item; the rest removed or added
            for i, j in zip(range(i1, i1 + paired), range(j1, j1 + paired)):
                found += field_changes(before[i], after[j], (*path, j))
            found += [((*path, i), before[i], MISSING) for i in range(i1 + paired, i2)]
            found += [((*path, j), MISSING, after[j]) for j in range(j1 + paired, j2)]
        return found
    return [] if before == after else [(path, before, after)]


def classify(type_: str, path: tuple, before: Any, after: Any, options: dict, custom: bool = True) -> FieldChange:
    """A component (not custom) has no provider: its changes are its children's."""
    if (why := rules.ignored(path, options)) is not None:
        return FieldChange(path, before, after, "ignored", why)
    if custom and (why := rules.replacing(type_, path, options)) is not None:
        return FieldChange(path, before, after, "replace", why)
    return FieldChange(path, before, after, "update")


@dataclass(frozen=True)
class Render:
    """One render folder, read: resources by key, chart objects by (release, file), outputs."""

    folder: Path
    resources: dict[tuple, dict]
    chart_objects: dict[tuple[str, str], dict]
    outputs: dict


def _problem(folder: Path, message: str) -> InputError:
    return InputError(Problem(str(folder), "", message))


def load(folder: Path) -> Render:
    """A folder `swan render` wrote (or a golden copy of one); anything else is bad input."""
    if not folder.is_dir():
        raise _problem(folder, "not a folder (expected a `swan render` output folder)")
    index = folder / "resources.json"
    if not index.is_file():
        raise _problem(folder, "has no resources.json: not a `swan render` output folder")
    try:
        listed = json.loads(index.read_text())
        resources = {(r["parent"], r["type"], r["name"]): r for r in listed}
    except (ValueError, TypeError, KeyError) as exc:
        raise _problem(index, f"is not a render's resource list ({exc})") from None
    objects = {}
    charts = folder / "charts"
    for file in sorted(charts.glob("*/*.yaml")) if charts.is_dir() else []:
        try:
            objects[(file.parent.name, file.stem)] = yaml.safe_load(file.read_text()) or {}
        except yaml.YAMLError as exc:
            raise _problem(file, f"is not YAML ({exc})") from None
    outputs_file = folder / "outputs.json"
    try:
        outputs = json.loads(outputs_file.read_text()) if outputs_file.is_file() else {}
    except ValueError as exc:
        raise _problem(outputs_file, f"is not JSON ({exc})") from None
    return Render(folder, resources, objects, outputs)


def _chart_type(obj: dict) -> str:
    """The pulumi-kubernetes type token of a chart object, so the same per-kind rules apply."""
    api = str(obj.get("apiVersion", "v1"))
    group, _, version = api.rpartition("/")
    return f"kubernetes:{group or 'core'}/{version}:{obj.get('kind')}"


def diff_renders(a: Render, b: Render) -> RenderDiff:
    changes: list[ResourceChange] = []
    for key in sorted(set(a.resources) | set(b.resources), key=lambda k: (k[1], k[2], str(k[0]))):
        old, new = a.resources.get(key), b.resources.get(key)
        parent, type_, name = key
        if old is None or new is None:
            present = new or old
            changes.append(ResourceChange(type_, name, parent, "added" if old is None else "removed",
                                          options=present.get("options", {})))
            continue
        options = new.get("options", {})
        found = [classify(type_, p, x, y, options, bool(new.get("custom", True)))
                 for p, x, y in field_changes(old.get("inputs"), new.get("inputs"))]
        # options change what the engine does, never the cloud resource: always in place
        found += [FieldChange(("options", *p), x, y, "update")
                  for p, x, y in field_changes(old.get("options", {}), options)]
        if found:
            changes.append(ResourceChange(type_, name, parent, "changed", tuple(found), options,
                                          cloud_name=(new.get("inputs") or {}).get("name")))
    # Chart objects of releases templated in both renders only (a golden render keeps no charts/; a
    # release added or removed is already a resource change).
    both = {r for r, _ in a.chart_objects} & {r for r, _ in b.chart_objects}
    for key in sorted(k for k in set(a.chart_objects) | set(b.chart_objects) if k[0] in both):
        old, new = a.chart_objects.get(key), b.chart_objects.get(key)
        release, file = key
        origin = f"chart:{release}"
        present = new if new is not None else old
        type_ = _chart_type(present)
        if old is None or new is None:
            changes.append(ResourceChange(type_, file, None, "added" if old is None else "removed", origin=origin))
            continue
        found = [FieldChange(p, x, y, "update") for p, x, y in field_changes(old, new)]
        if found:
            changes.append(ResourceChange(type_, file, None, "changed", tuple(found), origin=origin))
    outputs = [FieldChange(p, x, y, "update") for p, x, y in field_changes(a.outputs, b.outputs)]
    return RenderDiff(changes, outputs)


def diff_folders(a: Path, b: Path) -> RenderDiff:
    """Both folders are checked before either is compared: every problem is listed at once."""
    problems, renders = [], []
    for folder in (a, b):
        try:
            renders.append(load(folder))
        except InputError as exc:
            problems += exc.problems
    if problems:
        raise InputError(problems)
    return diff_renders(*renders)


def shown(value: Any, room: int = 80) -> str:
    if value is MISSING:
        return "(absent)"
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= room else text[:room - 1] + "…"


def markdown(diff: RenderDiff, a: str, b: str, limit: int = 40) -> str:
    """A merge-request comment: a summary line, replacements first, then every change, one table each."""
    replaced = diff.replacements
    counts = {k: sum(1 for c in diff.changes if c.change == k) for k in ("added", "removed", "changed")}
    lines = [f"### `swan diff` {a} → {b}", ""]
    if diff.empty:
        return "\n".join(lines + ["No change: `pulumi up` would do nothing.", ""])
    lines.append(f"{counts['added']} added, {counts['removed']} removed, {counts['changed']} changed"
                 f"{f', **{len(replaced)} REPLACED**' if replaced else ''}.")
    lines.append("")
    if replaced:
        lines += ["> [!WARNING]", "> These resources would be **replaced** (deleted and created again):"]
        for c in replaced:
            why = sorted({f.dotted for f in c.fields if f.kind == "replace"})
            lines.append(f"> - `{c.label}`{'' if c.origin == 'resource' else f' ({c.origin})'}: {', '.join(why)}")
        lines.append("")
    cell = lambda v: shown(v, 60).replace("|", "\\|")  # noqa: E731
    rows = []
    for c in diff.changes:
        where = f"`{c.type}` `{c.name}`" + ("" if c.origin == "resource" else f" ({c.origin})")
        if c.change != "changed":
            rows.append(f"| {c.change} | {where} | | | |")
        for f in c.fields:
            mark = {"replace": "**replace**", "ignored": "ignored after creation", "update": "update"}[f.kind]
            rows.append(f"| {mark} | {where} | `{f.dotted}` | `{cell(f.before)}` | `{cell(f.after)}` |")
    # replacements first, so that a long table never hides one
    rows.sort(key=lambda row: not row.startswith("| **replace**"))
    lines += ["| change | resource | field | before | after |", "|---|---|---|---|---|", *rows[:limit]]
    if len(rows) > limit:
        lines.append(f"\n…and {len(rows) - limit} more rows (run `swan diff {a} {b}` for all of them).")
    for f in diff.outputs:
        lines.append(f"\n- stack output `{f.dotted}`: `{shown(f.before, 60)}` → `{shown(f.after, 60)}`")
    return "\n".join(lines) + "\n"
