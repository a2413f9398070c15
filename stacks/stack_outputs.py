"""The stack-output contract: what environment and event stacks export, as pydantic models.

One module for both sides of every stack output:

- producers build their outputs through these models: `stacks.program` (environments, with the cloud
  parts from `stacks.infra.<cloud>.build`) and `stacks.events.program` (events) call `export`, which
  validates each value against its field (at `pulumi up` and under `swan render` alike) and exports
  it under the field's camelCase name;
- consumers parse through the same models: an event stack reads its environments through
  `stack_reference_reader` (cluster reference, region, labeler image, user namespace, kubeconfig);
  `swan verify STACK` reads `verify`, `kubeconfig` and `nodeInventory`
  (`stacks.verify.stack.verify_settings`); `swan nodes apply STACK` reads `nodeInventory`
  (`stacks.cli.nodes.stack_inventory`); the nightly CronJob mounts `verify.expectations`
  (`stacks.platform_layer.verification`).

Every field's docstring says who reads it. Top-level outputs are camelCase (as `pulumi stack output`
shows them); the documents inside them keep the snake_case keys their readers take (`verify` is what
`stacks.verify.stack` reads, `expectations` what `stacks.verify.cluster.load_expectations` reads,
`plan` what `swan event plan --json` prints). Outputs are read back by name, so renaming a field
renames an output: environments must be redeployed before events can read the new name.

Pure: pydantic only at import; Pulumi is imported inside `export` (and the config models inside
`pool_expectation`), so the `swan` commands that parse outputs load neither.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, NonNegativeInt, TypeAdapter
from pydantic.alias_generators import to_camel

if TYPE_CHECKING:
    from stacks.config.model import NodePool

SECRET = {"secret": True}  # json_schema_extra of a field exported as a secret (masked `[secret]` in renders)


class Document(BaseModel):
    """A document inside an output: its keys as its reader takes them (snake_case)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class StackOutputs(BaseModel):
    """A stack's outputs: one field per output, exported under its camelCase alias."""

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True,
                              use_attribute_docstrings=True)

    @classmethod
    def secret_outputs(cls) -> set[str]:
        """Output names exported as secrets."""
        return {f.alias or n for n, f in cls.model_fields.items() if (f.json_schema_extra or {}).get("secret")}


# -- cluster expectations (`swan verify --expect`, `verify.expectations`, `verifyExpectations`) ------------
GpuResource = Annotated[str, Field(pattern=r"^nvidia\.com/(gpu|mig-[0-9]+g\.[0-9]+gb)$")]


class Taint(Document):
    key: str
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


class ExpectedPool(Document):
    """A node pool as `swan verify`'s cluster checks look for it (`stacks.verify.cluster.PoolExpectation`)."""

    name: str
    selector: dict[str, str] | None = None
    """Labels of the pool's nodes (default: `swan.cern.ch/node-pool=<name>`)."""
    gpu: dict[GpuResource, NonNegativeInt] = {}
    """Allocatable GPU resources over the pool's nodes at least (`cluster.gpu`)."""
    labels: dict[str, str] = {}
    taints: list[Taint] = []
    event: bool = False
    """A course event's pool: `cluster.event-pools` checks its labels and taints."""


class Workload(Document):
    kind: Literal["Deployment", "DaemonSet"]
    namespace: str
    name: str


class SecretRef(Document):
    namespace: str
    name: str


class Expectations(Document):
    """What the cluster should look like: the document `stacks.verify.cluster.load_expectations` takes."""

    pools: list[ExpectedPool] = []
    workloads: list[Workload] = []
    """DaemonSets/Deployments that must be ready (none listed: every one in `namespaces`)."""
    namespaces: list[str] = []
    """Where the workload and TLS checks look when nothing is listed for them (none: everywhere)."""
    tls_secrets: list[SecretRef] = []
    cert_days: NonNegativeInt = 14


def pool_gpu_resources(pool: NodePool, nodes: int) -> dict[str, int]:
    """The GPU resources `nodes` nodes of `pool` make allocatable (`NodeGpu.resources_per_gpu` per GPU:
    whole, shared `replicas` times, or the devices of its MIG layout), as the quotas count them."""
    from stacks.platform_layer.gpu_capacity import pool_capacity

    return pool_capacity(pool, nodes)


