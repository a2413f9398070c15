"""The capacity plan of a course event (pure: no Pulumi, no cloud).

How many GPUs is the planner's minimum for one session per participant and instructor
(`stacks.planner.pack` for a MIG profile, `stacks.planner.sharing` for sessions sized by GPU memory,
never re-derived here). Those GPUs are then placed on whole nodes of the environments' event
offers (`swan:eventGpus`), in the event's order of preference: an environment takes nodes until
its `maxGpus` for the model is used up, the next one takes the rest. Every node of a pool gets the
same MIG layout (`nvidia.com/mig.config`) and, when shared, device-plugin config
(`nvidia.com/device-plugin.config`).

An event's sessions all get their GPU one way (`SessionGpus.mode`), so that they ask for one
resource: for gpuMemory sessions, the mode needing the fewest GPUs among those the isolation asked
allows and every environment can run (MIG devices need the gpu-operator's mixed strategy, which
NVIDIA's device plugin refuses with MPS); on a tie, the stronger isolation.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from stacks.config.event_model import Event, EventConfig, Session
from stacks.config.model import EnvironmentConfig, EventGpuOffer
from stacks.infra.clouds import cloud_of, growable
from stacks.planner.pack import PackResult


class PlanError(ValueError):
    """The event cannot be placed: a missing or unsuitable environment, or too little capacity."""


@dataclass(frozen=True)
class NodeGroup:
    """Nodes one environment adds for the event: one pool, one MIG layout."""

    pool: str
    environment: str
    cloud: str
    count: int
    gpus_per_node: int
    flavor: str | None
    availability_domains: tuple[str, ...]
    mig_config: str
    sessions: int  # sessions these nodes host (what the event's quota allows there)
    sharing: str | None = None  # mps or time-slicing: the device plugin shares each GPU `replicas` ways
    replicas: int = 1
    placeholders: int = 0  # of `sessions`, seats placeholder pods hold until sessions take them (prewarm.py)

    @property
    def gpus(self) -> int:
        return self.count * self.gpus_per_node

    def to_json(self) -> dict:
        return {"pool": self.pool, "environment": self.environment, "cloud": self.cloud, "count": self.count,
                "gpus_per_node": self.gpus_per_node, "gpus": self.gpus, "flavor": self.flavor,
                "availability_domains": list(self.availability_domains), "mig_config": self.mig_config,
                "sharing": self.sharing, "replicas": self.replicas, "sessions": self.sessions,
                "placeholders": self.placeholders}


@dataclass(frozen=True)
class SessionGpus:
    """How every session of the event gets its GPU, and the GPUs that takes."""

    mode: str  # whole, mig, mps or time-slicing (stacks.planner.sharing)
    resource: str  # what a session asks for: nvidia.com/gpu, or nvidia.com/mig-<profile>
    packed: PackResult  # the GPUs: MIG layouts, or whole and shared GPUs as `full` layouts
    replicas: int = 1  # sessions per GPU when shared
    per_mode: dict[str, int] = field(default_factory=dict)  # GPUs each mode considered would need

    def seats(self, layout: dict[str, int]) -> int:
        """Sessions one GPU of `layout` seats."""
        if self.mode == "mig":
            return layout.get(self.resource.removeprefix("nvidia.com/mig-"), 0)
        return self.replicas


@dataclass(frozen=True)
class EventPlan:
    """The plan `swan event plan` prints and the event's Pulumi program builds."""

    stack: str | None
    event: Event
    gpus: SessionGpus
    nodes: list[NodeGroup]

    @property
    def packed(self) -> PackResult:
        return self.gpus.packed

    @property
    def placeholders(self) -> int:
        """Seats held by placeholder pods, over all environments (the event's `placeholders`)."""
        return sum(n.placeholders for n in self.nodes)

    @property
    def gpus_provisioned(self) -> int:
        """GPUs on the planned nodes: the planner's minimum rounded up to whole nodes."""
        return sum(n.gpus for n in self.nodes)

    def to_json(self) -> dict:
        e = self.event
        return {
            "event": e.name,
            "stack": self.stack,
            "title": e.title,
            "group": e.group,
            "participants": e.sessions,
            "participants_detail": {"participants": e.participants, "instructors": e.instructors},
            "session_profile": e.session.profile,
            "gpu_memory": e.session.gpu_memory,
            "sharing": self.gpus.mode,
            "replicas": self.gpus.replicas,
            "resource": self.gpus.resource,
            "gpus_per_mode": self.gpus.per_mode,
            "gpu_model": e.session.gpu_model,
            "session": {"cores": e.session.cores, "memory": e.session.memory},
            "gpus": self.packed.gpus,
            "lower_bound": self.packed.lower_bound,
            "whole_gpus": self.packed.whole_gpus,
            "gpus_provisioned": self.gpus_provisioned,
            "placeholders": self.placeholders,
            "layouts": [{"count": c, "mig_devices": dict(layout)} for c, layout in self.packed.layouts],
            "nodes": [n.to_json() for n in self.nodes],
            "window": {"ready_by": e.ready_by.isoformat(), "start": e.start.isoformat(), "end": e.end.isoformat()},
        }


