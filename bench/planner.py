"""Planner wall time for 10,000 mixed sessions on each MIG model, and GPUs saved.

Sessions are drawn (fixed seed) over each model's MIG profiles with weights 1/compute
slices, since small slices are asked for most. Prints numbers; asserts nothing.
"""
from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stacks.planner.geometry import FULL, MODELS  # noqa: E402
from stacks.planner.pack import pack  # noqa: E402

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


if __name__ == "__main__":
    main()