def pool_expectation(pool: NodePool, nodes: int, *, selector: dict[str, str] | None = None,
                     event: bool = False) -> ExpectedPool:
    """A node pool (an environment's, or a course event's as `stacks.events.objects.node_pool` makes it)
    as `swan verify` expects it, with the GPU resources of `nodes` of its nodes (the fewest it can have)."""
    from stacks.infra.pools import POOL_LABEL, pool_labels, pool_taints

    return ExpectedPool(name=pool.name, selector=selector or {POOL_LABEL: pool.name},
                        gpu=pool_gpu_resources(pool, nodes), labels=pool_labels(pool),
                        taints=[Taint(**t) for t in pool_taints(pool)], event=event)


# -- the `verify` output: what `swan verify STACK` reads ----------------------------------------------------
class VerifySettings(Document):
    """The `verify` output, read by `swan verify STACK` (`stacks.verify.stack.verify_settings`); each key
    stands in for the `swan verify` option of the same name."""

    hub_url: str | None = None
    kubeconfig: str | None = None
    """A kubeconfig path or text. Environments leave it out (a secret would make the whole `verify`
    output secret): `swan verify STACK` takes the stack's `kubeconfig` output."""
    inventory: str | None = None
    """An inventory path. Environments leave it out: `swan verify STACK` writes the stack's
    `nodeInventory` to a private file."""
    expectations: Expectations | None = None
    """`--expect`: the environment's pools with their GPU resources, labels and taints; its namespaces and
    TLS secret. The nightly CronJob mounts the same document."""
    profiles: list[str] = []
    gpu_profiles: list[str] = []
    session_options: dict[str, dict[str, Any]] = {}
    software_paths: list[str] = []
    software_imports: list[str] = []
    events_namespace: str | None = None
    event_options: dict[str, Any] | None = None


# -- Ansible inventory (`nodeInventory`) --------------------------------------------------------------------
class InventoryGroup(Document):
    """An Ansible YAML inventory group (`stacks.nodes.inventory.build_inventory`)."""

    hosts: dict[str, dict[str, Any] | None] = {}
    children: dict[str, InventoryGroup] = {}
    vars: dict[str, Any] = {}


class NodeInventory(Document):
    all: InventoryGroup


# -- environments -------------------------------------------------------------------------------------------
class Namespaces(Document):
    hub: str
    users: str
    """Read by event stacks: where their quota and the event's ConfigMap go."""


class EnvironmentOutputs(StackOutputs):
    """What every environment exports (`stacks.program.environment`)."""

    cloud: str
    """Which cloud's outputs follow (`environment_outputs(cloud)` is their model); operators."""
    hub_url: str
    """Operators (`pulumi stack output hubUrl`)."""
    kubeconfig: str = Field(json_schema_extra=SECRET)
    """Secret. Event stacks (their Kubernetes provider), `swan verify STACK`, operators."""
    namespaces: Namespaces
    """Event stacks (the user namespace)."""
    verify: VerifySettings
    """`swan verify STACK`."""
    cluster_name: str
    """Operators: the kind cluster, Magnum cluster or OKE cluster by name."""
    node_hosts: list[str] | None = None
    """With `swan:nodes`: the hosts the roles configure, as `swan nodes apply --limit` names them; operators."""
    node_inventory: NodeInventory | None = Field(None, json_schema_extra=SECRET)
    """With `swan:nodes`, secret (join token, keytab): `swan nodes apply STACK` and `swan verify STACK`."""


def environment_outputs(cloud: str) -> type[EnvironmentOutputs]:
    """The outputs model of an environment on `cloud`: its package's `outputs.Outputs` (registry)."""
    from stacks.infra.clouds import cloud_of

    return cloud_of(cloud).outputs_model()


# -- events -------------------------------------------------------------------------------------------------
def _iso_datetime(value: str) -> str:
    if dt.datetime.fromisoformat(value).tzinfo is None:
        raise ValueError("needs a time zone")
    return value


IsoDatetime = Annotated[str, AfterValidator(_iso_datetime)]


class Window(Document):
    ready_by: IsoDatetime
    start: IsoDatetime
    end: IsoDatetime


class PlanLayout(Document):
    count: int
    mig_devices: dict[str, int]


class PlanNodes(Document):
    pool: str
    environment: str
    cloud: str
    count: int
    gpus_per_node: int
    gpus: int
    flavor: str | None
    availability_domains: list[str]
    mig_config: str
    sharing: Literal["mps", "time-slicing"] | None
    replicas: int
    sessions: int
    placeholders: int = 0  # seats placeholder pods hold (absent in plans of older versions)


class PlanParticipants(Document):
    participants: int
    instructors: int