def pool_name(event_name: str) -> str:
    return f"event-{event_name}"


def load_environments(names: list[str]) -> dict[str, EnvironmentConfig]:
    """The environment stacks' configs, read offline from config/ (as `swan check` does)."""
    from stacks.config.loader import load_stack, stack_file, stack_names
    from stacks.errors import InputError

    envs: dict[str, EnvironmentConfig] = {}
    for name in names:
        if not stack_file(name).is_file():
            raise PlanError(f"no environment stack '{name}' (stacks here: {', '.join(stack_names()) or 'none'})")
        try:
            cfg = load_stack(name)
        except InputError:
            raise PlanError(f"environment stack '{name}' has config errors; run `swan check {name}`") from None
        if not isinstance(cfg, EnvironmentConfig):
            raise PlanError(f"stack '{name}' is a {getattr(cfg, 'kind', '?')} stack, not an environment")
        envs[name] = cfg
    return envs


def event_offer(name: str, env: EnvironmentConfig, model: str) -> EventGpuOffer:
    """The environment's offer for `model`, or a PlanError saying why the event cannot use it."""
    if not cloud_of(env).can_grow_for_events:
        raise PlanError(f"environment '{name}' is a {cloud_of(env).title} cluster: it cannot grow, so events "
                        f"cannot add GPU nodes there; name an {' or '.join(c.title for c in growable())} environment")
    offer = next((o for o in env.event_gpus if o.model == model), None)
    if offer is None:
        offered = ", ".join(o.model for o in env.event_gpus) or "nothing"
        raise PlanError(f"environment '{name}' offers no {model} GPUs for events "
                        f"(its swan:eventGpus offers: {offered})")
    return offer


def session_gpus(session: Session, sessions: int, envs: dict[str, EnvironmentConfig]) -> SessionGpus:
    """The mode and the planner's minimum of GPUs for `sessions` sessions like `session`."""
    from stacks.planner import sharing
    from stacks.planner.geometry import FULL
    from stacks.planner.pack import pack

    model = session.gpu_model
    if session.profile is not None:  # asked by name: a MIG device, or a whole GPU
        packed = pack(model, {session.profile: sessions})
        if session.profile == FULL:
            return SessionGpus("whole", "nvidia.com/gpu", packed)
        return SessionGpus("mig", f"nvidia.com/mig-{session.profile}", packed)
    cls = sharing.SessionClass(session.memory_gb, None, session.isolation)
    strategies = {env.gpu.mig_strategy for env in envs.values()}
    modes = [m for m in sharing.usable_modes(model, cls)
             if not (m == sharing.MIG and strategies != {"mixed"}) and not (m == sharing.MPS and "mixed" in strategies)]
    if not modes:
        raise PlanError(f"no way to give {session.gpu_memory} of GPU memory with isolation {session.isolation} on "
                        f"{model} in {', '.join(envs)} (gpu.migStrategy {', '.join(sorted(strategies))})")

    def option(mode: str) -> SessionGpus:
        """Every session in `mode`: what it asks for and the GPUs that takes."""
        if mode == sharing.MIG:
            profile = sharing.mig_profile(model, cls)
            return SessionGpus(mode, f"nvidia.com/mig-{profile}", pack(model, {profile: sessions}))
        replicas = 1 if mode == sharing.WHOLE else sharing.max_replicas(model, cls, mode)
        gpus = math.ceil(sessions / replicas)
        return SessionGpus(mode, "nvidia.com/gpu", PackResult(
            gpu=model, demand={FULL: sessions}, gpus=gpus, lower_bound=gpus, layouts=[(gpus, {FULL: 1})],
            whole_gpus=sessions, uniform_gpus=gpus), replicas)

    options = {mode: option(mode) for mode in modes}
    mode = min(modes, key=lambda m: (options[m].packed.gpus, sharing.ISOLATION.index(m)))
    return dataclasses.replace(options[mode], per_mode={m: o.packed.gpus for m, o in options.items()})


