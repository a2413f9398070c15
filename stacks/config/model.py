"""The pydantic model of an environment stack's `swan:` configuration.

One model serves three readers: `swan check` (operator feedback), the Pulumi program (typed
values instead of string look-ups) and editors (the exported JSON schema). Keys are camelCase
as in every Pulumi config file; unknown keys are errors so typos never pass silently.
"""
from __future__ import annotations

import ipaddress
import re
import types
import typing
from typing import Annotated, Any, Literal

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, ValidationError, ValidationInfo,
                      WithJsonSchema,
                      field_validator, model_validator)
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError

SECRET_PLACEHOLDER = "[secret]"

_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_DURATION = re.compile(r"^([0-9]+)(s|m|h|d)$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")
_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60, "m": 10**-3}


def _quantity(value: str) -> str:
    if not _QUANTITY.match(value):
        raise ValueError(f"'{value}' is not a Kubernetes quantity (examples: 16Gi, 512Mi, 2, 500m)")
    return value


def quantity_value(quantity: str) -> float:
    """A Kubernetes quantity in base units (bytes or cores)."""
    match = _QUANTITY.match(quantity)
    assert match, quantity
    unit = match.group(2) or ""
    return float(quantity[: len(quantity) - len(unit)]) * _UNITS[unit]


def _byte_size(value: str) -> str:
    """A memory or disk size: a bare number would be bytes, which nobody means."""
    if not re.search(r"[A-Za-z]$", value):
        raise ValueError(f"'{value}' has no unit, so it would be {value} bytes; write e.g. {value}Gi")
    return value


MAX_DURATION_DAYS = 365


def _duration(value: str) -> str:
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"'{value}' is not a duration (examples: 30m, 4h, 2d)")
    if duration_seconds(value) > MAX_DURATION_DAYS * 86400:
        raise ValueError(f"'{value}' is longer than {MAX_DURATION_DAYS} days")
    return value


def _positive(value: str) -> str:
    if duration_seconds(value) == 0:
        raise ValueError(f"'{value}' is zero; this duration must be positive")
    return value


def duration_seconds(value: str) -> int:
    number, unit = _DURATION.match(value).groups()  # type: ignore[union-attr]
    return int(number) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.match(value):
        raise ValueError(f"'{value}' is not a valid name (lower-case letters, digits and '-', at most 63)")
    return value


def _hostname(value: str) -> str:
    if not _HOSTNAME.match(value):
        raise ValueError(f"'{value}' is not a valid DNS host name")
    return value


def _cidr(value: str) -> str:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"'{value}' is not a CIDR block (example: 192.0.2.0/24): {exc}") from None
    return str(network)


def _restricted_cidr(value: str) -> str:
    """A source range for a sensitive port: anything but the whole internet."""
    cidr = _cidr(value)
    if ipaddress.ip_network(cidr).prefixlen == 0:
        raise ValueError(f"'{value}' opens the port to the whole internet; list the admin or office ranges instead")
    return cidr


def _not_everything(cidrs: list[str]) -> list[str]:
    """Ranges that together cover the whole internet (0.0.0.0/1 + 128.0.0.0/1) are as open as /0."""
    for version in (4, 6):
        networks = [ipaddress.ip_network(c) for c in cidrs if ipaddress.ip_network(c).version == version]
        if any(n.prefixlen == 0 for n in ipaddress.collapse_addresses(networks)):  # type: ignore[type-var]
            raise ValueError(f"{', '.join(map(str, networks))} together cover the whole IPv{version} internet; "
                             "list the admin or office ranges instead")
    return cidrs


def _ip_address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"'{value}' is not an IP address (example: 169.254.169.254)") from None


_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
_CRON_NAMES = {3: "jan feb mar apr may jun jul aug sep oct nov dec".split(), 4: "sun mon tue wed thu fri sat".split()}
_CRON_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


