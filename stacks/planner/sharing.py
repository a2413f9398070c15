"""GPU sharing modes beside MIG: whole GPUs, MIG, MPS and time-slicing, planned exactly.

A session class asks for GPU memory (nominal GB, as MIG profile names count it: a T4 has 16,
an A100-40GB 40), optionally a minimum compute share (a fraction of the GPU), and an isolation
level. Levels, strongest first:

- `whole`: a GPU of its own (MIG disabled).
- `mig`: a MIG partition (MIG models only): the smallest profile with enough memory and with
  compute slices / the model's compute slices at least the share asked.
- `mps`: NVIDIA's device plugin shares a GPU with MPS: each of its `replicas` clients gets
  memory limit = GPU memory / replicas and active thread percentage 100 // replicas (both
  enforced by the MPS control daemon).
- `time-slicing`: the device plugin hands `replicas` references to a GPU; nothing is enforced.
  We still size it so the sessions fit in memory (and, if they ask one, their compute share
  fits: replicas x share <= 1).

A class accepts every mode at least as isolated as it asks (`time-slicing` accepts all four,
`mps` accepts mps, mig, whole, `mig` accepts mig and whole, `whole` only whole). On one GPU,
sharing puts at most `max_replicas` sessions of a class: floor(GPU memory / memory asked), for
MPS also at most the plugin's MPS client limit (48, 16 below compute capability 7.5) and
100 // replicas >= the share asked in percent; for time-slicing replicas x share <= 1. The plugin
refuses fewer than 2 replicas, so a class that cannot be shared twice on one GPU gets a whole
GPU (or MIG) instead.

Exactness. Each GPU runs exactly one mode. One integer program (HiGHS through
scipy.optimize.milp, zero gap, like pack.py) covers every mode at once:
- x[c, k]: sessions of class c placed in mode k (only modes c accepts); they sum to c's demand.
- whole: w GPUs, one session each. Only classes with no other usable mode need them for the
  count: a session alone on a GPU may as well sit alone on a 2-replica GPU or a MIG instance.
- sharing (MPS, time-slicing): y[k, r] GPUs configured with r replicas. A class with at most R
  replicas may sit on any GPU of r <= R replicas: the classes' sets of usable GPUs are nested,
  so by Hall's theorem the sessions fit exactly when, for every threshold t, the sessions of
  classes with R <= t are at most the seats of GPUs with r <= t. Only r equal to some class's R
  is needed: a GPU of r replicas serves the same classes as one of the next R >= r, with fewer
  seats.
- MIG: sessions become instances of their profile, then pack.py's cutting-stock model (maximal
  layouts of the profiles used). Taking the smallest qualifying profile loses nothing: in every
  catalog model it has no more compute or memory slices than any other qualifying profile and
  at least all of its start slices, so it can take that profile's place in any layout (the
  tests check this on the catalog).
Only the GPU counts are integer variables: for fixed GPU counts, placing the sessions is a
network flow, so an integer placement exists (and is checked). The objective is the number of
GPUs, so the plan's count is the proven minimum; `lower_bound` is the rounded-up LP relaxation.
Among the plans with that count, the weakest mode used is made as strong as possible (caps
tried strongest first, see `_solve`): a tie between MPS and MIG goes to MIG, between MPS and
time-slicing to MPS, and sessions that need a GPU each anyway get whole GPUs.

The device plugin (verified against NVIDIA/k8s-device-plugin v0.17.4):
- Config file format, `api/config/v1/config.go`, `sharing.go`, `replicas.go`: `version: v1`,
  `sharing: {timeSlicing|mps: {renameByDefault, failRequestsGreaterThanOne, resources: [{name,
  replicas}]}}`; `replicas` must be >= 2 ("number of replicas must be >= 2"), `devices` and
  `rename` in a sharing resource are ignored (the whole node is shared alike), MPS forces
  `failRequestsGreaterThanOne: true` (config.go); with `renameByDefault: true` the resource
  would be `<name>.shared` (`DefaultSharedResourceNameSuffix` in consts.go), so with `false` it
  stays `nvidia.com/gpu`.
- One config applies to a whole node: the plugin reads the config named by the node label
  `nvidia.com/device-plugin.config` (README, "Updating Per-Node Configuration With a Node
  Label"); so each layout here has one named config (`ts-4`, `mps-4`), plus `default` (no
  sharing) for whole-GPU and MIG nodes.
- MPS and MIG never mix: `internal/plugin/mps.go` refuses MPS on MIG devices ("sharing using
  MPS is not supported for MIG devices") and `cmd/nvidia-device-plugin/main.go` refuses MPS
  with `--mig-strategy=mixed`: an MPS node needs the `none` or `single` strategy on that node.
- MPS limits (`cmd/mps-control-daemon/mps/daemon.go`): pinned device memory per client =
  total memory / replicas; active thread percentage = 100 / replicas (integer division). At
  most 48 clients per GPU, 16 below compute capability 7.5 (`mps/device.go`, `maxClients`:
  its "at least Volta" test compares with 7.5, so a V100, 7.0, gets 16).
  Memory here is nominal (as MIG names are): a T4 reports 15360 MiB, so mps-4 gives 3840 MiB.
- GPU feature discovery labels a shared node `nvidia.com/gpu.replicas=<r>`,
  `nvidia.com/gpu.sharing-strategy=mps|time-slicing` and `nvidia.com/gpu.product=<...>-SHARED`
  (`internal/lm/resource.go`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterable, Mapping

from stacks.errors import InputError, Problem
from stacks.planner import geometry
from stacks.planner.geometry import DEFAULT_PATH, FULL, MODELS

WHOLE, MIG, MPS, TIME_SLICING = "whole", "mig", "mps", "time-slicing"
ISOLATION = (WHOLE, MIG, MPS, TIME_SLICING)  # strongest first
SHARED_MODES = (MPS, TIME_SLICING)
RANK = {mode: i for i, mode in enumerate(ISOLATION)}  # 0 = strongest

GPU_RESOURCE = "nvidia.com/gpu"
DEVICE_PLUGIN_LABEL = "nvidia.com/device-plugin.config"
MIG_CONFIG_LABEL = "nvidia.com/mig.config"
DEFAULT_CONFIG = "default"  # the plugin's config for nodes without sharing (whole GPUs, MIG)
CONFIG_PREFIX = {MPS: "mps", TIME_SLICING: "ts"}
PLUGIN_KEY = {MPS: "mps", TIME_SLICING: "timeSlicing"}
MIN_REPLICAS = 2  # api/config/v1/replicas.go: "number of replicas must be >= 2"


def _fraction(value) -> Fraction:
    """An exact number: floats through their shortest decimal (0.1 is 1/10, not 0.1000000000000000055)."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, float):
        return Fraction(repr(value))
    return Fraction(value)