def allocate(session: Session, sessions: int, envs: dict[str, EnvironmentConfig],
             pool: str = "event") -> tuple[SessionGpus, list[NodeGroup]]:
    """The planner's minimum for `sessions` sessions like `session`, placed on whole nodes, environments in order."""
    from stacks.planner.mig_parted import layout_name

    model = session.gpu_model
    offers = {name: event_offer(name, env, model) for name, env in envs.items()}
    gpus_plan = session_gpus(session, sessions, envs)
    packed = gpus_plan.packed
    shared = gpus_plan.mode in ("mps", "time-slicing")
    used = {name: 0 for name in envs}
    nodes: list[NodeGroup] = []
    seats_left = sessions
    for i, (count, layout) in enumerate(packed.layouts):
        name_of_pool = pool if len(packed.layouts) == 1 else f"{pool}-{i + 1}"
        missing = count
        for env_name, env in envs.items():
            offer = offers[env_name]
            room_nodes = (offer.max_gpus - used[env_name]) // offer.gpus_per_node
            take = min(math.ceil(missing / offer.gpus_per_node), room_nodes) if missing > 0 else 0
            if take <= 0:
                continue
            gpus = take * offer.gpus_per_node
            used[env_name] += gpus
            missing -= gpus
            seats = min(gpus * gpus_plan.seats(layout), seats_left)
            seats_left -= seats
            nodes.append(NodeGroup(
                pool=name_of_pool, environment=env_name, cloud=env.cloud, count=take,
                gpus_per_node=offer.gpus_per_node, flavor=offer.flavor,
                availability_domains=tuple(offer.availability_domains),
                mig_config=layout_name(model, layout), sessions=seats,
                sharing=gpus_plan.mode if shared else None, replicas=gpus_plan.replicas))
        if missing > 0:
            room = ", ".join(f"{n}: {offers[n].max_gpus // offers[n].gpus_per_node * offers[n].gpus_per_node}"
                             for n in envs)
            what = session.profile or f"{session.gpu_memory} ({gpus_plan.mode})"
            raise PlanError(f"{sessions} sessions of {what} need {packed.gpus} {model} GPUs, more than the "
                            f"environments offer for events in whole nodes ({room}); add an environment or "
                            "raise its swan:eventGpus maxGpus")
    return gpus_plan, nodes


def plan_event(cfg: EventConfig, envs: dict[str, EnvironmentConfig] | None = None,
               stack: str | None = None) -> EventPlan:
    """The event's plan; environments are read from config/ unless given."""
    event = cfg.event
    if envs is None:
        envs = load_environments(event.environments)
    else:
        envs = {name: envs[name] for name in event.environments}
    gpus, nodes = allocate(event.session, event.sessions, envs, pool=pool_name(event.name))
    return EventPlan(stack=stack, event=event, gpus=gpus, nodes=hold_placeholders(nodes, event.placeholder_seats))


def hold_placeholders(nodes: list[NodeGroup], total: int) -> list[NodeGroup]:
    """`total` placeholder seats spread over the node groups in proportion to their seats (largest
    remainder, earlier groups first on a tie), so every environment's nodes are warmed alike and no
    group holds more placeholders than it has seats."""
    seats = sum(n.sessions for n in nodes)
    if total <= 0 or seats == 0:
        return nodes
    shares = [divmod(total * n.sessions, seats) for n in nodes]
    held = [whole for whole, _ in shares]
    by_remainder = sorted(range(len(nodes)), key=lambda i: -shares[i][1])
    for i in by_remainder[:total - sum(held)]:
        held[i] += 1
    return [dataclasses.replace(n, placeholders=h) for n, h in zip(nodes, held)]