def _cron_schedule(value: str) -> str:
    """A Kubernetes CronJob schedule: five fields (or a macro such as @daily), each in range."""
    if value.strip() in _CRON_MACROS:
        return value
    fields = value.split()
    if len(fields) != 5:
        raise ValueError(f"'{value}' is not a cron schedule: it needs 5 fields (minute hour day month weekday), "
                         f"e.g. '30 3 * * *'")
    for i, (text, (what, low, high)) in enumerate(zip(fields, _CRON_FIELDS)):
        names = _CRON_NAMES.get(i, [])
        for part in text.split(","):
            spec, _, step = part.partition("/")
            bounds = [] if spec == "*" else spec.split("-", 1)
            numbers = [names.index(b.lower()) + (i == 3) if b.lower() in names else b for b in bounds]
            if (step and not step.isdigit()) or (step and int(step) == 0) or not all(
                    isinstance(n, int) or (n.isdigit() and n.isascii()) for n in numbers) or (
                    not bounds and spec != "*"):
                raise ValueError(f"'{value}': {what} '{text}' is not a cron field")
            if any(not low <= int(n) <= high for n in numbers):
                raise ValueError(f"'{value}': {what} '{text}' is outside {low}-{high}")
    return value


Quantity = Annotated[str, AfterValidator(_quantity)]
ByteSize = Annotated[str, AfterValidator(_quantity), AfterValidator(_byte_size)]
Cidr = Annotated[str, AfterValidator(_cidr)]
RestrictedCidr = Annotated[str, AfterValidator(_restricted_cidr)]
RestrictedCidrs = Annotated[list[RestrictedCidr], AfterValidator(_not_everything)]
IpAddress = Annotated[str, AfterValidator(_ip_address)]
CronSchedule = Annotated[str, AfterValidator(_cron_schedule)]
Duration = Annotated[str, AfterValidator(_duration)]
PositiveDuration = Annotated[str, AfterValidator(_duration), AfterValidator(_positive)]
Name = Annotated[str, AfterValidator(_dns_label)]
Hostname = Annotated[str, AfterValidator(_hostname)]


def unique_names(names: list[str], what: str) -> None:
    """Names are how stacks refer to pools, sessions and hosts: a repeated one is an error."""
    if len(set(names)) != len(names):
        raise ValueError(f"{what} names must be unique, got {names}")


class Secret(str):
    """A value that came from a Pulumi `secure:` entry; offline it holds the placeholder."""


def _secret(value: Any, info: ValidationInfo) -> Secret:
    """Secrets must be `secure:` in the file; the Pulumi engine hands them over decrypted."""
    if isinstance(value, Secret):
        return value
    if isinstance(value, str) and not (info.context or {}).get("from_file"):
        return Secret(value)
    raise ValueError(
        "must be a Pulumi secret (`pulumi config set --secret --path ...` writes `secure: ...`), never plain text"
    )