def decimal(value: Fraction) -> str:
    """A number as short decimal text: 4, 2.5, 0.25 (a/b if it has no short decimal)."""
    if value.denominator == 1:
        return str(value.numerator)
    for digits in range(1, 7):
        scaled = value * 10 ** digits
        if scaled.denominator == 1:
            return f"{float(value):.{digits}f}"
    return f"{value.numerator}/{value.denominator}"


@dataclass(frozen=True)
class SessionClass:
    """What one kind of session asks for: GPU memory in GB, a minimum compute share (or None),
    the weakest isolation it accepts, and, for a session asking a MIG profile by name, that
    profile (`full` for a whole GPU)."""

    memory_gb: Fraction
    compute: Fraction | None = None
    isolation: str = TIME_SLICING
    profile: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "memory_gb", _fraction(self.memory_gb))
        if self.compute is not None:
            object.__setattr__(self, "compute", _fraction(self.compute))

    @classmethod
    def for_profile(cls, model: str, profile: str) -> SessionClass:
        """A session asking for one MIG profile by name (isolation mig), or `full` (whole)."""
        gpu = MODELS[model]
        if profile == FULL:
            return cls(gpu.memory_gb, None, WHOLE, FULL)
        prof = gpu.profile(profile)
        return cls(geometry.profile_gb(model, profile), Fraction(prof.compute, gpu.compute_slices), MIG, profile)

    @property
    def label(self) -> str:
        """`4gb:mps`, `4gb@0.25:time-slicing`, or the profile name (`1g.5gb`, `full`)."""
        if self.profile is not None:
            return self.profile
        share = f"@{decimal(self.compute)}" if self.compute is not None else ""
        return f"{decimal(self.memory_gb)}gb{share}:{self.isolation}"

    def accepts(self) -> tuple[str, ...]:
        """Modes this class accepts: its isolation and every stronger one."""
        return ISOLATION[:ISOLATION.index(self.isolation) + 1]


def modes(model: str) -> tuple[str, ...]:
    """Isolation levels one GPU of `model` can give, strongest first."""
    gpu = MODELS[geometry.canonical_model(model)]
    return tuple(m for m in ISOLATION if (m != MIG or gpu.mig) and (m != MPS or gpu.mps))


