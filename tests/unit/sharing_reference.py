"""An independent oracle for the GPU sharing planner, written from the device plugin's rules.

It shares no code with stacks.planner (MIG layouts come from planner_reference, itself
independent). Every way to configure one GPU is listed explicitly, with what it may carry:

- a whole GPU: one session of any class;
- time-slicing with r >= 2 replicas: up to r sessions of classes accepting time-slicing with
  r x memory <= GPU memory and r x share <= 1;
- MPS with r >= 2 replicas (at most 48 clients, 16 on V100): up to r sessions of classes accepting
  MPS with r x memory <= GPU memory and 100 // r >= 100 x share (the enforced thread percentage);
- every valid MIG layout: one session per instance, of a class accepting MIG whose pinned profile
  is that instance's, or (unpinned) whose memory and share that instance's GB and compute
  fraction cover (any such profile, not only the smallest).

Then the minimum number of GPUs is found by exhaustive search (memoised over the sessions left).
"""
from __future__ import annotations

import itertools
from fractions import Fraction
from functools import lru_cache

try:
    import planner_reference as ref
except ImportError:  # tests laid out as a package
    from . import planner_reference as ref

LEVELS = ["whole", "mig", "mps", "time-slicing"]  # strongest first
MEMORY_GB = {"A100-40GB": 40, "A100-80GB": 80, "H100-80GB": 80, "H200-141GB": 141, "A30-24GB": 24,
             "T4": 16, "V100": 16, "A10": 24, "L4": 24, "L40S": 48}
MPS_CLIENTS = {m: (16 if m == "V100" else 48) for m in MEMORY_GB}  # compute capability below 7.5: 16


def offered(model: str) -> list[str]:
    return [lv for lv in LEVELS if lv != "mig" or model in ref.REFERENCE]


def accepts(isolation: str) -> list[str]:
    return LEVELS[:LEVELS.index(isolation) + 1]


def instance_gb(profile: str) -> int:
    return int(profile.split(".")[1].removesuffix("gb"))


def instance_fits(model: str, profile: str, cls) -> bool:
    """May a session of `cls` (memory, share, isolation, pinned profile) use one `profile` instance?"""
    memory, share, isolation, pinned = cls
    if "mig" not in accepts(isolation):
        return False
    if pinned is not None:
        return pinned == profile
    compute, total = ref.REFERENCE[model][2][profile][0], ref.REFERENCE[model][1]
    return instance_gb(profile) >= memory and (share is None or Fraction(compute, total) >= share)


def shared_fits(model: str, mode: str, r: int, cls) -> bool:
    memory, share, isolation, pinned = cls
    if mode not in accepts(isolation) or r < 2 or r * memory > MEMORY_GB[model]:
        return False
    if mode == "mps":
        return r <= MPS_CLIENTS[model] and (share is None or Fraction(100 // r, 100) >= share)
    return share is None or r * share <= 1


def configurations(model: str, classes: list, demand: tuple[int, ...]) -> list[tuple[str, list[tuple[int, ...]]]]:
    """For each way to configure one GPU: its mode and its maximal service vectors (sessions per class)."""
    k = len(classes)
    total = sum(demand)
    out = [("whole", [tuple(int(i == j) for j in range(k)) for i in range(k)])]  # any one session
    for mode in ("time-slicing", "mps"):
        if mode not in offered(model):
            continue
        for r in range(2, total + 1):  # more replicas than sessions never helps: fewer classes fit
            ok = [shared_fits(model, mode, r, c) for c in classes]
            if not any(ok):
                continue
            seats = min(r, sum(d for d, o in zip(demand, ok) if o))
            vecs = [u for u in itertools.product(*[range(d + 1) if o else [0] for d, o in zip(demand, ok)])
                    if sum(u) == seats]
            out.append((mode, vecs))
    if model in ref.REFERENCE:
        for layout in ref.all_layouts(model):
            instances = [p for p, n in layout for _ in range(n) if p != "full"]
            if not instances:
                continue
            usable = [[instance_fits(model, p, c) for c in classes] for p in instances]

            def feasible(u):  # Hall's condition: every set of classes has enough instances
                for size in range(1, k + 1):
                    for group in itertools.combinations(range(k), size):
                        need = sum(u[c] for c in group)
                        have = sum(1 for row in usable if any(row[c] for c in group))
                        if need > have:
                            return False
                return True

            vecs = [u for u in itertools.product(*[range(d + 1) for d in demand]) if any(u) and feasible(u)]
            maximal = [u for u in vecs if not any(v != u and all(a >= b for a, b in zip(v, u)) for v in vecs)]
            if maximal:
                out.append(("mig", maximal))
    return out


def min_gpus(model: str, demand: dict, levels: list[str] | None = None) -> int:
    """Fewest GPUs for `demand` ({(memory, share, isolation, pinned profile): sessions}).

    With `levels`, every class is limited to those modes as well (a cap on the weakest mode)."""
    classes = list(demand)
    counts = tuple(demand[c] for c in classes)
    configs = [vecs for mode, vecs in configurations(model, classes, counts)
               if levels is None or mode in levels or mode == "whole"]

    @lru_cache(maxsize=None)
    def best(rest: tuple[int, ...]) -> int:
        if not any(rest):
            return 0
        options = []
        for vecs in configs:
            for u in vecs:
                served = tuple(min(a, b) for a, b in zip(u, rest))
                if any(served):
                    options.append(best(tuple(a - b for a, b in zip(rest, served))))
        return 1 + min(options)

    return best(counts)


def fits_count(model: str, mode: str, replicas: int, cls) -> bool:
    """May a session of `cls` sit on a GPU of `mode` with `replicas` seats (whole: 1)?"""
    if mode == "whole":
        return replicas == 1
    return shared_fits(model, mode, replicas, cls)


def mig_layout_carries(model: str, layout: dict[str, int], count: int, sessions: dict) -> bool:
    """Can `count` GPUs of a MIG layout carry `sessions` ({class: n})? Hall's condition."""
    classes = list(sessions)
    for size in range(1, len(classes) + 1):
        for group in itertools.combinations(classes, size):
            need = sum(sessions[c] for c in group)
            have = count * sum(n for p, n in layout.items() if any(instance_fits(model, p, c) for c in group))
            if need > have:
                return False
    return True
