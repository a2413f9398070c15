"""Planner wall time for 10,000 mixed sessions on each model, and GPUs saved.

1. MIG profiles (the MIG packer, `pack`): sessions drawn (fixed seed) over each MIG model's
   profiles with weights 1/compute slices, since small slices are asked for most.
2. Mixed modes (the sharing planner, `plan_sharing`), on every model: 10,000 sessions drawn
   (fixed seed) over session classes asking memory (a fraction of the GPU's), sometimes a
   compute share, and each isolation level the model offers; a course-like mix of 8 classes and
   a random mix of up to 32. Target: under 0.1 s in-process per model (measured, not asserted).
3. Example courses: GPUs needed per mode side by side (whole vs time-slicing vs MPS vs MIG) and
   by the plan.
Prints numbers; asserts nothing.
"""
from __future__ import annotations

import random
import statistics
import sys
import time
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stacks.planner.geometry import FULL, MODELS  # noqa: E402
from stacks.planner.pack import pack  # noqa: E402
from stacks.planner.sharing import SessionClass, gpus_per_mode, modes, plan_sharing  # noqa: E402

SESSIONS = 10_000
RUNS = 5


def mixed_demand(model: str, rng: random.Random) -> dict[str, int]:
    gpu = MODELS[model]
    names = [p for p in gpu.profiles if p != FULL]
    weights = [1 / gpu.profile(p).compute for p in names]
    demand = dict.fromkeys(names, 0)
    for p in rng.choices(names, weights, k=SESSIONS):
        demand[p] += 1
    return {p: n for p, n in demand.items() if n}


# A course-like mix: (fraction of the GPU's memory, compute share, isolation asked, weight).
COURSE_MIX = [(1 / 10, None, "time-slicing", 3), (1 / 8, None, "mps", 3), (1 / 4, 0.25, "mps", 2),
              (1 / 8, None, "mig", 2), (1 / 4, None, "mig", 1), (1 / 2, None, "time-slicing", 1),
              (1, None, "whole", 0.5), (1 / 5, 0.2, "time-slicing", 1)]
RANDOM_MEMORY = [1 / 16, 1 / 8, 1 / 5, 1 / 4, 1 / 3, 1 / 2, 0.7, 1 / 10]
RANDOM_SHARE = [None, None, 0.2, None, 0.3, None, None, 0.1]


def gb(model: str, fraction: float) -> Fraction:
    """A fraction of the GPU's memory, to 0.1 GB."""
    return Fraction(round(MODELS[model].memory_gb * fraction * 10), 10)


def course_mix(model: str, rng: random.Random) -> dict[SessionClass, int]:
    offered = modes(model)
    classes = [SessionClass(gb(model, f), share, iso if iso in offered else "mps") for f, share, iso, _ in COURSE_MIX]
    demand: dict[SessionClass, int] = {}
    for cls in rng.choices(classes, [w for *_, w in COURSE_MIX], k=SESSIONS):
        demand[cls] = demand.get(cls, 0) + 1
    return demand


def random_mix(model: str, rng: random.Random) -> dict[SessionClass, int]:
    offered = modes(model)
    demand: dict[SessionClass, int] = {}
    for _ in range(SESSIONS):
        i = rng.randrange(len(RANDOM_MEMORY))
        cls = SessionClass(gb(model, RANDOM_MEMORY[i]), RANDOM_SHARE[i], rng.choice(offered))
        demand[cls] = demand.get(cls, 0) + 1
    return demand


def timed(model: str, demand: dict[SessionClass, int]):
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        plan = plan_sharing(model, demand)
        times.append(time.perf_counter() - start)
    return plan, times


def mixed_modes(rng: random.Random) -> None:
    print(f"\nmixed modes, {SESSIONS} sessions per model (plan_sharing; target < 0.1 s per model)")
    print(f"{'model':<11} {'mix':<7} {'classes':>7} {'first s':>8} {'median s':>8} {'GPUs':>6} {'bound':>6}  "
          f"GPUs per mode in the plan")
    for model in MODELS:
        for name, draw in (("course", course_mix), ("random", random_mix)):
            demand = draw(model, rng)
            plan, times = timed(model, demand)
            used = ", ".join(f"{mode} {n}" for mode, n in plan.modes.items())
            print(f"{model:<11} {name:<7} {len(demand):>7} {times[0]:>8.3f} {statistics.median(times):>8.3f} "
                  f"{plan.gpus:>6} {plan.lower_bound:>6}  {used}")


EXAMPLE_COURSES = [
    ("60 x 4 GB on T4", "T4", {SessionClass(4): 60}),
    ("60 x 5 GB on A100-40GB", "A100-40GB", {SessionClass(5): 60}),
    ("60 x 5 GB on A100-40GB, MIG asked", "A100-40GB", {SessionClass(5, None, "mig"): 60}),
    ("60 x 10 GB @ 1/4 compute on H100-80GB", "H100-80GB", {SessionClass(10, Fraction(1, 4)): 60}),
    ("T4 mix: 40x4gb, 20x8gb:mps, 5x16gb", "T4",
     {SessionClass(4): 40, SessionClass(8, None, "mps"): 20, SessionClass(16): 5}),
    ("A100-40GB mix: 30x5gb:mig, 20x10gb@0.25:mps, 10x3gb, 4x40gb:whole", "A100-40GB",
     {SessionClass(5, None, "mig"): 30, SessionClass(10, Fraction(1, 4), "mps"): 20, SessionClass(3): 10,
      SessionClass(40, None, "whole"): 4}),
]


def example_courses() -> None:
    print("\nexample courses: GPUs if every session ran in one mode (whatever it asked), and the plan")
    print(f"{'course':<66} {'whole':>6} {'t-s':>6} {'MPS':>6} {'MIG':>6} {'plan':>6}  plan's modes")
    for title, model, demand in EXAMPLE_COURSES:
        per = gpus_per_mode(model, demand)
        plan = plan_sharing(model, demand)
        cells = [per[m] if per[m] is not None else "-" for m in ("whole", "time-slicing", "mps", "mig")]
        used = ", ".join(f"{mode} {n}" for mode, n in plan.modes.items())
        seats = ", ".join(sorted({f"{l.mode} x{l.replicas}" for l in plan.layouts}))
        print(f"{title:<66} " + " ".join(f"{c:>6}" for c in cells) + f" {plan.gpus:>6}  {used} ({seats} seats/GPU)")


def main() -> None:
    import scipy.optimize  # noqa: F401  (import time is not planner time)

    rng = random.Random(2026)
    print(f"{'model':<11} {'first s':>8} {'median s':>8} {'GPUs':>6} {'bound':>6} {'uniform':>8} "
          f"{'whole':>6} {'saved':>6}  layouts")
    for model, gpu in MODELS.items():
        if not gpu.mig:
            continue
        demand = mixed_demand(model, rng)
        times = []
        for _ in range(RUNS):
            start = time.perf_counter()
            result = pack(model, demand)
            times.append(time.perf_counter() - start)
        print(f"{model:<11} {times[0]:>8.3f} {statistics.median(times):>8.3f} {result.gpus:>6} "
              f"{result.lower_bound:>6} {result.uniform_gpus:>8} {result.whole_gpus:>6} "
              f"{result.whole_gpus - result.gpus:>6}  {len(result.layouts)}")
        print(f"{'':<11} demand: " + ", ".join(f"{p}={n}" for p, n in demand.items()))
    mixed_modes(rng)
    example_courses()


if __name__ == "__main__":
    main()
