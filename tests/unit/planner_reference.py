"""An independent oracle for the planner tests, written straight from mig-geometry.md.

It shares no code with stacks.planner: the tables are transcribed again here, a layout is
checked by trying start slices instance by instance (occupied slices kept in a set), and
the minimum number of GPUs is found by exhaustive search over these layouts.
"""
from __future__ import annotations

import itertools
from functools import lru_cache

# (compute, memory slices, allowed starts) per profile, from the reference tables.
A100_SHAPES = [(1, 1, (0, 1, 2, 3, 4, 5, 6)), (1, 2, (0, 2, 4, 6)), (2, 2, (0, 2, 4)),
               (3, 4, (0, 4)), (4, 4, (0,)), (7, 8, (0,))]
A100_NAMES = {
    "A100-40GB": ["1g.5gb", "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"],
    "A100-80GB": ["1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"],
    "H100-80GB": ["1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"],
    "H200-141GB": ["1g.18gb", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb"],
}

# model -> (memory slices, compute slices, {profile: (compute, memory, starts)})
REFERENCE: dict[str, tuple[int, int, dict[str, tuple[int, int, tuple[int, ...]]]]] = {
    **{m: (8, 7, dict(zip(names, A100_SHAPES))) for m, names in A100_NAMES.items()},
    "A30-24GB": (4, 4, {"1g.6gb": (1, 1, (0, 1, 2, 3)), "2g.12gb": (2, 2, (0, 2)), "4g.24gb": (4, 4, (0,))}),
}
NO_MIG = ["T4", "V100", "A10", "L4", "L40S"]
ALL_MODELS = [*REFERENCE, *NO_MIG]

# NVIDIA's uniform layouts (mig-parted-config-default.yaml): instances of one profile per GPU.
NVIDIA_UNIFORM = {
    "A100-40GB": {"1g.5gb": 7, "1g.10gb": 4, "2g.10gb": 3, "3g.20gb": 2, "4g.20gb": 1, "7g.40gb": 1},
    "A100-80GB": {"1g.10gb": 7, "1g.20gb": 4, "2g.20gb": 3, "3g.40gb": 2, "4g.40gb": 1, "7g.80gb": 1},
    "H100-80GB": {"1g.10gb": 7, "1g.20gb": 4, "2g.20gb": 3, "3g.40gb": 2, "4g.40gb": 1, "7g.80gb": 1},
    "H200-141GB": {"1g.18gb": 7, "1g.35gb": 4, "2g.35gb": 3, "3g.71gb": 2, "4g.71gb": 1, "7g.141gb": 1},
    "A30-24GB": {"1g.6gb": 4, "2g.12gb": 2, "4g.24gb": 1},
}


def profiles(model: str) -> list[str]:
    """Profiles a model hosts: its MIG profiles, and `full` (MIG disabled) on every model."""
    return [*REFERENCE[model][2], "full"] if model in REFERENCE else ["full"]


def fits(model: str, layout: dict[str, int]) -> bool:
    """Is `layout` (profile -> count) placeable on one GPU of `model`?"""
    layout = {p: n for p, n in layout.items() if n}
    if not layout:
        return False
    if "full" in layout:
        return layout == {"full": 1}
    if model not in REFERENCE:
        return False
    slices, compute_total, table = REFERENCE[model]
    if sum(table[p][0] * n for p, n in layout.items()) > compute_total:
        return False
    instances = sorted((table[p] for p, n in layout.items() for _ in range(n)), key=lambda t: -t[1])

    def place(i: int, occupied: frozenset[int]) -> bool:
        if i == len(instances):
            return True
        _, size, starts = instances[i]
        for s in starts:
            run = set(range(s, s + size))
            if max(run) < slices and not run & occupied:
                if place(i + 1, occupied | run):
                    return True
        return False

    return place(0, frozenset())


def placement_ok(model: str, placed: list[tuple[str, int]]) -> bool:
    """Are these (profile, start) pairs allowed starts that do not overlap?"""
    slices, _, table = REFERENCE[model]
    seen: set[int] = set()
    for profile, start in placed:
        _, size, starts = table[profile]
        run = set(range(start, start + size))
        if start not in starts or max(run) >= slices or run & seen:
            return False
        seen |= run
    return True


@lru_cache(maxsize=None)
def all_layouts(model: str) -> tuple[tuple[tuple[str, int], ...], ...]:
    """Every valid layout, found by checking every count vector within simple bounds."""
    if model not in REFERENCE:
        return ((("full", 1),),)
    table = REFERENCE[model][2]
    names = list(table)
    ranges = [range(len(table[p][2]) + 1) for p in names]
    found = [(("full", 1),)]
    for counts in itertools.product(*ranges):
        layout = {p: n for p, n in zip(names, counts) if n}
        if layout and sum(table[p][1] * n for p, n in layout.items()) <= REFERENCE[model][0] and fits(model, layout):
            found.append(tuple(sorted(layout.items())))
    return tuple(found)


def min_gpus(model: str, demand: dict[str, int]) -> int:
    """The minimum number of GPUs covering `demand`, by exhaustive search over all layouts."""
    names = sorted(demand)
    layouts = [tuple(dict(l).get(p, 0) for p in names) for l in all_layouts(model)]
    layouts = [l for l in layouts if any(l)]

    @lru_cache(maxsize=None)
    def best(rest: tuple[int, ...]) -> int:
        if not any(rest):
            return 0
        return 1 + min(best(tuple(max(r - k, 0) for r, k in zip(rest, l))) for l in layouts
                       if any(k and r for r, k in zip(rest, l)))

    return best(tuple(demand[p] for p in names))
