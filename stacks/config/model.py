"""The pydantic model of an environment stack's `swan:` configuration.

One model serves three readers: `swan check` (operator feedback), the Pulumi program (typed
values instead of string look-ups) and editors (the exported JSON schema). Keys are camelCase
as in every Pulumi config file; unknown keys are errors so typos never pass silently.
"""
from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from stacks.config.clouds import Oci, OpenStack, cloud_problems
from stacks.config.nodes_model import Nodes
from stacks.config.types import (ByteSize, CronSchedule, GpuModelName, Hostname, NodeGpu,
                                 IpAddress, Model, Name, PositiveDuration, Quantity, RestrictedCidrs, SecretValue,
                                 duration_seconds, unique_names)


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