class PlanSession(Document):
    cores: int | float
    memory: str


class EventPlanDocument(Document):
    """`stacks.events.plan.EventPlan.to_json`, as `swan event plan --json` prints it."""

    event: str
    stack: str | None
    title: str
    group: str
    participants: int
    participants_detail: PlanParticipants
    session_profile: str | None
    gpu_memory: str | None
    sharing: Literal["whole", "mig", "mps", "time-slicing"]
    replicas: int
    resource: GpuResource
    gpus_per_mode: dict[str, int]
    gpu_model: str
    session: PlanSession
    gpus: int
    lower_bound: int
    whole_gpus: int
    gpus_provisioned: int
    placeholders: int = 0  # seats placeholder pods hold (absent in plans of older versions)
    layouts: list[PlanLayout]
    nodes: list[PlanNodes]
    window: Window


class EventOutputs(StackOutputs):
    """What an event stack exports (`stacks.events.program.event`); operators read all of it."""

    event: str
    """The event's name."""
    window: Window
    """When to `pulumi up` (ready_by) and `pulumi destroy` (after end) the event stack."""
    plan: EventPlanDocument
    """The capacity plan deployed, to compare with `swan event plan --json`."""
    verify_expectations: dict[str, Expectations]
    """Per environment, the event's pools for `swan verify --expect` (`cluster.event-pools`, `cluster.gpu`)."""


# -- producing and reading outputs --------------------------------------------------------------------------
@lru_cache(maxsize=None)
def _adapter(model: type[StackOutputs], name: str) -> TypeAdapter:
    """A validator of field `name` alone, with the constraints given in its Field()."""
    field = model.model_fields[name]
    return TypeAdapter(Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation)


def output_name(model: type[StackOutputs], name: str) -> str:
    """The output name of field `name` (its camelCase alias)."""
    field = model.model_fields[name]
    return field.alias or name


def check_field(model: type[StackOutputs], name: str, value: Any) -> Any:
    """`value` validated as field `name` of `model`, in its JSON form (documents as their readers take them:
    only the keys that were set, so a document keeps its shape)."""
    adapter = _adapter(model, name)
    try:
        parsed = adapter.validate_python(value)
    except ValueError as exc:
        raise ValueError(f"stack output {output_name(model, name)}: {exc}") from None
    return adapter.dump_python(parsed, mode="json", by_alias=True, exclude_unset=True)


def export(model: type[StackOutputs], values: Mapping[str, Any]) -> None:
    """Export `values` (field name -> Pulumi input) as the stack outputs `model` declares: every required
    field must be given and no other; each value is checked against its field once known, and secret
    fields are exported as secrets."""
    import pulumi

    fields = model.model_fields
    unknown = sorted(set(values) - set(fields))
    missing = sorted(n for n, f in fields.items() if f.is_required() and n not in values)
    if unknown or missing:
        raise TypeError(f"{model.__name__}: unknown output(s) {unknown}, missing output(s) {missing}")
    secret = model.secret_outputs()
    for name in sorted(values, key=lambda n: output_name(model, n)):
        alias = output_name(model, name)
        value = pulumi.Output.from_input(values[name]).apply(lambda v, n=name: check_field(model, n, v))
        pulumi.export(alias, pulumi.Output.secret(value) if alias in secret else value)


def stack_reference_reader(model: type[StackOutputs], reference: Any) -> Callable[[str], Any]:
    """`read(field)`: the output of field `field` of another stack (a `pulumi.StackReference`), parsed by
    the field's type (numbers come back from the engine as floats: `bootVolumeGb` is an int again;
    documents become their models). Required fields must be there; optional ones read as None when absent."""

    def read(name: str):
        field = model.model_fields[name]
        alias = output_name(model, name)
        raw = reference.require_output(alias) if field.is_required() else reference.get_output(alias)
        adapter = _adapter(model, name)

        def parse(value: Any) -> Any:
            try:
                return adapter.validate_python(value)
            except ValueError as exc:
                raise ValueError(f"stack output {alias} of the referenced stack: {exc}") from None

        parsed = raw.apply(parse)
        return pulumi.Output.secret(parsed) if alias in secret else parsed

    import pulumi

    secret = model.secret_outputs()
    return read


def parse_field(model: type[StackOutputs], name: str, value: Any) -> Any:
    """`value` (as `pulumi stack output --json` gives it) parsed as field `name` of `model`; raises
    pydantic's ValidationError."""
    return _adapter(model, name).validate_python(value)
