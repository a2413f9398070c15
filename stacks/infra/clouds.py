"""The clouds SWAN runs on, registered in one place: `CLOUDS`.

A cloud is one package behind one interface: a module under stacks/infra/ whose `build(cfg) -> Infra`
creates the cluster, its node-pool component (for the environment's pools and, where the cloud can
grow, a course event's), and the few facts the other layers need about it. Those layers ask
`cloud_of(cfg)` instead of comparing the cloud's name (tests/unit/test_cloud_registry.py checks that
no module outside stacks/infra/ and stacks/config/ does).

Kept free of pulumi and provider SDK imports: the cloud's modules are imported only when an entry is
called (provider SDKs are slow to import), so pure planning (stacks.events.plan) can use the registry.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stacks.config.model import EnvironmentConfig
    from stacks.infra.base import Infra


def _entry(path: str) -> Callable[..., Any]:
    """`module:function`, imported now."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Cloud:
    name: str  # the config's `swan:cloud` value
    title: str  # how messages name it
    infra_module: str  # holds `build(cfg: EnvironmentConfig) -> Infra`
    # Course events may add node pools to its clusters (an OpenStack or OCI cluster can grow; kind's
    # worker nodes are fixed when the cluster is created).
    can_grow_for_events: bool
    # The event's node pool on an environment's cluster, `module:function` called as
    # f(name, pool, read, kubernetes, labels, parent): `pool` the event's NodePool spec, `read(field)` the
    # environment's stack outputs (its cluster reference, region ...), `kubernetes` the environment's
    # Kubernetes provider, `labels` what the event's cluster objects carry, `parent` the event's component.
    # None where the cloud cannot grow.
    event_node_pool: str | None
    # StorageClasses the cloud's clusters bring themselves (the render does not show them).
    storage_classes: frozenset[str]
    # Platform hints.
    # Ingress is published on host ports 80/443 of a node labelled ingress-ready (kind), not through a
    # LoadBalancer service from the cloud's controller; host ports need a privileged namespace.
    ingress_on_host_ports: bool
    # Pools may autoscale down to `minCount`; otherwise a pool has exactly `count` nodes.
    pools_autoscale: bool
    # `module:function` f(cfg) -> list of namespaces where the cloud layer runs its own agents
    # (node labelers, kube-router), or None.
    agent_namespaces: str | None = None

    def build(self, cfg: EnvironmentConfig) -> Infra:
        return importlib.import_module(self.infra_module).build(cfg)

    def create_event_node_pool(self, *args: Any) -> None:
        if self.event_node_pool is None:
            raise ValueError(f"a {self.title} cluster cannot grow; events need an environment on "
                             f"{' or '.join(c.title for c in growable())}")
        _entry(self.event_node_pool)(*args)

    def agent_namespaces_of(self, cfg: EnvironmentConfig) -> list[str]:
        return list(_entry(self.agent_namespaces)(cfg)) if self.agent_namespaces else []


CLOUDS: dict[str, Cloud] = {c.name: c for c in (
    # kind's local-path `standard` class is the default; a pool is a set of worker nodes in the KindCluster.
    Cloud("kind", "kind", "stacks.infra.kind", can_grow_for_events=False, event_node_pool=None,
          storage_classes=frozenset({"standard"}), ingress_on_host_ports=True, pools_autoscale=False),
    # Magnum brings no StorageClass: the OpenStack infra creates its default (`swan-cinder`) when Cinder CSI
    # is enabled.
    Cloud("openstack", "OpenStack", "stacks.infra.openstack", can_grow_for_events=True,
          event_node_pool="stacks.infra.openstack_pool:event_node_pool",
          storage_classes=frozenset(), ingress_on_host_ports=False, pools_autoscale=True,
          agent_namespaces="stacks.infra.openstack_rules:agent_namespaces"),
    # OKE's block-volume `oci-bv` is the default class.
    Cloud("oci", "OCI", "stacks.infra.oci", can_grow_for_events=True,
          event_node_pool="stacks.infra.oci_pool:event_node_pool",
          storage_classes=frozenset({"oci-bv"}), ingress_on_host_ports=False, pools_autoscale=True,
          agent_namespaces="stacks.infra.oci:agent_namespaces"),
)}


def cloud_of(name_or_cfg: str | EnvironmentConfig) -> Cloud:
    """The registered cloud of that name, or of that environment config."""
    name = name_or_cfg if isinstance(name_or_cfg, str) else name_or_cfg.cloud
    try:
        return CLOUDS[name]
    except KeyError:
        raise ValueError(f"unknown cloud {name!r} (known: {', '.join(CLOUDS)})") from None


def growable() -> list[Cloud]:
    """The clouds course events can add nodes to."""
    return [c for c in CLOUDS.values() if c.can_grow_for_events]
