"""The layering a newcomer relies on: no import cycle anywhere in stacks/, and the config models
a leaf (they import no other layer), counting imports inside functions too.

Read from the source with `ast`, so a lazy import that hides a cycle from Python still counts.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

STACKS = Path(__file__).resolve().parents[2] / "stacks"
# What stacks/config may import besides itself: the error type, and the GPU catalog (MIG geometry
# and mig-parted layouts, the device-plugin sharing names: reference data the NodeGpu and event session
# models check against and derive from).
# The cloud registry (pure; its cloud packages are imported by name when called) gives the config model
# its cloud sections, which live in each cloud's package (stacks/infra/<cloud>/config.py): those
# section modules belong to the config layer and are held to the same rule.
CONFIG_MAY_IMPORT = {"stacks.errors", "stacks.planner.geometry", "stacks.planner.mig_parted", "stacks.planner.sharing",
                     "stacks.infra.clouds"}


def in_config_layer(module: str) -> bool:
    return module.startswith("stacks.config") or re.fullmatch(r"stacks\.infra\.\w+\.config", module) is not None


def modules() -> dict[str, Path]:
    found = {}
    for path in STACKS.rglob("*.py"):
        parts = path.relative_to(STACKS.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (anywhere in its source)."""
    mods = modules()

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for module, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            for target in targets:
                if target.startswith("stacks") and (found := resolve(target)) and found != module:
                    graph[module].add(found)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_stacks():
    graph = import_graph()
    assert cycles(graph) == [], "\n".join(
        f"cycle: {' '.join(c)}; edges: " + "; ".join(f"{m} -> {sorted(graph[m] & set(c))}" for m in c)
        for c in cycles(graph))


def test_the_config_models_are_a_leaf():
    graph = import_graph()
    outside = {(module, target) for module, targets in graph.items() if in_config_layer(module)
               for target in targets if not in_config_layer(target) and target not in CONFIG_MAY_IMPORT}
    assert outside == set()
    assert {m for m in graph if in_config_layer(m) and m.startswith("stacks.infra")} == {
        "stacks.infra.kind.config", "stacks.infra.openstack.config", "stacks.infra.oci.config"}