def max_replicas(model: str, cls: SessionClass, mode: str) -> int:
    """The most sessions of `cls` one GPU shared with `mode` may carry (1 for whole GPUs).

    Below MIN_REPLICAS the mode cannot share a GPU for this class at all.
    """
    gpu = MODELS[model]
    if mode == WHOLE:
        return 1
    r = math.floor(Fraction(gpu.memory_gb) / cls.memory_gb)
    if mode == MPS:
        r = min(r, gpu.mps_max_clients)
        if cls.compute is not None:  # enforced active thread percentage 100 // r must reach the share
            r = min(r, 100 // math.ceil(cls.compute * 100))
    elif mode == TIME_SLICING:
        if cls.compute is not None:
            r = min(r, math.floor(1 / cls.compute))
    else:
        raise ValueError(f"{mode!r} is not a sharing mode")
    return r


def mig_profile(model: str, cls: SessionClass) -> str | None:
    """The MIG profile a session of `cls` gets: its own, else the smallest with enough memory and
    compute (None on a model without MIG)."""
    gpu = MODELS[model]
    if not gpu.mig:
        return None
    if cls.profile is not None and cls.profile != FULL:
        return cls.profile
    for prof in gpu.geometry:
        if prof.name == FULL:
            continue
        if (geometry.profile_gb(model, prof.name) >= cls.memory_gb
                and (cls.compute is None or Fraction(prof.compute, gpu.compute_slices) >= cls.compute)):
            return prof.name
    return None


def usable_modes(model: str, cls: SessionClass, allowed: Iterable[str] | None = None) -> tuple[str, ...]:
    """Modes that can really place a session of `cls` on `model` (accepted and possible)."""
    wanted = cls.accepts() if allowed is None else tuple(allowed)
    out = []
    for mode in modes(model):
        if mode not in wanted:
            continue
        if mode in SHARED_MODES and max_replicas(model, cls, mode) < MIN_REPLICAS:
            continue
        if mode == MIG and mig_profile(model, cls) is None:
            continue
        out.append(mode)
    return tuple(out)


# -- results ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SharedLayout:
    """`count` GPUs of one configuration: a mode, its seats per GPU and the sessions placed on them.

    `replicas` is the seats per GPU: the device plugin's replicas for MPS and time-slicing, the
    number of MIG instances for MIG, 1 for a whole GPU. `mig_devices` is the GPU's mig-parted
    layout (`{"full": 1}`, MIG disabled, for whole and shared GPUs). `sessions` counts the
    sessions of each class (by label) over all `count` GPUs.
    """

    model: str
    mode: str
    count: int
    replicas: int
    mig_devices: dict[str, int]
    sessions: dict[str, int]

    @property
    def seats(self) -> int:
        """Seats over all `count` GPUs."""
        return self.count * self.replicas

    @property
    def spare(self) -> int:
        return self.seats - sum(self.sessions.values())

    @property
    def device_plugin_config(self) -> str:
        """The value of `nvidia.com/device-plugin.config` for these GPUs' nodes."""
        if self.mode in SHARED_MODES:
            return f"{CONFIG_PREFIX[self.mode]}-{self.replicas}"
        return DEFAULT_CONFIG

    @property
    def mig_config(self) -> str:
        """The value of `nvidia.com/mig.config` for these GPUs' nodes (`all-disabled` unless MIG)."""
        from stacks.planner.mig_parted import layout_name

        return layout_name(self.model, self.mig_devices)

    @property
    def node_labels(self) -> dict[str, str]:
        return {MIG_CONFIG_LABEL: self.mig_config, DEVICE_PLUGIN_LABEL: self.device_plugin_config}

    @property
    def resources(self) -> dict[str, int]:
        """Extended resources one GPU of this layout gives (allocatable per GPU): `nvidia.com/gpu`
        x replicas when shared (renameByDefault false), one `nvidia.com/gpu` when whole, and
        `nvidia.com/mig-<profile>` per instance with MIG (the gpu-operator's mixed strategy)."""
        if self.mode == MIG:
            return {f"nvidia.com/mig-{p}": n for p, n in self.mig_devices.items()}
        return {GPU_RESOURCE: self.replicas}

    def to_json(self) -> dict:
        return {
            "count": self.count,
            "sharing": self.mode,
            "replicas": self.replicas,
            "mig_devices": dict(self.mig_devices),
            "sessions": dict(self.sessions),
            "resources": self.resources,
            "node_labels": self.node_labels,
        }


def device_plugin_config(mode: str, replicas: int) -> dict:
    """One NVIDIA device-plugin v1 config file sharing every GPU of a node `replicas` ways."""
    if mode not in SHARED_MODES or replicas < MIN_REPLICAS:
        raise ValueError(f"no device-plugin sharing config for {mode} x {replicas}")
    return {
        "version": "v1",
        "sharing": {PLUGIN_KEY[mode]: {
            "renameByDefault": False,
            "failRequestsGreaterThanOne": True,
            "resources": [{"name": GPU_RESOURCE, "replicas": replicas}],
        }},
    }


@dataclass(frozen=True)
class SharingPlan:
    """A plan over every sharing mode: the fewest GPUs of `gpu` for `demand` (class -> sessions)."""

    gpu: str
    demand: dict[SessionClass, int]
    gpus: int
    lower_bound: int
    layouts: list[SharedLayout]
    per_mode: dict[str, int | None] = field(default_factory=dict)

    @property
    def modes(self) -> dict[str, int]:
        """GPUs in each mode the plan uses, strongest first."""
        out: dict[str, int] = {}
        for layout in self.layouts:
            out[layout.mode] = out.get(layout.mode, 0) + layout.count
        return {m: out[m] for m in ISOLATION if m in out}

    @property
    def sharing(self) -> str:
        """The plan's mode, or `mixed` when it uses several."""
        used = list(self.modes)
        return used[0] if len(used) == 1 else "mixed"

    @property
    def device_plugin(self) -> dict[str, dict]:
        """The device plugin's configs by name (the ConfigMap's keys): `default` plus one per shared layout."""
        configs: dict[str, dict] = {DEFAULT_CONFIG: {"version": "v1"}}
        for layout in self.layouts:
            if layout.mode in SHARED_MODES:
                configs[layout.device_plugin_config] = device_plugin_config(layout.mode, layout.replicas)
        return configs

    @property
    def mig_parted(self) -> dict:
        """The mig-parted config: whole and shared GPUs are MIG-disabled (`all-disabled`)."""
        from stacks.planner.mig_parted import plan_config

        merged: dict[tuple, int] = {}
        for layout in self.layouts:
            key = tuple(layout.mig_devices.items())
            merged[key] = merged.get(key, 0) + layout.count
        return plan_config(self.gpu, [(count, dict(key)) for key, count in merged.items()])

    def to_json(self) -> dict:
        doc = {
            "gpu": self.gpu,
            "gpus": self.gpus,
            "lower_bound": self.lower_bound,
            "sharing": self.sharing,
            "modes": self.modes,
            "layouts": [layout.to_json() for layout in self.layouts],
            "mig_parted": self.mig_parted,
            "device_plugin": self.device_plugin,
        }
        if self.per_mode:
            doc["gpus_per_mode"] = dict(self.per_mode)
        return doc


# -- input ------------------------------------------------------------------------------------------

def check_sharing_demand(model: str, demand: Mapping[SessionClass, int], *, path: str = DEFAULT_PATH,
                         gpu_key: str = "--gpu", demand_key: str = "--demand", sharing_key: str = "--sharing",
                         isolation_keys: Mapping[SessionClass, str] | None = None,
                         ) -> tuple[str, dict[SessionClass, int]]:
    """Validate a demand (session class -> positive count) for `model`; every problem at once.

    A problem with a class's isolation is reported at `sharing_key`, or at the class's own key
    in `isolation_keys` (a command line naming the isolation inside a `--demand` item)."""
    model = geometry.canonical_model(model, path=path, key=gpu_key)
    gpu = MODELS[model]
    offered = modes(model)
    problems: list[Problem] = []
    if not demand:
        problems.append(Problem(path, demand_key, "no demand given; expected MEMORYgb=N or PROFILE=N"))
    seen_isolation: set[tuple[str, str]] = set()
    out: dict[SessionClass, int] = {}
    for cls, count in demand.items():
        if not isinstance(cls, SessionClass):
            problems.append(Problem(path, demand_key, f"{cls!r} is not a session class"))
            continue
        name = cls.label
        iso_key = (isolation_keys or {}).get(cls, sharing_key)
        if cls.isolation not in ISOLATION:
            problems.append(Problem(path, iso_key, f"unknown isolation {cls.isolation!r}; "
                                                   f"one of: {', '.join(ISOLATION)}"))
            continue
        if cls.profile is not None and cls.profile not in gpu.profiles:
            problems.append(Problem(path, demand_key, f"profile {cls.profile!r} cannot run on {model}; "
                                                      f"its profiles are: {', '.join(gpu.profiles)}"))
            continue
        if cls.memory_gb <= 0:
            problems.append(Problem(path, demand_key, f"{name}: GPU memory must be more than 0 GB"))
        elif cls.memory_gb > gpu.memory_gb:
            problems.append(Problem(path, demand_key, f"{name}: asks {decimal(cls.memory_gb)} GB of GPU memory; "
                                                      f"one {model} has {gpu.memory_gb} GB"))
        if cls.compute is not None and not 0 < cls.compute <= 1:
            problems.append(Problem(path, demand_key, f"{name}: compute share must be more than 0 and at most 1 "
                                                      f"(a fraction of one GPU), got {decimal(cls.compute)}"))
        if cls.isolation not in offered and (iso_key, cls.isolation) not in seen_isolation:
            seen_isolation.add((iso_key, cls.isolation))
            why = "it has no MIG" if cls.isolation == MIG else "the device plugin cannot share it with MPS"
            problems.append(Problem(path, iso_key, f"{model} cannot give {cls.isolation} isolation ({why}); "
                                                   f"it offers: {', '.join(offered)}"))
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            problems.append(Problem(path, demand_key, f"count for {name} must be a positive integer, got {count!r}"))
            continue
        out[cls] = out.get(cls, 0) + count
    if problems:
        raise InputError(problems)
    return model, out


def is_memory_item(item: str) -> bool:
    """Does a `--demand` item ask for memory (`4gb=...`) rather than a MIG profile (`1g.5gb=...`)?"""
    head = item.partition("=")[0].strip().lower()
    number = head.partition("gb")[0]
    return "gb" in head and bool(number) and number.replace(".", "", 1).isdigit() and number.isascii()


def _parse_share(text: str) -> Fraction | None:
    percent = text.endswith("%")
    number = text[:-1] if percent else text
    if not number or not number.isascii() or not number.replace(".", "", 1).isdigit() or len(number) > 12:
        return None
    value = Fraction(number)
    return value / 100 if percent else value


def parse_memory_class(head: str, isolation: str, *, path: str = DEFAULT_PATH,
                       key: str = "--demand") -> SessionClass:
    """`4gb`, `4gb@0.25`, `2.5gb@25%:mps` -> a SessionClass (isolation from the suffix, else `isolation`)."""
    text = head.strip().lower()
    spec, colon, own = text.partition(":")
    memory, at, share = spec.partition("@")
    shown = head if len(head) <= 40 else head[:37] + "..."
    number = memory.removesuffix("gb")
    if not memory.endswith("gb") or not number or len(number) > 12 or not number.isascii() \
            or not number.replace(".", "", 1).isdigit():
        raise InputError(Problem(path, key, f"{shown!r}: memory must be a number of GB like 4gb or 2.5gb"))
    compute = None
    if at:
        compute = _parse_share(share.strip())
        if compute is None:
            raise InputError(Problem(path, key, f"{shown!r}: compute share must be a fraction like @0.25 or "
                                                f"a percentage like @25%"))
    if colon:
        isolation = own.strip()
        if isolation not in ISOLATION:
            raise InputError(Problem(path, key, f"{shown!r}: unknown isolation {isolation!r}; "
                                                f"one of: {', '.join(ISOLATION)}"))
    return SessionClass(Fraction(number), compute, isolation)


def parse_sharing_demand(items: list[str], *, model: str | None, sharing: str | None,
                         path: str = DEFAULT_PATH, key: str = "--demand",
                         sharing_key: str = "--sharing") -> dict[SessionClass, int]:
    """Parse `--demand` items for the sharing planner; every problem at once.

    `MEMORYgb[@SHARE][:ISOLATION]=N` is a memory class (isolation from the item, else `sharing`,
    else time-slicing: any mode). `PROFILE=N` asks for that MIG profile (isolation mig; `full`
    is a whole GPU), whatever `sharing` says. N is 1 to MAX_SESSIONS per class. Without `model`
    (an unknown --gpu, reported by the caller) profiles and memory limits are not checked.
    """
    problems: list[Problem] = []
    isolation = TIME_SLICING
    if sharing is not None:
        asked = sharing.strip().lower()
        if asked in ISOLATION:
            isolation = asked
        else:
            problems.append(Problem(path, sharing_key, f"unknown isolation {sharing!r}; one of: {', '.join(ISOLATION)}"))
    demand: dict[SessionClass, int] = {}
    own_isolation: dict[SessionClass, str] = {}
    for item in items:
        head, sep, count = item.partition("=")
        head, count = head.strip(), count.strip()
        if not sep or not head or not count:
            problems.append(Problem(path, key, f"{item!r} is not MEMORYgb=N or PROFILE=N "
                                               "(for example 4gb=40 or 1g.5gb=10)"))
            continue
        n = geometry.parse_count(item, count, path=path, key=key)
        if isinstance(n, Problem):
            problems.append(n)
            continue
        if is_memory_item(item):
            try:
                cls = parse_memory_class(head, isolation, path=path, key=key)
            except InputError as exc:
                problems += exc.problems
                continue
            if ":" in head:
                own_isolation[cls] = key
        elif model is None:
            continue
        else:
            lookup = {p.lower(): p for p in MODELS[model].profiles}
            profile = lookup.get(head.lower())
            if profile is None:
                problems.append(Problem(path, key, f"{head!r} is neither memory (like 4gb) nor a profile of "
                                                   f"{model}; its profiles are: {', '.join(MODELS[model].profiles)}"))
                continue
            cls = SessionClass.for_profile(model, profile)
        demand[cls] = demand.get(cls, 0) + n
    for cls, n in demand.items():
        if n > geometry.MAX_SESSIONS:
            problems.append(Problem(path, key, f"{cls.label}: {n} sessions in all; at most "
                                               f"{geometry.MAX_SESSIONS} per session class"))
    if model is not None and demand:
        try:
            check_sharing_demand(model, demand, path=path, demand_key=key, sharing_key=sharing_key,
                                 isolation_keys=own_isolation)
        except InputError as exc:
            problems += exc.problems
    elif demand:  # no model to check against: what needs none
        for cls in demand:
            if cls.memory_gb <= 0:
                problems.append(Problem(path, key, f"{cls.label}: GPU memory must be more than 0 GB"))
            if cls.compute is not None and not 0 < cls.compute <= 1:
                problems.append(Problem(path, key, f"{cls.label}: compute share must be more than 0 and at "
                                                   f"most 1 (a fraction of one GPU), got {decimal(cls.compute)}"))
    if problems:
        raise InputError(problems)
    return demand


# -- the solver -------------------------------------------------------------------------------------

@dataclass
class _Program:
    """The integer program's columns and rows, built once per plan."""

    model: str
    classes: list[SessionClass]
    counts: list[int]
    allowed: list[tuple[str, ...]]
    x: dict[tuple[int, str], int] = field(default_factory=dict)      # (class, mode) -> column
    whole: int | None = None
    shared: dict[tuple[str, int], int] = field(default_factory=dict)  # (mode, replicas) -> column
    mig: list[tuple[int, tuple[int, ...]]] = field(default_factory=list)  # (column, layout vector)
    mig_profiles: list[str] = field(default_factory=list)
    replicas: dict[tuple[int, str], int] = field(default_factory=dict)  # (class, mode) -> max replicas
    profile_of: dict[int, str] = field(default_factory=dict)
    columns: int = 0

    def column(self) -> int:
        self.columns += 1
        return self.columns - 1


def _build(model: str, classes: list[SessionClass], counts: list[int], allowed: list[tuple[str, ...]]):
    import numpy as np

    from stacks.planner.pack import candidate_layouts

    prog = _Program(model, classes, counts, allowed)
    for i, cls in enumerate(classes):
        for mode in allowed[i]:
            prog.x[i, mode] = prog.column()
            if mode in SHARED_MODES:
                # more replicas than sessions never help (a GPU of fewer replicas serves the same
                # classes and more of them), so very small sessions do not make huge numbers
                prog.replicas[i, mode] = min(max_replicas(model, cls, mode), max(MIN_REPLICAS, sum(counts)))
            elif mode == MIG:
                prog.profile_of[i] = mig_profile(model, cls)
    if any(mode == WHOLE for _, mode in prog.x):
        prog.whole = prog.column()
    for mode in SHARED_MODES:
        for r in sorted({r for (i, m), r in prog.replicas.items() if m == mode}):
            prog.shared[mode, r] = prog.column()
    order = MODELS[model].profiles
    prog.mig_profiles = sorted(set(prog.profile_of.values()), key=order.index)
    if prog.mig_profiles:
        for vec in candidate_layouts(model, prog.mig_profiles):
            prog.mig.append((prog.column(), vec))

    rows, lb, ub = [], [], []

    def row(coefs: dict[int, float], low: float, high: float) -> None:
        vec = np.zeros(prog.columns)
        for col, a in coefs.items():
            vec[col] += a
        rows.append(vec)
        lb.append(low)
        ub.append(high)

    for i, n in enumerate(counts):  # every session placed once
        row({prog.x[i, m]: 1 for m in allowed[i]}, n, n)
    if prog.whole is not None:  # one session per whole GPU
        row({prog.whole: 1, **{c: -1 for (i, m), c in prog.x.items() if m == WHOLE}}, 0, np.inf)
    for mode in SHARED_MODES:  # Hall's condition on the nested sets, one row per threshold
        for t in sorted(r for m, r in prog.shared if m == mode):
            coefs = {col: r for (m, r), col in prog.shared.items() if m == mode and r <= t}
            coefs.update({prog.x[i, m]: -1 for (i, m), r in prog.replicas.items() if m == mode and r <= t})
            row(coefs, 0, np.inf)
    for j, profile in enumerate(prog.mig_profiles):  # instances of each profile cover its sessions
        coefs = {col: vec[j] for col, vec in prog.mig if vec[j]}
        coefs.update({prog.x[i, MIG]: -1 for i, p in prog.profile_of.items() if p == profile})
        row(coefs, 0, np.inf)
    gpu_cols = [c for c in [prog.whole, *prog.shared.values(), *(c for c, _ in prog.mig)] if c is not None]
    return prog, np.array(rows), np.array(lb), np.array(ub), gpu_cols


def _program(model: str, classes: list[SessionClass], counts: list[int], allowed: list[tuple[str, ...]]):
    """The program for one choice of modes per class; whole GPUs are kept only for classes with no
    other mode: for the count they are never needed elsewhere, since a session alone on a GPU can
    always sit alone on a GPU of any mode it may use (2 replicas, or one MIG instance)."""
    trimmed = [tuple(m for m in a if m != WHOLE) or (WHOLE,) for a in allowed]
    return _build(model, classes, counts, trimmed)


def _lp_bound(built) -> int:
    """The LP relaxation, rounded up: no plan with these modes needs fewer GPUs."""
    import numpy as np
    from scipy.optimize import linprog

    prog, a, lb, ub, gpu_cols = built
    cost = np.zeros(prog.columns)
    cost[gpu_cols] = 1
    finite = np.isfinite(ub)
    lp = linprog(cost, A_ub=np.vstack([-a, a[finite]]), b_ub=np.concatenate([-lb, ub[finite]]),
                 bounds=(0, None), method="highs")
    if lp.status != 0:
        raise RuntimeError(f"LP relaxation failed on {prog.model}: {lp.message}")
    return math.ceil(lp.fun - 1e-6)


def _min_gpus(built) -> tuple[list[SharedLayout], int]:
    """The fewest GPUs (an integer program solved to zero gap) and its layouts.

    Only the GPU counts are integer variables. For fixed integer GPU counts, placing the sessions
    is a network flow (class -> mode; a sharing mode is a chain of replica counts, from large to
    small, each draining into its GPUs' seats; MIG is one node per profile), so an integer
    placement exists and the simplex returns one; it is rounded and checked before use.
    """
    import numpy as np
    from scipy.optimize import Bounds, LinearConstraint, milp

    prog, a, lb, ub, gpu_cols = built
    cost = np.zeros(prog.columns)
    cost[gpu_cols] = 1
    integral = np.zeros(prog.columns)
    integral[gpu_cols] = 1
    constraints = [LinearConstraint(a, lb=lb, ub=ub)]
    res = milp(cost, constraints=constraints, integrality=integral, bounds=Bounds(0, np.inf),
               options={"mip_rel_gap": 0.0})
    if res.status != 0:  # cannot happen for a validated demand: a GPU per session is feasible
        raise RuntimeError(f"MILP solver failed on {prog.model} {[c.label for c in prog.classes]}: {res.message}")
    sol = np.rint(res.x).astype(int)
    if not _feasible(a, lb, ub, sol):
        # a fractional placement (the simplex should not return one): place the sessions again as
        # integers on exactly these GPUs, which the flow argument says is possible
        fixed = np.where(integral == 1, sol, 0).astype(float)
        low = np.where(integral == 1, fixed, 0)
        high = np.where(integral == 1, fixed, np.inf)
        res = milp(np.zeros(prog.columns), constraints=constraints, integrality=np.ones(prog.columns),
                   bounds=Bounds(low, high))
        sol = np.rint(res.x).astype(int) if res.status == 0 else sol
        if not _feasible(a, lb, ub, sol):
            raise RuntimeError(f"no integer placement on {prog.model} {[c.label for c in prog.classes]}")
    return _layouts(prog, sol), int(cost @ sol)


def _feasible(a, lb, ub, sol) -> bool:
    import numpy as np

    return bool(np.all(a @ sol >= lb - 1e-6) and np.all(a @ sol <= ub + 1e-6) and np.all(sol >= 0))


def _without_dominated_time_slicing(model: str, classes: list[SessionClass], total: int,
                                    allowed: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Drop time-slicing when MPS does everything it does: when every class that may time-slice
    may also use MPS with as many replicas, any time-sliced GPU of r replicas can be an MPS GPU of
    r replicas carrying the same sessions, with stronger isolation. (Time-slicing stays when the
    MPS client limit or its integer thread percentage allows fewer replicas to some class.)"""
    sliced = [i for i, a in enumerate(allowed) if TIME_SLICING in a]

    def replicas(i: int, mode: str) -> int:  # as the program counts them: never more than the sessions
        return min(max_replicas(model, classes[i], mode), max(MIN_REPLICAS, total))

    if not sliced or not all(MPS in allowed[i] and replicas(i, MPS) == replicas(i, TIME_SLICING) for i in sliced):
        return allowed
    return [tuple(m for m in a if m != TIME_SLICING) for a in allowed]


def _solve(model: str, classes: list[SessionClass], counts: list[int],
           allowed: list[tuple[str, ...]]) -> tuple[list[SharedLayout], int]:
    """The exact plan and the lower bound: the fewest GPUs, then the strongest isolation.

    Lexicographic: G, the fewest GPUs with every mode the classes accept; then the weakest mode
    the plan uses is made as strong as possible. Caps are tried strongest first (whole, mig, mps,
    then no cap): under a cap each class keeps only its modes no weaker than the cap, and the
    first cap whose minimum is G wins. G is not known in advance, so the caps are first tried
    against B, the LP bound of the uncapped program (a cap whose own LP bound exceeds B is
    skipped without an integer program): a plan of B GPUs is proven minimal, and every stronger
    cap was shown to need more. Only when no cap reaches B (the uncapped minimum G is above its
    LP bound) are the caps tried again against G, reusing the programs already solved.
    """
    allowed = _without_dominated_time_slicing(model, classes, sum(counts), allowed)
    caps = [[tuple(m for m in a if RANK[m] <= RANK[cap]) for a in allowed] for cap in ISOLATION]
    caps = [c for i, c in enumerate(caps) if c not in caps[:i]]  # distinct, strongest first; the last is uncapped
    last = len(caps) - 1
    full = _program(model, classes, counts, caps[last])
    bound = _lp_bound(full)
    solved: dict[int, tuple[list[SharedLayout], int]] = {}

    def attempt(i: int, target: int) -> list[SharedLayout] | None:
        if i == 0:  # the `whole` cap: a GPU per session
            if sum(counts) > target:
                return None
            return [SharedLayout(model, WHOLE, sum(counts), 1, {FULL: 1},
                                 {c.label: n for c, n in zip(classes, counts)})]
        if i not in solved:
            built = full if i == last else _program(model, classes, counts, caps[i])
            if i != last and _lp_bound(built) > target:
                return None
            solved[i] = _min_gpus(built)
        layouts, gpus = solved[i]
        return layouts if gpus <= target else None

    for target in (bound, None):
        if target is None:
            target = solved[last][1]  # the uncapped minimum: some cap (at worst no cap) reaches it
        for i in range(len(caps)):
            found = attempt(i, target)
            if found is not None:
                return found, bound
    raise AssertionError("unreachable: the uncapped program reaches its own minimum")


def _layouts(prog: _Program, sol) -> list[SharedLayout]:
    """Turn the solution into layouts and place each class's sessions on them."""
    model, classes = prog.model, prog.classes
    placed = {(i, m): int(sol[c]) for (i, m), c in prog.x.items()}
    out: list[SharedLayout] = []
    if prog.whole is not None and sol[prog.whole] > 0:
        sessions = {classes[i].label: k for (i, m), k in placed.items() if m == WHOLE and k}
        out.append(SharedLayout(model, WHOLE, int(sol[prog.whole]), 1, {FULL: 1}, _sum_labels(sessions)))
    if prog.mig:
        left = {p: [(i, placed[i, MIG]) for i, q in prog.profile_of.items() if q == p and placed[i, MIG]]
                for p in prog.mig_profiles}
        order = MODELS[model].profiles
        chosen = [(int(sol[col]), vec) for col, vec in prog.mig if sol[col] > 0]
        chosen.sort(key=lambda cv: (-cv[0], [-k for k in reversed(cv[1])]))
        for count, vec in chosen:
            sessions: dict[str, int] = {}
            for j, p in enumerate(prog.mig_profiles):
                seats = count * vec[j]
                while seats and left[p]:
                    i, k = left[p][0]
                    take = min(k, seats)
                    sessions[classes[i].label] = sessions.get(classes[i].label, 0) + take
                    seats -= take
                    left[p][0] = (i, k - take)
                    if left[p][0][1] == 0:
                        left[p].pop(0)
            devices = {p: vec[j] for j, p in sorted(enumerate(prog.mig_profiles), key=lambda jp: order.index(jp[1]))
                       if vec[j]}
            out.append(SharedLayout(model, MIG, count, sum(vec), devices, sessions))
        assert not any(left.values()), "MIG instances do not cover the sessions"
    for mode in SHARED_MODES:
        # GPUs of few replicas first, each filled with the most constrained classes (smallest R) first:
        # on nested sets this greedy places everything whenever Hall's condition holds
        pending = sorted(((prog.replicas[i, m], i, k) for (i, m), k in placed.items() if m == mode and k))
        pending = [[r, i, k] for r, i, k in pending]
        for (m, r), col in sorted(prog.shared.items(), key=lambda kv: kv[0][1]):
            count = int(sol[col])
            if m != mode or count == 0:
                continue
            seats, sessions = count * r, {}
            for item in pending:
                if seats == 0:
                    break
                cap, i, k = item
                if cap < r or k == 0:
                    continue
                take = min(k, seats)
                sessions[classes[i].label] = sessions.get(classes[i].label, 0) + take
                item[2] -= take
                seats -= take
            out.append(SharedLayout(model, mode, count, r, {FULL: 1}, sessions))
        assert all(k == 0 for _, _, k in pending), f"{mode} seats do not cover the sessions"
    out.sort(key=lambda l: (RANK[l.mode], -l.count, -l.replicas))
    return out


def _sum_labels(sessions: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in sessions.items() if v}


def plan_sharing(model: str, demand: Mapping[SessionClass, int], *, path: str = DEFAULT_PATH,
                 gpu_key: str = "--gpu", demand_key: str = "--demand", sharing_key: str = "--sharing",
                 compare: bool = False) -> SharingPlan:
    """The fewest GPUs of `model` for `demand` (session class -> sessions), every session in a mode
    at least as isolated as it asks; among those plans, the most isolated one.

    With `compare`, `per_mode` also holds the GPUs each mode alone would need (see `gpus_per_mode`).
    Bad input raises InputError at `path` and the given keys.
    """
    model, demand = check_sharing_demand(model, demand, path=path, gpu_key=gpu_key,
                                         demand_key=demand_key, sharing_key=sharing_key)
    classes = sorted(demand, key=_class_order)
    counts = [demand[c] for c in classes]
    allowed = [usable_modes(model, c) for c in classes]
    layouts, bound = _solve(model, classes, counts, allowed)
    return SharingPlan(
        gpu=model,
        demand={c: demand[c] for c in classes},
        gpus=sum(l.count for l in layouts),
        lower_bound=bound,
        layouts=layouts,
        per_mode=gpus_per_mode(model, demand) if compare else {},
    )


def gpus_per_mode(model: str, demand: Mapping[SessionClass, int]) -> dict[str, int | None]:
    """GPUs if every session ran in one mode, whatever isolation it asked (a what-if, side by side):
    whole, mig, mps, time-slicing. A session the mode cannot share (too much memory or compute)
    gets a whole GPU; None where the model lacks the mode."""
    model = geometry.canonical_model(model)
    classes = sorted(demand, key=_class_order)
    counts = [demand[c] for c in classes]
    out: dict[str, int | None] = {}
    offered = modes(model)
    for mode in ISOLATION:
        if mode not in offered:
            out[mode] = None
            continue
        allowed = [usable_modes(model, c, allowed=(WHOLE, mode)) for c in classes]
        layouts, _ = _solve(model, classes, counts, allowed)
        out[mode] = sum(l.count for l in layouts)
    return out


def _class_order(cls: SessionClass):
    return (RANK.get(cls.isolation, 9), cls.profile or "", cls.memory_gb, cls.compute or 0)
