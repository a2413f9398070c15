"""The exact GPU packer: the fewest GPUs of one model whose MIG layouts cover a demand.

Integer programming over layouts (a cutting-stock model): one integer variable per
candidate layout counts the GPUs configured with it; every profile's supply must reach its
demand; minimise the number of GPUs. HiGHS (through scipy.optimize.milp) solves it to a
zero optimality gap, so `gpus` is the true minimum.

Candidates are the maximal valid layouts built only from demanded profiles. This loses
nothing: dropping an instance from a valid layout leaves a valid layout, so any optimal
plan can be rewritten with these candidates. The spare instances a maximal layout carries
are of demanded profiles, so they are real extra seats; we keep them.

Which optimal plan comes out is left to the solver: HiGHS is deterministic, so the same
input gives the same plan, and layouts are sorted (most GPUs first). A second program
picking the plan with the fewest distinct layouts was tried and dropped: it took about a
second on 10,000 sessions and rarely changed the answer (a basic solution already uses
few layouts; a single-profile demand always gets the one uniform layout).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from stacks.planner import geometry
from stacks.planner.geometry import DEFAULT_PATH, MODELS


@dataclass(frozen=True)
class PackResult:
    """A plan: how many GPUs of `gpu`, configured with which layouts, for which demand."""

    gpu: str
    demand: dict[str, int]
    gpus: int
    lower_bound: int
    layouts: list[tuple[int, dict[str, int]]]
    whole_gpus: int = field(default=0)
    uniform_gpus: int = field(default=0)

    @property
    def supply(self) -> dict[str, int]:
        """Instances of each profile the plan provides."""
        total: dict[str, int] = {}
        for count, layout in self.layouts:
            for profile, n in layout.items():
                total[profile] = total.get(profile, 0) + count * n
        return {p: total[p] for p in MODELS[self.gpu].profiles if p in total}

    @property
    def spare(self) -> dict[str, int]:
        """Instances provided beyond the demand (usable by extra sessions)."""
        return {p: n - self.demand.get(p, 0) for p, n in self.supply.items() if n > self.demand.get(p, 0)}

    @property
    def mig_parted(self) -> dict:
        from stacks.planner.mig_parted import plan_config

        return plan_config(self.gpu, self.layouts)

    def to_json(self) -> dict:
        """The `swan gpu pack --json` document (see DESIGN.md)."""
        return {
            "gpu": self.gpu,
            "gpus": self.gpus,
            "lower_bound": self.lower_bound,
            "layouts": [{"count": c, "mig_devices": dict(l)} for c, l in self.layouts],
            "mig_parted": self.mig_parted,
        }


def whole_gpu_count(demand: dict[str, int]) -> int:
    """GPUs needed when every session gets a whole GPU."""
    return sum(demand.values())


def uniform_layout_count(model: str, demand: dict[str, int]) -> int:
    """GPUs needed with NVIDIA's uniform `all-<profile>` layouts: one profile per GPU."""
    model = geometry.canonical_model(model)
    return sum(math.ceil(n / geometry.max_per_gpu(model, p)) for p, n in demand.items())


def candidate_layouts(model: str, profiles: list[str]) -> list[tuple[int, ...]]:
    """Maximal valid layouts using only `profiles`, as count vectors in the order of `profiles`."""
    index = [MODELS[model].profiles.index(p) for p in profiles]
    projected = {tuple(c[i] for i in index) for c in geometry.layout_vectors(model)}
    projected.discard(tuple(0 for _ in profiles))

    def dominated(v: tuple[int, ...]) -> bool:
        return any(w != v and all(a >= b for a, b in zip(w, v)) for w in projected)

    return sorted((v for v in projected if not dominated(v)), reverse=True)


def lower_bound(model: str, demand: dict[str, int]) -> int:
    """A bound no plan can beat: the rounded-up LP relaxation, and the compute-slice total."""
    import numpy as np
    from scipy.optimize import linprog

    model = geometry.canonical_model(model)
    gpu = MODELS[model]
    profiles = list(demand)
    compute = sum(gpu.profile(p).compute * n for p, n in demand.items())
    bound = math.ceil(compute / gpu.compute_slices)
    cands = candidate_layouts(model, profiles)
    a = np.array(cands, dtype=float).T
    d = np.array([demand[p] for p in profiles], dtype=float)
    lp = linprog(np.ones(len(cands)), A_ub=-a, b_ub=-d, bounds=(0, None), method="highs")
    if lp.status == 0:
        bound = max(bound, math.ceil(lp.fun - 1e-6))
    return bound


def _solve(model: str, profiles: list[str], demand: list[int]) -> list[tuple[int, tuple[int, ...]]]:
    """Minimum GPUs; returns (count, count vector) pairs."""
    import numpy as np
    from scipy.optimize import Bounds, LinearConstraint, milp

    cands = candidate_layouts(model, profiles)
    n = len(cands)
    a = np.array(cands, dtype=float).T
    d = np.array(demand, dtype=float)
    res = milp(np.ones(n), constraints=[LinearConstraint(a, lb=d)], integrality=np.ones(n),
               bounds=Bounds(0, np.inf), options={"mip_rel_gap": 0.0})
    if res.status != 0:  # cannot happen for a validated demand: one GPU per instance is feasible
        raise RuntimeError(f"MILP solver failed on {model} {dict(zip(profiles, demand))}: {res.message}")
    x = np.rint(res.x).astype(int)
    return [(int(k), cands[i]) for i, k in enumerate(x) if k > 0]


def pack(model: str, demand: dict[str, int], *, path: str = DEFAULT_PATH,
         gpu_key: str = "--gpu", demand_key: str = "--demand") -> PackResult:
    """The fewest GPUs of `model` whose layouts cover `demand` (profile -> sessions).

    Bad input raises InputError with Problems at `path` and `gpu_key`/`demand_key`, so a
    caller reading a config file can point at its own file and keys.
    """
    model = geometry.canonical_model(model, path=path, key=gpu_key)
    demand = geometry.check_demand(model, demand, path=path, key=demand_key)
    profiles = list(demand)
    plan = _solve(model, profiles, [demand[p] for p in profiles])
    order = MODELS[model].profiles
    layouts = [
        (count, {p: k for p, k in sorted(zip(profiles, vec), key=lambda pk: order.index(pk[0])) if k})
        for count, vec in plan
    ]
    layouts.sort(key=lambda cl: (-cl[0], [-cl[1].get(p, 0) for p in reversed(order)]))
    return PackResult(
        gpu=model,
        demand=demand,
        gpus=sum(c for c, _ in layouts),
        lower_bound=lower_bound(model, demand),
        layouts=layouts,
        whole_gpus=whole_gpu_count(demand),
        uniform_gpus=uniform_layout_count(model, demand),
    )