def _leaf_types(annotation: Any) -> set:
    """The plain types a field annotation accepts (through Optional, unions and Literal)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return set().union(*(_leaf_types(a) for a in typing.get_args(annotation)))
    if origin is Literal:
        return {type(a) for a in typing.get_args(annotation)}
    if origin is Annotated:
        return _leaf_types(typing.get_args(annotation)[0])
    return {origin or annotation}


def _yaml_surprise(value: Any, accepts: set) -> str | None:
    """What YAML did to an unquoted value that the field would take the wrong way, if anything."""
    from stacks.config.strict_yaml import YamlNumber

    wants_text = any(isinstance(t, type) and issubclass(t, str) for t in accepts)
    wants_number = bool(accepts & {int, float})
    if isinstance(value, bool) and bool not in accepts and (wants_number or wants_text):
        return (f"YAML reads the unquoted word as the yes/no value {str(value).lower()}, "
                + ("not a number" if wants_number else "not text; quote it"))
    if isinstance(value, YamlNumber) and wants_text and not value.as_written():
        return (f"YAML reads {value.text} as the number {value} (and so does Pulumi); "
                f"quote it to keep it as written: \"{value.text}\"")
    return None


class Model(BaseModel):
    """Base: camelCase keys, unknown keys rejected, numbers accepted where text is expected
    (unless YAML changed them: `1.30` is the number 1.3, so it must be quoted)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        coerce_numbers_to_str=True,
        frozen=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _as_written(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        surprises = []
        for name, field in cls.model_fields.items():
            for key in dict.fromkeys((field.alias or name, name)):
                value = data.get(key)
                if isinstance(value, (bool, int, float)) and (why := _yaml_surprise(value, _leaf_types(field.annotation))):
                    surprises.append(InitErrorDetails(type=PydanticCustomError("yaml_type", why), loc=(key,), input=value))
        if surprises:
            raise ValidationError.from_exception_data(cls.__name__, surprises)
        return data


SecretValue = Annotated[
    Secret,
    PlainValidator(_secret),
    WithJsonSchema({"type": "object", "properties": {"secure": {"type": "string"}}, "required": ["secure"],
                    "additionalProperties": False, "description": "a Pulumi secret (pulumi config set --secret)"}),
]


class Image(Model):
    name: str
    tag: str


class OidcAuth(Model):
    """Production login through Keycloak, as CERN's SWAN does (SWAN's KeyCloakAuthenticator).

    Access and admin rights are *client roles* of `clientId` in the access token
    (`resource_access.<clientId>.roles`), not groups: `allowedRoles` may log in (empty: anyone the
    issuer authenticates), `adminRole` makes a hub admin. Course events name a role too.
    """

    type: Literal["oidc"] = "oidc"
    issuer: str = Field(pattern=r"^https://[^/\s]+(/[^\s]*)?$")
    client_id: str
    client_secret: SecretValue
    callback_url: str = Field(pattern=r"^https?://[^/\s]+/hub/oauth_callback$")
    allowed_roles: list[str] = []
    admin_role: str = "swan-admins"
    # The hub user name: a claim of the OIDC user info (oauthenticator's own default, `username`,
    # is not one Keycloak sends; CERN's SWAN uses `preferred_username`).
    username_claim: str = "preferred_username"
    # The numeric user id sessions run with (SWAN's image creates the user with it); a claim of the
    # OIDC user info, e.g. CERN's `cern_uid`. Without one every user runs as `defaultUid`.
    uid_claim: str | None = None
    default_uid: int = Field(1000, ge=1000, le=2**31 - 1)


class DummyAuth(Model):
    """Development login: any user name, one shared password (fine on a laptop kind cluster).
    Hub groups stand in for Keycloak roles (course events name one)."""

    type: Literal["dummy"] = "dummy"
    password: SecretValue | None = None
    default_uid: int = Field(1000, ge=1000, le=2**31 - 1)



class SoftwareStack(Model):
    """One LCG release + platform users can pick in SWAN's session form (served from CVMFS).
    SWAN's form offers GPUs only with a release whose name contains `cuda` (e.g. LCG_107_cuda)."""

    release: str = Field(pattern=r"^LCG_[0-9A-Za-z_.]+$")
    platform: str = Field(pattern=r"^[a-z0-9_]+-[a-z0-9]+-[a-z0-9]+-[a-z]+$")
    label: str | None = None

    @property
    def cuda(self) -> bool:
        return "cuda" in self.release.lower()


class SessionSize(Model):
    """A session size. SWAN's form offers cores and memory as separate choices, whole cores and
    whole GiB (it passes memory to the spawner as `<n>G`, which JupyterHub reads as GiB)."""

    name: Name
    cores: int = Field(gt=0, le=256)
    memory: Quantity
    default: bool = False

    @field_validator("memory")
    @classmethod
    def _whole_gib(cls, memory: str) -> str:
        if not re.fullmatch(r"[1-9][0-9]*Gi", memory):
            raise ValueError(f"'{memory}' is not a whole number of GiB (SWAN's form offers memory in GiB, e.g. 8Gi)")
        return memory

    @property
    def memory_gib(self) -> int:
        return int(self.memory[:-2])


class Culling(Model):
    """SWAN's culler (swanculler) stops sessions idle for `timeout` (SWAN's default is 4 hours);
    sessions holding a GPU are stopped after `gpuTimeout`, so idle GPUs go back to the pool."""

    enabled: bool = True
    timeout: PositiveDuration = "4h"
    gpu_timeout: PositiveDuration = "1h"
    every: PositiveDuration = "10m"

    @model_validator(mode="after")
    def _checked_often_enough(self) -> "Culling":
        shortest = min(duration_seconds(self.timeout), duration_seconds(self.gpu_timeout))
        if duration_seconds(self.every) > shortest:
            raise ValueError(f"every {self.every} is longer than the shortest idle timeout "
                             f"({min(self.timeout, self.gpu_timeout, key=duration_seconds)}): sessions would "
                             "run that much longer than promised")
        return self


class Tls(Model):
    enabled: bool = False
    issuer: Literal["letsencrypt", "letsencrypt-staging", "selfsigned"] = "letsencrypt"
    email: str | None = None

    @model_validator(mode="after")
    def _email_for_acme(self) -> "Tls":
        if self.enabled and self.issuer.startswith("letsencrypt") and not self.email:
            raise ValueError("tls.email is required for a Let's Encrypt issuer")
        return self


class Hub(Model):
    """The SWAN chart (JupyterHub) as users see it."""

    chart_version: str = "2.3.73"
    # The SWAN chart is published by CERN; mirror it and point this at the mirror if needed.
    chart_repository: str = "oci://registry.cern.ch/swan/charts"
    host: Hostname
    # The newest public SWAN hub image; its Python packages are what tests/session runs the hub with
    # (tests/session/hub-image-requirements.txt). The swan chart's own default, v3.69, is not public.
    image: Image = Image(name="gitlab-registry.cern.ch/swan/docker-images/jupyterhub", tag="v3.67")
    user_image: Image = Image(name="gitlab-registry.cern.ch/swan/docker-images/jupyter/swan", tag="v0.0.54")
    auth: DummyAuth | OidcAuth = Field(default_factory=DummyAuth, discriminator="type")
    admins: list[str] = []
    software: list[SoftwareStack] = Field(min_length=1)
    sessions: list[SessionSize] = Field(min_length=1)
    culling: Culling = Culling()
    tls: Tls = Tls()

    @field_validator("sessions")
    @classmethod
    def _unique_sessions(cls, sessions: list[SessionSize]) -> list[SessionSize]:
        unique_names([s.name for s in sessions], "session")
        if sum(s.default for s in sessions) > 1:
            raise ValueError("at most one session size may be the default")
        return sessions


class Cvmfs(Model):
    enabled: bool = True
    repositories: list[str] = ["sft.cern.ch", "sft-nightlies.cern.ch", "cvmfs-config.cern.ch"]
    http_proxy: str = "DIRECT"
    cache_quota_mb: int = Field(20000, ge=1000)


class EosInstance(Model):
    name: Name
    host: str
    mount_dir: str = Field(pattern=r"^/eos/[a-z0-9/_-]*/$")


class Eos(Model):
    """EOS through the eosxd CSI driver. Homes are `/eos/user/<u>/<user>` with each user's own
    identity, as SWAN does it: Keycloak exchanges the login token for one of `tokenAudience`,
    which the session hands to EOS (the node's keytab only serves the mount itself)."""

    enabled: bool = False
    instances: list[EosInstance] = []
    keytab: SecretValue | None = None
    token_audience: str = "eos-service"


    @model_validator(mode="after")
    def _instances_when_enabled(self) -> "Eos":
        if self.enabled and not self.instances:
            raise ValueError("eos.instances must list at least one instance when EOS is enabled")
        if self.enabled and self.keytab is None:
            raise ValueError("eos.keytab (a secret) is required when EOS is enabled")
        return self


class Home(Model):
    """Where `$HOME` lives when EOS is off: a per-user volume of the cluster's storage class."""

    size: ByteSize = "10Gi"
    storage_class: str | None = None


class Storage(Model):
    cvmfs: Cvmfs = Cvmfs()
    eos: Eos = Eos()
    home: Home = Home()


GpuModelName = Literal["A100-40GB", "A100-80GB", "H100-80GB", "H200-141GB", "A30-24GB",
                       "T4", "V100", "A10", "L4", "L40S"]


class NodeGpu(Model):
    model: GpuModelName
    per_node: int = Field(1, ge=1, le=16)
    mig_config: str = "all-disabled"

    @model_validator(mode="after")
    def _known_layout(self) -> "NodeGpu":
        """The layout label must name a config the gpu-operator holds (the planner's catalog)."""
        if self.mig_config != "all-disabled":
            from stacks.planner.mig_parted import catalog

            names = catalog([self.model])["mig-configs"]
            if self.mig_config not in names:
                examples = ", ".join(sorted(names)[:3])
                raise ValueError(f"migConfig '{self.mig_config}' is not a layout of {self.model} "
                                 f"(examples: {examples}; `swan gpu pack` prints layout names)")
        return self


class Taint(Model):
    key: str
    value: str = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"


class NodePool(Model):
    """A group of identical nodes; the cloud layer turns it into kind workers, a Magnum node group or an OKE node pool."""

    name: Name
    count: int = Field(1, ge=0, le=1000)
    min_count: int | None = Field(None, ge=0)
    max_count: int | None = Field(None, ge=1)
    flavor: str | None = None        # OpenStack flavor or OCI shape
    ocpus: float | None = Field(None, gt=0)        # OCI flex shapes
    memory_gb: float | None = Field(None, gt=0)    # OCI flex shapes
    availability_domains: list[str] = []
    gpu: NodeGpu | None = None
    labels: dict[str, str] = {}
    taints: list[Taint] = []

    @model_validator(mode="after")
    def _autoscaling_bounds(self) -> "NodePool":
        if self.min_count is not None and self.max_count is not None and self.min_count > self.max_count:
            raise ValueError(f"minCount {self.min_count} is larger than maxCount {self.max_count}")
        if self.min_count is not None and self.count < self.min_count:
            raise ValueError(f"count {self.count} is smaller than minCount {self.min_count}")
        if self.max_count is not None and self.count > self.max_count:
            raise ValueError(f"count {self.count} is larger than maxCount {self.max_count}")
        return self


class EventGpuOffer(Model):
    """GPU capacity an environment sets aside for course events: which instance type carries a
    GPU model, and how many GPUs of it the cloud quota allows events to add in total."""

    model: GpuModelName
    flavor: str | None = None        # OpenStack flavor / OCI shape giving this GPU
    gpus_per_node: int = Field(1, ge=1, le=16)
    max_gpus: int = Field(ge=0)
    availability_domains: list[str] = []


class KindCluster(Model):
    """A local kind cluster for development (Docker and the kind CLI on the operator's machine)."""

    name: Name = "swan"
    node_image: str = "kindest/node:v1.31.2"
    http_port: int = Field(80, ge=1, le=65535)
    https_port: int = Field(443, ge=1, le=65535)
    cvmfs_host_path: str = Field("/var/cvmfs", pattern=r"^/\S*$")

    @model_validator(mode="after")
    def _two_ports(self) -> "KindCluster":
        if self.http_port == self.https_port:
            raise ValueError(f"httpPort and httpsPort are both {self.http_port}; the host cannot bind one port twice")
        return self


class Ingress(Model):
    enabled: bool = True
    class_name: str = "nginx"
    chart_version: str = "4.11.3"


class Gpu(Model):
    """NVIDIA gpu-operator; deployed only when a node pool declares GPUs."""

    operator_version: str = "v24.9.0"
    mig_strategy: Literal["mixed", "single"] = "mixed"


class Spark(Model):
    enabled: bool = True
    namespace: Name = "spark"
    max_executors_per_user: int = Field(10, ge=0)


class Monitoring(Model):
    """ServiceMonitors for an existing kube-prometheus-stack; its Prometheus scrapes the hub's
    metrics with a hub token, through the hub's NetworkPolicy."""

    enabled: bool = False
    release_label: str = "kube-prometheus-stack"
    prometheus_namespace: Name = "monitoring"
    prometheus_pod_labels: dict[str, str] = {"app.kubernetes.io/name": "prometheus"}


class UserQuota(Model):
    """Caps for the whole user namespace (ResourceQuota) and per container (LimitRange)."""

    cpu: Quantity = "200"
    memory: ByteSize = "800Gi"
    pods: int = Field(200, ge=1)
    gpus: int = Field(0, ge=0)
    max_container_cpu: Quantity = "16"
    max_container_memory: ByteSize = "64Gi"


class Security(Model):
    user_namespace: Name = "swan-users"
    hub_namespace: Name = "swan"
    quota: UserQuota = UserQuota()
    # where the API server answers (the hub's and Spark sessions' egress); never the whole internet
    api_server_cidrs: RestrictedCidrs = Field(["10.96.0.1/32"], min_length=1)
    metadata_address: IpAddress = "169.254.169.254"


class Verification(Model):
    """The nightly in-cluster `swan verify` CronJob (its hub token is generated by the chart)."""

    enabled: bool = False
    schedule: CronSchedule = "30 3 * * *"
    image: Image = Image(name="registry.example.org/swan/verify", tag="0.1.0")
    max_sessions: int = Field(2, ge=1, le=10)
    spawn_timeout: PositiveDuration = "10m"
    job_deadline: PositiveDuration = "1h"        # the CronJob's activeDeadlineSeconds: the whole run
    # results as Prometheus metrics (prometheus-pushgateway)
    pushgateway_url: str | None = Field(None, pattern=r"^https?://[^/\s:]+(:[0-9]{1,5})?(/\S*)?$")

    @model_validator(mode="after")
    def _spawn_fits_the_job(self) -> "Verification":
        if duration_seconds(self.spawn_timeout) >= duration_seconds(self.job_deadline):
            raise ValueError(f"spawnTimeout {self.spawn_timeout} is not shorter than jobDeadline "
                             f"{self.job_deadline}: the job would be stopped before a session could start")
        return self


from stacks.config.clouds import Oci, OpenStack, cloud_problems  # noqa: E402 (clouds.py builds on Model)
from stacks.config.nodes_model import Nodes  # noqa: E402 (nodes_model.py builds on Model)


class EnvironmentConfig(Model):
    """An environment stack (kind, OpenStack or OCI): everything `pulumi up -s <env>` builds."""

    kind: Literal["environment"] = "environment"
    cloud: Literal["kind", "openstack", "oci"]
    kubernetes_version: str = Field("1.31", pattern=r"^1\.[0-9]+$")
    kind_cluster: KindCluster | None = None
    openstack: OpenStack | None = None
    oci: Oci | None = None
    node_pools: list[NodePool] = []
    event_gpus: list[EventGpuOffer] = []
    hub: Hub
    storage: Storage = Storage()
    gpu: Gpu = Gpu()
    ingress: Ingress = Ingress()
    spark: Spark = Spark()
    monitoring: Monitoring = Monitoring()
    security: Security = Security()
    verification: Verification = Verification()
    nodes: Nodes = Field(default_factory=lambda: Nodes())

    @field_validator("kind_cluster")
    @classmethod
    def _kind_only(cls, kind_cluster: KindCluster | None, info: ValidationInfo) -> KindCluster | None:
        cloud = info.data.get("cloud")
        if kind_cluster is not None and cloud not in (None, "kind"):
            raise ValueError(f"kindCluster is only valid with cloud: kind (this stack has cloud: {cloud})")
        return kind_cluster

    @field_validator("node_pools")
    @classmethod
    def _unique_pools(cls, pools: list[NodePool]) -> list[NodePool]:
        unique_names([p.name for p in pools], "nodePools")
        return pools

    @field_validator("nodes")
    @classmethod
    def _nodes_fit_the_stack(cls, nodes: Nodes, info: ValidationInfo) -> Nodes:
        cloud, storage = info.data.get("cloud"), info.data.get("storage")
        if nodes.vm_groups and cloud not in (None, "openstack"):
            raise ValueError(f"vmGroups are OpenStack instances; this stack has cloud: {cloud}")
        if storage and not storage.eos.enabled and any("eos_client" in m.roles for m in nodes.machines):
            raise ValueError("hosts with the eos_client role need storage.eos enabled (instances and keytab)")
        return nodes

    @model_validator(mode="after")
    def _swan_sessions_can_work(self) -> "EnvironmentConfig":
        """What SWAN's spawner and user image need from the rest of the config."""
        if self.storage.eos.enabled and self.hub.auth.type != "oidc":
            raise ValueError("storage.eos needs hub.auth.type oidc: EOS homes use each user's token from Keycloak")
        if (self.gpu_models or self.event_gpus) and not any(sw.cuda for sw in self.hub.software):
            raise ValueError("this stack has GPUs but no CUDA software stack: SWAN's form offers a GPU only with an "
                             "LCG release whose name contains 'cuda' (add one to hub.software, e.g. LCG_107_cuda)")
        return self

    @model_validator(mode="after")
    def _cloud_sections(self) -> "EnvironmentConfig":
        if problems := cloud_problems(self):  # the cloud section matches `cloud`; Magnum/OKE limits
            raise ValidationError.from_exception_data(type(self).__name__, problems)
        return self

    @property
    def gpu_models(self) -> list[str]:
        """GPU models the environment runs: its GPU pools', then those it offers to course events.

        The gpu-operator is deployed, with every MIG layout of these models, as soon as one
        exists, so an event's nodes find their layout without redeploying the environment.
        """
        pools = [p.gpu.model for p in self.node_pools if p.gpu]
        return list(dict.fromkeys([*pools, *(offer.model for offer in self.event_gpus)]))

