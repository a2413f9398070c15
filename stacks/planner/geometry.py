"""GPU models, their MIG profiles and placement rules, and every valid layout of one GPU.

Facts come from NVIDIA's MIG user guide (see shared reference `mig-geometry.md`): a GPU
instance occupies a contiguous run of memory slices starting at one of its profile's
allowed start slices, and instances on one GPU may not overlap. On top of that we enforce
that the compute slices of a layout add up to at most the model's compute slices (7, A30: 4).
With the reference placements that second rule never removes a layout (every instance that
can reach the eighth memory slice has fewer compute than memory slices), but it is the
hardware limit, so it is checked rather than assumed.

Every model also accepts the profile `full`: the whole GPU with MIG disabled (the only
profile of T4, V100, A10, L4 and L40S). It occupies every memory slice, so it never shares
a GPU with a MIG instance.

Each model also carries the facts GPU sharing through NVIDIA's device plugin needs
(`stacks.planner.sharing`): its nominal memory in GB (as MIG profile names count it: T4 16,
A100-40GB 40), its CUDA compute capability, and whether the plugin can share it with MPS.
MPS needs Volta (7.0) or later, so every model here has it; the plugin's MPS daemon allows
48 clients per GPU from compute capability 7.5 on and 16 below (V100 is 7.0), see
`cmd/mps-control-daemon/mps/device.go` in NVIDIA/k8s-device-plugin v0.17.4.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from stacks.errors import InputError, Problem

FULL = "full"
DEFAULT_PATH = "swan gpu pack"


@dataclass(frozen=True)
class Profile:
    """One MIG profile (or `full`): its size in compute and memory slices and where it may start."""

    name: str
    compute: int
    memory: int
    starts: tuple[int, ...]


@dataclass(frozen=True)
class GpuModel:
    """A GPU model: its slices and the profiles it can host, smallest first, `full` last."""

    name: str
    mig: bool
    compute_slices: int
    memory_slices: int
    geometry: tuple[Profile, ...]
    memory_gb: int = 0  # nominal memory, as the MIG profile names count it
    compute_capability: tuple[int, int] = (0, 0)
    mps: bool = False  # NVIDIA's device plugin can share it with MPS (Volta and later)

    @property
    def profiles(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.geometry)

    @property
    def mps_max_clients(self) -> int:
        """Most MPS clients (replicas) the device plugin's MPS daemon accepts per GPU: 48 from
        compute capability 7.5 on, else 16 (`maxClients` in the plugin's mps/device.go)."""
        return 48 if self.compute_capability >= (7, 5) else 16

    def profile(self, name: str) -> Profile:
        for p in self.geometry:
            if p.name == name:
                return p
        raise KeyError(name)


def _a100_like(name: str, sizes: tuple[str, str, str, str, str, str], memory_gb: int,
               cc: tuple[int, int]) -> GpuModel:
    """A100/H100/H200 share one geometry (8 memory slices, 7 compute); only the names differ."""
    one_small, one_large, two, three, four, seven = sizes
    return GpuModel(
        name=name, mig=True, compute_slices=7, memory_slices=8, memory_gb=memory_gb,
        compute_capability=cc, mps=True,
        geometry=(
            Profile(one_small, 1, 1, (0, 1, 2, 3, 4, 5, 6)),
            Profile(one_large, 1, 2, (0, 2, 4, 6)),
            Profile(two, 2, 2, (0, 2, 4)),
            Profile(three, 3, 4, (0, 4)),
            Profile(four, 4, 4, (0,)),
            Profile(seven, 7, 8, (0,)),
            Profile(FULL, 7, 8, (0,)),
        ),
    )


def _whole_only(name: str, memory_gb: int, cc: tuple[int, int]) -> GpuModel:
    return GpuModel(name=name, mig=False, compute_slices=1, memory_slices=1,
                    geometry=(Profile(FULL, 1, 1, (0,)),), memory_gb=memory_gb,
                    compute_capability=cc, mps=True)


MODELS: dict[str, GpuModel] = {
    m.name: m
    for m in (
        _a100_like("A100-40GB", ("1g.5gb", "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"), 40, (8, 0)),
        _a100_like("A100-80GB", ("1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"), 80, (8, 0)),
        _a100_like("H100-80GB", ("1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"), 80, (9, 0)),
        _a100_like("H200-141GB", ("1g.18gb", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb"), 141, (9, 0)),
        GpuModel(
            name="A30-24GB", mig=True, compute_slices=4, memory_slices=4, memory_gb=24,
            compute_capability=(8, 0), mps=True,
            geometry=(
                Profile("1g.6gb", 1, 1, (0, 1, 2, 3)),
                Profile("2g.12gb", 2, 2, (0, 2)),
                Profile("4g.24gb", 4, 4, (0,)),
                Profile(FULL, 4, 4, (0,)),
            ),
        ),
        _whole_only("T4", 16, (7, 5)),
        _whole_only("V100", 16, (7, 0)),  # the 16 GB V100 (SXM2/PCIe), as gpu_flavours.GFD has it
        _whole_only("A10", 24, (8, 6)),
        _whole_only("L4", 24, (8, 9)),
        _whole_only("L40S", 48, (8, 9)),
    )
}


def canonical_model(name: str, *, path: str = DEFAULT_PATH, key: str = "--gpu") -> str:
    """The canonical spelling of a GPU model name (matched case-insensitively)."""
    for canonical in MODELS:
        if canonical.lower() == str(name).strip().lower():
            return canonical
    raise InputError(Problem(path, key, f"unknown GPU model {name!r}; valid models: {', '.join(MODELS)}"))


def check_demand(model: str, demand: dict[str, int], *, path: str = DEFAULT_PATH,
                 key: str = "--demand") -> dict[str, int]:
    """Validate a demand (profile -> positive integer count); return it in the model's profile order.

    Every problem is reported at once; profile names are matched case-insensitively.
    """
    gpu = MODELS[canonical_model(model, path=path)]
    lookup = {p.lower(): p for p in gpu.profiles}
    problems: list[Problem] = []
    total: dict[str, int] = {}
    if not demand:
        problems.append(Problem(path, key, "no demand given; expected PROFILE=N"))
    for raw, count in demand.items():
        profile = lookup.get(str(raw).strip().lower())
        if profile is None:
            problems.append(Problem(path, key, f"profile {raw!r} cannot run on {gpu.name}; "
                                               f"its profiles are: {', '.join(gpu.profiles)}"))
            continue
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            problems.append(Problem(path, key, f"count for {profile} must be a positive integer, got {count!r}"))
            continue
        total[profile] = total.get(profile, 0) + count
    if problems:
        raise InputError(problems)
    return {p: total[p] for p in gpu.profiles if p in total}


MAX_SESSIONS = 10_000  # per profile on the command line: beyond any course, and the solver stays fast


def parse_count(item: str, count: str, *, path: str = DEFAULT_PATH, key: str = "--demand") -> int | Problem:
    """The N of a `--demand` item: ASCII digits, 1 to MAX_SESSIONS; else the Problem to report."""
    shown = item if len(item) <= 60 else item[:57] + "..."
    if not (count.isascii() and count.isdigit()) or not count.strip("0"):
        return Problem(path, key, f"{shown!r}: count must be a positive integer (1 to {MAX_SESSIONS}, "
                                  f"digits 0-9), got {count if len(count) <= 20 else count[:17] + '...'!r}")
    if len(count.lstrip("0")) > len(str(MAX_SESSIONS)) or int(count) > MAX_SESSIONS:  # no int() of 5000 digits
        return Problem(path, key, f"{shown!r}: at most {MAX_SESSIONS} sessions per profile")
    return int(count)


def parse_demand(items: list[str], *, model: str | None = None, path: str = DEFAULT_PATH,
                 key: str = "--demand") -> dict[str, int]:
    """Parse `PROFILE=N` strings into a demand; a profile given twice is summed.

    N is written in ASCII digits, 1 to MAX_SESSIONS per profile. With `model`, profiles are
    checked too, so every problem is reported in one go.
    """
    problems: list[Problem] = []
    demand: dict[str, int] = {}
    for item in items:
        profile, sep, count = item.partition("=")
        profile, count = profile.strip(), count.strip()
        if not sep or not profile or not count:
            problems.append(Problem(path, key, f"{item!r} is not PROFILE=N (for example 1g.5gb=10)"))
            continue
        n = parse_count(item, count, path=path, key=key)
        if isinstance(n, Problem):
            problems.append(n)
            continue
        demand[profile] = demand.get(profile, 0) + n
    for profile, count in demand.items():
        if count > MAX_SESSIONS:
            problems.append(Problem(path, key, f"{profile}: {count} sessions in all; at most {MAX_SESSIONS} "
                                               "per profile"))
    if model is not None and demand:
        try:
            demand = check_demand(model, demand, path=path, key=key)
        except InputError as exc:
            problems += exc.problems
    if problems:
        raise InputError(problems)
    return demand


def placement(model: str, layout: dict[str, int]) -> list[tuple[str, int]] | None:
    """Start slices for every instance of `layout` with no overlap, or None if there are none."""
    gpu = MODELS[model]
    if sum(gpu.profile(p).compute * n for p, n in layout.items()) > gpu.compute_slices:
        return None
    # Place big instances first: they have the fewest starts, so dead ends show up early.
    todo = sorted((gpu.profile(p) for p, n in layout.items() for _ in range(n)),
                  key=lambda p: (-p.memory, len(p.starts), p.name))
    chosen: list[tuple[str, int]] = []

    def place(i: int, used: int) -> bool:
        if i == len(todo):
            return True
        prof = todo[i]
        for start in prof.starts:
            mask = ((1 << prof.memory) - 1) << start
            if start + prof.memory <= gpu.memory_slices and not used & mask:
                chosen.append((prof.name, start))
                if place(i + 1, used | mask):
                    return True
                chosen.pop()
        return False

    return sorted(chosen, key=lambda c: (c[1], c[0])) if place(0, 0) else None


@lru_cache(maxsize=None)
def layout_vectors(model: str) -> tuple[tuple[int, ...], ...]:
    """Every valid non-empty layout as a count vector in profile order (found by walking placements)."""
    gpu = MODELS[model]
    slots = [(i, p, s) for i, p in enumerate(gpu.geometry) for s in p.starts
             if s + p.memory <= gpu.memory_slices]
    found: set[tuple[int, ...]] = set()

    def walk(k: int, used: int, compute: int, counts: list[int]) -> None:
        if any(counts):
            found.add(tuple(counts))
        for j in range(k, len(slots)):
            i, prof, start = slots[j]
            mask = ((1 << prof.memory) - 1) << start
            if used & mask or compute + prof.compute > gpu.compute_slices:
                continue
            counts[i] += 1
            walk(j + 1, used | mask, compute + prof.compute, counts)
            counts[i] -= 1

    walk(0, 0, 0, [0] * len(gpu.geometry))
    # Bigger layouts first (more instances of larger profiles), then by the counts themselves.
    return tuple(sorted(found, key=lambda c: tuple(-x for x in reversed(c))))


def as_dict(model: str, counts: tuple[int, ...]) -> dict[str, int]:
    """A count vector in profile order as {profile: count}, zero counts left out."""
    return {p: n for p, n in zip(MODELS[model].profiles, counts) if n}


def valid_layouts(model: str) -> list[dict[str, int]]:
    """Every valid non-empty layout of one GPU of `model`, in a fixed order."""
    model = canonical_model(model)
    return [as_dict(model, c) for c in layout_vectors(model)]


def max_per_gpu(model: str, profile: str) -> int:
    """How many instances of `profile` fit on one GPU: the size of NVIDIA's uniform `all-<profile>`."""
    i = MODELS[model].profiles.index(profile)
    return max(c[i] for c in layout_vectors(model))


def profile_gb(model: str, profile: str) -> int:
    """Nominal memory of a profile in GB, from its name (`1g.5gb` -> 5); `full` is the whole GPU."""
    gpu = MODELS[model]
    if profile == FULL:
        return gpu.memory_gb
    gpu.profile(profile)  # KeyError for a profile the model does not have
    return int(profile.rsplit(".", 1)[1].removesuffix("gb"))
