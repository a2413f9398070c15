"""The clouds SWAN runs on, registered in one place: `CLOUDS`.

A cloud is one package, `stacks/infra/<cloud>/`, with the same modules in each:

| module       | holds                                                                                   |
|--------------|-----------------------------------------------------------------------------------------|
| `config.py`  | `Section`: the model of its config section; `problems(cfg)`: rules tying it to the rest |
|              | of the environment (pydantic error details). Pure: config models only.                  |
| `outputs.py` | `Outputs`: what an environment on it exports (`stacks.stack_outputs.EnvironmentOutputs`) |
| `cluster.py` | `build(cfg) -> Infra`: the cluster and the environment's pools; optionally              |
|              | `agent_namespaces(cfg)`: namespaces where it runs its own agents (labelers, kube-router) |
| `pool.py`    | where the cloud can grow for events: its node-pool component, used by the environment   |
|              | and by an event, and `event_node_pool(name, pool, read, kubernetes, labels, parent)`    |

The config model takes its cloud sections and the allowed `swan:cloud` values from here; the stack
outputs and the platform layer ask `cloud_of(cfg)` instead of comparing the cloud's name
(tests/unit/test_cloud_registry.py checks that no module outside stacks/infra/ does).

Kept free of pulumi and provider SDK imports: a cloud's modules are imported only when an entry is
called (provider SDKs are slow to import), so the config models and pure planning can use the registry.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

# Annotations say Any where the config model, Infra or an outputs model is meant: the config model
# imports this registry, so the registry imports none of them, not even for type checking.


@dataclass(frozen=True)
class Cloud:
    name: str  # the config's `swan:cloud` value
    title: str  # how messages name it
    package: str  # stacks.infra.<cloud>, with the modules above
    section: str  # the attribute of its config section (camelCase in the file: kind_cluster -> kindCluster)
    # Required with this cloud; otherwise it defaults when absent. Always refused with another cloud.
    section_required: bool
    # Course events may add node pools to its clusters (an OpenStack or OCI cluster can grow; kind's
    # worker nodes are fixed when the cluster is created). Such a cloud has `pool.event_node_pool`.
    can_grow_for_events: bool
    # StorageClasses the cloud's clusters bring themselves (the render does not show them).
    storage_classes: frozenset[str]
    # Platform hints.
    # Ingress is published on host ports 80/443 of a node labelled ingress-ready (kind), not through a
    # LoadBalancer service from the cloud's controller; host ports need a privileged namespace.
    ingress_on_host_ports: bool
    # Pools may autoscale down to `minCount`; otherwise a pool has exactly `count` nodes.
    pools_autoscale: bool
    # The instance metadata service user pods must not reach (security.metadataAddress), if any.
    metadata_address: str | None = None
    # `swan:nodes.vmGroups` (instances the cloud creates for the node roles) are supported.
    vm_groups: bool = False
    # Who brings the NVIDIA stack on GPU nodes (gpu-operator values follow, stacks/platform_layer/gpu.py):
    # the node image already ships the kernel driver / the container toolkit, so the operator must not
    # install its own (two drivers fight over the kernel module); otherwise the operator installs them.
    # The operator's device plugin always runs: the MIG layouts and sharing configs are its configs.
    gpu_driver_on_nodes: bool = False
    gpu_toolkit_on_nodes: bool = False
    # Annotations of the ingress LoadBalancer Service (the cloud's load-balancer controller reads them).
    load_balancer_annotations: tuple[tuple[str, str], ...] = ()
    # Its environments hold data that outlives a deploy (hub database, home volumes): the namespaces
    # holding them are `protect`ed. Not on a development cluster that `pulumi destroy` must remove.
    protects_data: bool = True

    def module(self, name: str) -> ModuleType:
        return importlib.import_module(f"{self.package}.{name}")

    def section_model(self) -> type:
        return self.module("config").Section

    def problems(self, cfg: Any) -> list:
        return self.module("config").problems(cfg)

    def outputs_model(self) -> type:
        return self.module("outputs").Outputs

    def build(self, cfg: Any) -> Any:  # an Infra
        return self.module("cluster").build(cfg)

    def create_event_node_pool(self, *args: Any) -> None:
        if not self.can_grow_for_events:
            raise ValueError(f"a {self.title} cluster cannot grow; events need an environment on "
                             f"{' or '.join(c.title for c in growable())}")
        self.module("pool").event_node_pool(*args)

    def warnings(self, cfg: Any) -> list[str]:
        """Advice `swan check` prints for an environment on this cloud (nothing wrong, but surprising)."""
        found = getattr(self.module("config"), "warnings", None)
        return list(found(cfg)) if found else []

    def agent_namespaces_of(self, cfg: Any) -> list[str]:
        found = getattr(self.module("cluster"), "agent_namespaces", None)
        return list(found(cfg)) if found else []


CLOUDS: dict[str, Cloud] = {c.name: c for c in (
    # kind's local-path `standard` class is the default; a pool is a set of worker nodes in the KindCluster.
    Cloud("kind", "kind", "stacks.infra.kind", "kind_cluster", section_required=False, can_grow_for_events=False,
          storage_classes=frozenset({"standard"}), ingress_on_host_ports=True, pools_autoscale=False,
          # kind nodes are containers on the host's kernel: the host's driver is the only one.
          gpu_driver_on_nodes=True, protects_data=False),
    # Magnum brings no StorageClass: the OpenStack infra creates its default (`swan-cinder`) when Cinder CSI
    # is enabled.
    Cloud("openstack", "OpenStack", "stacks.infra.openstack", "openstack", section_required=True,
          can_grow_for_events=True, storage_classes=frozenset(), ingress_on_host_ports=False, pools_autoscale=True,
          metadata_address="169.254.169.254", vm_groups=True,
          # Magnum's heat driver boots Fedora CoreOS, for which NVIDIA publishes no driver container: GPU
          # node groups need an image with the driver built in (README: Known cloud behaviours).
          gpu_driver_on_nodes=True),
    # OKE's block-volume `oci-bv` is the default class.
    Cloud("oci", "OCI", "stacks.infra.oci", "oci", section_required=True, can_grow_for_events=True,
          storage_classes=frozenset({"oci-bv"}), ingress_on_host_ports=False, pools_autoscale=True,
          metadata_address="169.254.169.254",
          # Oracle's GPU node images ship the NVIDIA driver and container toolkit.
          gpu_driver_on_nodes=True, gpu_toolkit_on_nodes=True,
          # The cloud controller manager adds rules to the subnets' security lists for every LoadBalancer
          # Service unless told "None" (oci-cloud-controller-manager, load_balancer_spec.go); the lists
          # Pulumi manages already admit 80/443 and the NodePorts, so its edits would only be drift.
          load_balancer_annotations=(
              ("oci.oraclecloud.com/security-rule-management-mode", "None"),
              ("service.beta.kubernetes.io/oci-load-balancer-security-list-management-mode", "None"),
          )),
)}


def cloud_of(name_or_cfg: Any) -> Cloud:
    """The registered cloud of that name, or of that environment config."""
    name = name_or_cfg if isinstance(name_or_cfg, str) else name_or_cfg.cloud
    try:
        return CLOUDS[name]
    except KeyError:
        raise ValueError(f"unknown cloud {name!r} (known: {', '.join(CLOUDS)})") from None


def growable() -> list[Cloud]:
    """The clouds course events can add nodes to."""
    return [c for c in CLOUDS.values() if c.can_grow_for_events]
