"""The pydantic model of an environment stack's `swan:` configuration.

One model serves three readers: `swan check` (operator feedback), the Pulumi program (typed
values instead of string look-ups) and editors (the exported JSON schema). Keys are camelCase
as in every Pulumi config file; unknown keys are errors so typos never pass silently.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import Field, ValidationError, ValidationInfo, create_model, field_validator, model_validator
from pydantic.alias_generators import to_camel

from stacks.config.nodes_model import Nodes
from stacks.config.types import (ByteSize, Cidr, CronSchedule, GpuModelName, HostAddress, Hostname, NodeGpu,
                                 IpAddress, Model, Name, PositiveDuration, Quantity, RestrictedCidrs, SecretValue,
                                 config_problem, duration_seconds, unique_names)
from stacks.infra.clouds import CLOUDS, cloud_of


class Image(Model):
    name: str
    """Image repository (registry and path), without the tag."""
    tag: str
    """Image tag."""


class OidcAuth(Model):
    """Production login through Keycloak, as CERN's SWAN does (SWAN's KeyCloakAuthenticator).

    Access and admin rights are *client roles* of `clientId` in the access token
    (`resource_access.<clientId>.roles`), not groups: `allowedRoles` may log in (empty: anyone the
    issuer authenticates), `adminRole` makes a hub admin. Course events name a role too.
    """

    type: Literal["oidc"] = "oidc"
    """`oidc`: login through Keycloak (SWAN's KeyCloakAuthenticator); required whenever `auth` is written."""
    issuer: str = Field(pattern=r"^https://[^/\s]+(/[^\s]*)?$")
    """OIDC issuer URL of the Keycloak realm (https://...)."""
    client_id: str
    """Keycloak client the hub logs in with; access and admin rights are client roles of this client."""
    client_secret: SecretValue
    """Secret of that client (a Pulumi secret); it reaches the hub in a Kubernetes Secret, never in Helm values."""
    callback_url: str = Field(pattern=r"^https?://[^/\s]+/hub/oauth_callback$")
    """OAuth callback registered for the client: `https://<hub.host>/hub/oauth_callback`."""
    allowed_roles: list[str] = []
    """Client roles allowed to log in; empty: anyone the issuer authenticates."""
    admin_role: str = "swan-admins"
    """Client role that makes a user a hub admin."""
    username_claim: str = "preferred_username"
    """Claim of the OIDC user info that becomes the hub user name (oauthenticator's own
    default, `username`, is not one Keycloak sends; CERN's SWAN uses `preferred_username`)."""
    uid_claim: str | None = None
    """Claim of the OIDC user info holding the numeric uid sessions run with (SWAN's image creates the user with
    it), e.g. CERN's `cern_uid` (a session fails to start without it); unset: every user runs as `defaultUid`."""
    default_uid: int = Field(1000, ge=1000, le=2**31 - 1)
    """Numeric uid sessions run with when `uidClaim` is unset, and for users
    that never logged in (the nightly verification's); 1000 or more."""


class DummyAuth(Model):
    """Development login: any user name, one shared password (fine on a laptop kind cluster).
    Hub groups stand in for Keycloak roles (course events name one)."""

    type: Literal["dummy"] = "dummy"
    """`dummy`: development login, any user name (JupyterHub's
    DummyAuthenticator); required whenever `auth` is written."""
    password: SecretValue | None = None
    """The one password every user logs in with (a Pulumi secret); unset: any password is accepted."""
    default_uid: int = Field(1000, ge=1000, le=2**31 - 1)
    """Numeric uid every session runs with (SWAN's image creates the user with it); 1000 or more."""



class SoftwareStack(Model):
    """One LCG release + platform users can pick in SWAN's session form (served from CVMFS).
    SWAN's form offers GPUs only with a release whose name contains `cuda` (e.g. LCG_107_cuda)."""

    release: str = Field(pattern=r"^LCG_[0-9A-Za-z_.]+$")
    """LCG release, e.g. LCG_107 or LCG_107_cuda; sessions use /cvmfs/sft.cern.ch/lcg/views/<release>/<platform>."""
    platform: str = Field(pattern=r"^[a-z0-9_]+-[a-z0-9]+-[a-z0-9]+-[a-z]+$")
    """Platform of the release, e.g. x86_64-el9-gcc13-opt."""
    label: str | None = None
    """Text the form shows for this release and platform instead of their names."""

    @property
    def cuda(self) -> bool:
        return "cuda" in self.release.lower()


class SessionSize(Model):
    """A session size. SWAN's form offers cores and memory as separate choices, whole cores and
    whole GiB (it passes memory to the spawner as `<n>G`, which JupyterHub reads as GiB)."""

    name: Name
    """Name of the size (unique); the nightly verification tries sizes by this name."""
    cores: int = Field(gt=0, le=256)
    """CPU cores the form offers with this size (a whole number, 1-256)."""
    memory: Quantity
    """Memory the form offers with this size, in whole GiB (e.g. 8Gi)."""
    default: bool = False
    """Preselected in the form (at most one size; without one, the first size is the default)."""

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
    sessions holding a GPU are stopped after `gpuTimeout`, or after their pool's `gpu.idleTimeout`
    (a course event's: `session.idleTimeout`), so idle GPUs go back to the pool."""

    enabled: bool = True
    """Run SWAN's culler (swanculler) as hub services, stopping idle sessions."""
    timeout: PositiveDuration = "4h"
    """Idle time after which a session is stopped."""
    gpu_timeout: PositiveDuration = "1h"
    """Idle time after which a session holding a GPU is stopped, so idle GPUs go back to the pool;
    applies only when the environment has GPUs (pools or eventGpus). A GPU pool may set its own
    (nodePools[].gpu.idleTimeout). Longer than timeout has no effect: every session is stopped then."""
    every: PositiveDuration = "10m"
    """How often the culler checks for idle sessions; at most the shortest timeout (this
    section's two and every GPU pool's gpu.idleTimeout)."""

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
    """Serve the hub over HTTPS: cert-manager, a ClusterIssuer and a certificate for the hub's Ingress."""
    issuer: Literal["letsencrypt", "letsencrypt-staging", "selfsigned"] = "letsencrypt"
    """Where certificates come from: Let's Encrypt (production
    or staging, HTTP-01 through the ingress) or self-signed."""
    email: str | None = None
    """ACME account e-mail; required with a Let's Encrypt issuer."""

    @model_validator(mode="after")
    def _email_for_acme(self) -> "Tls":
        if self.enabled and self.issuer.startswith("letsencrypt") and not self.email:
            raise ValueError("tls.email is required for a Let's Encrypt issuer")
        return self


class SecretKey(Model):
    """A key of a Kubernetes Secret the operator keeps in the hub namespace (the program never reads it)."""

    name: Name
    """Name of the Secret, in the hub namespace."""
    key: str = "password"
    """Key of the Secret holding the value."""


class VolumeBackupTarget(Model):
    """Backups on a volume the program claims in the hub namespace."""

    type: Literal["volume"] = "volume"
    """`volume`: a PersistentVolumeClaim `swan-hub-db-backups` in the hub namespace."""
    size: ByteSize = "5Gi"
    """Size of the backup volume, with a unit."""
    storage_class: str | None = None
    """StorageClass of the backup volume; unset: the cluster's default class."""


class S3BackupTarget(Model):
    """Backups in an S3-compatible object store (CERN's S3, OCI Object Storage, MinIO...)."""

    type: Literal["s3"]
    """`s3`: an S3-compatible bucket, written with rclone."""
    endpoint: str = Field(pattern=r"^https?://[^/\s]+/?$")
    """Endpoint URL of the object store (https://host[:port])."""
    bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    """Bucket the backups go to (it must exist)."""
    prefix: str = Field("swan-hub-db", pattern=r"^[A-Za-z0-9._/-]*$")
    """Folder inside the bucket."""
    region: str = "us-east-1"
    """Region the store expects in signatures (many S3-compatible stores accept any)."""
    credentials_secret: Name
    """Secret in the hub namespace with the keys `accessKeyId` and `secretAccessKey` (kept by the operator,
    never in the stack config)."""


class DatabaseBackup(Model):
    """A CronJob that copies the hub database (pg_dump, or SQLite's online backup) and keeps the newest copies."""

    schedule: CronSchedule = "15 2 * * *"
    """When it runs: a cron schedule (five fields, or a macro such as @daily)."""
    keep: int = Field(7, ge=1, le=1000)
    """How many backups are kept (the oldest beyond this number are deleted after each successful backup)."""
    target: VolumeBackupTarget | S3BackupTarget = Field(default_factory=VolumeBackupTarget, discriminator="type")
    """Where backups go: `volume` (a claim in the hub namespace) or `s3` (an object store), chosen by `type`."""
    image: Image = Image(name="registry.example.org/swan/hub-db-backup", tag="0.1.0")
    """Image with sqlite3, pg_dump/pg_restore and rclone (built from images/hub-db-backup/Dockerfile)."""


class HubDatabase(Model):
    """Where the hub keeps its state (users, servers, tokens): SQLite on the chart's volume, or PostgreSQL."""

    type: Literal["sqlite", "postgresql"] = "sqlite"
    """`sqlite`: a file on the chart's hub volume (fine for kind); `postgresql`: a server the operator runs."""
    host: HostAddress | None = None
    """PostgreSQL server (IP address or DNS name); required for `postgresql`."""
    port: int = Field(5432, ge=1, le=65535)
    """PostgreSQL port."""
    name: str = Field("jupyterhub", pattern=r"^[A-Za-z_][A-Za-z0-9_-]{0,62}$")
    """Database name (it must exist; the hub creates its tables)."""
    user: str = Field("jupyterhub", pattern=r"^[A-Za-z_][A-Za-z0-9_-]{0,62}$")
    """Database user."""
    password: SecretValue | None = None
    """The user's password (a Pulumi secret): the program keeps it in the Secret `swan-hub-db`."""
    password_secret: SecretKey | None = None
    """Or an existing Secret holding the password (instead of `password`)."""
    ssl_mode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = "prefer"
    """libpq's sslmode for the hub and the backups."""
    cidrs: list[Cidr] = []
    """Addresses of the server the hub's NetworkPolicy lets it reach on `port` (the host's own address when
    `host` is an IP address); required when `host` is a DNS name."""
    backup: DatabaseBackup | None = None
    """Scheduled backups with retention; unset: none."""

    @model_validator(mode="after")
    def _engine_settings(self) -> "HubDatabase":
        if self.type == "sqlite":
            given = [k for k in ("host", "password", "password_secret") if getattr(self, k) is not None]
            if given or self.cidrs:
                raise ValueError(f"{', '.join(given + (['cidrs'] if self.cidrs else []))}: only for type postgresql")
            return self
        if self.host is None:
            raise ValueError("type postgresql needs host")
        if (self.password is None) == (self.password_secret is None):
            raise ValueError("type postgresql needs exactly one of password (a Pulumi secret) or passwordSecret")
        if not self.cidrs and not _is_ip(self.host):
            raise ValueError(f"host {self.host} is a DNS name: list its addresses in cidrs "
                             "(the hub's NetworkPolicy only lets it reach those)")
        return self

    @property
    def egress_cidrs(self) -> list[str]:
        return list(self.cidrs) or ([f"{self.host}/{32 if ':' not in self.host else 128}"] if self.host else [])


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class Hub(Model):
    """The SWAN chart (JupyterHub) as users see it."""

    chart_version: str = "2.3.73"
    """Version of the swan Helm chart (SWAN's JupyterHub, cvmfs-csi and eosxd-csi)."""
    chart_repository: str = "oci://registry.cern.ch/swan/charts"
    """Where the swan chart is pulled from: an oci:// registry path (the chart is `<path>/swan`)
    or a Helm repository URL; the chart is published by CERN, point this at a mirror if needed."""
    host: Hostname
    """DNS name of the hub: the Ingress rule, the TLS certificate and the hub URL (`hubUrl` output)."""
    image: Image = Image(name="gitlab-registry.cern.ch/swan/docker-images/jupyterhub", tag="v3.67")
    """Hub image: by default the newest public SWAN hub image, whose Python packages tests/session runs the hub
    with (tests/session/hub-image-requirements.txt); the swan chart's own default, v3.69, is not public."""
    user_image: Image = Image(name="gitlab-registry.cern.ch/swan/docker-images/jupyter/swan", tag="v0.0.54")
    """Image of user sessions: SWAN's notebook image, whose start scripts create the user and drop to it."""
    auth: DummyAuth | OidcAuth = Field(default_factory=DummyAuth, discriminator="type")
    """How users log in: `dummy` (development) or `oidc` (Keycloak), chosen by `type`."""
    admins: list[str] = []
    """Hub admins (user names) with the dummy login; with `oidc`, `auth.adminRole` decides."""
    software: list[SoftwareStack] = Field(min_length=1)
    """Software stacks SWAN's form offers, in this order (at least one); GPUs need a release whose name
    contains `cuda`; the nightly verification uses the first (and the first CUDA one for GPUs)."""
    sessions: list[SessionSize] = Field(min_length=1)
    """Session sizes: the cores and memory choices of SWAN's form (at least one, names unique)."""
    culling: Culling = Culling()
    """Idle culling of sessions."""
    tls: Tls = Tls()
    """HTTPS for the hub."""
    database: HubDatabase = HubDatabase()
    """The hub database: SQLite on the chart's volume (default) or PostgreSQL, and its backups."""

    @field_validator("sessions")
    @classmethod
    def _unique_sessions(cls, sessions: list[SessionSize]) -> list[SessionSize]:
        unique_names([s.name for s in sessions], "session")
        if sum(s.default for s in sessions) > 1:
            raise ValueError("at most one session size may be the default")
        return sessions


class Cvmfs(Model):
    enabled: bool = True
    """Mount CVMFS at /cvmfs in sessions (the swan chart's cvmfs-csi,
    cache on the node): where the software stacks come from."""
    repositories: list[str] = ["sft.cern.ch", "sft-nightlies.cern.ch", "cvmfs-config.cern.ch"]
    """CVMFS repositories mounted (CVMFS_REPOSITORIES), in the cluster and on cvmfs_client hosts."""
    http_proxy: str = "DIRECT"
    """CVMFS_HTTP_PROXY of the CVMFS clients: a proxy list, or DIRECT for none."""
    cache_quota_mb: int = Field(20000, ge=1000)
    """CVMFS cache limit per node in MB (CVMFS_QUOTA_LIMIT; at least 1000)."""


class EosInstance(Model):
    name: Name
    """Instance name: its eosxd configuration is `fuse.<name>.conf` (eos_client hosts mount it at /eos/<name>)."""
    host: str
    """MGM host of the instance (host or host:port)."""
    mount_dir: str = Field(pattern=r"^/eos/[a-z0-9/_-]*/$")
    """Remote directory mounted, e.g. /eos/user/ (starts with /eos/ and ends with /)."""


class Eos(Model):
    """EOS through the eosxd CSI driver. Homes are `/eos/user/<u>/<user>` with each user's own
    identity, as SWAN does it: Keycloak exchanges the login token for one of `tokenAudience`,
    which the session hands to EOS (the node's keytab only serves the mount itself)."""

    enabled: bool = False
    """Mount EOS at /eos in sessions (eosxd CSI), homes on EOS;
    needs `hub.auth.type: oidc`, instances and a keytab."""
    instances: list[EosInstance] = []
    """EOS instances mounted (at least one when enabled)."""
    keytab: SecretValue | None = None
    """sss keytab the EOS mounts authenticate with (a Pulumi secret); required when enabled."""
    token_audience: str = "eos-service"
    """Audience Keycloak exchanges each user's login token for; the session hands that token to EOS."""


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
    """Size of each user's home volume, with a unit (e.g. 10Gi)."""
    storage_class: str | None = None
    """StorageClass of the home volumes; unset: the cluster's default class."""


class Storage(Model):
    cvmfs: Cvmfs = Cvmfs()
    """CVMFS, where the software stacks come from."""
    eos: Eos = Eos()
    """EOS storage and EOS homes."""
    home: Home = Home()
    """Home volumes, used when EOS is off."""


class Taint(Model):
    key: str
    """Taint key."""
    value: str = ""
    """Taint value (may be empty)."""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"
    """What the taint does to pods that do not tolerate it."""


class PoolGpu(NodeGpu):
    """The GPUs of a pool's nodes, and how long their sessions may stay idle."""

    idle_timeout: PositiveDuration | None = None
    """Idle time after which a session on this pool's GPUs (every GPU flavour of its model and MIG
    layout in SWAN's form) is stopped, instead of hub.culling.gpuTimeout; at most hub.culling.timeout
    and at least hub.culling.every. Pools offering the same flavour must agree (`swan check`)."""


class NodePool(Model):
    """A group of identical nodes; the cloud layer turns it into kind workers, a Magnum node group or an OKE node pool."""

    name: Name
    """Pool name (unique): node label `swan.cern.ch/node-pool`, and the Magnum node group or OKE node pool name."""
    count: int = Field(1, ge=0, le=1000)
    """Nodes in the pool at creation (kind: worker containers);
    at least 1 on OpenStack, within minCount and maxCount."""
    min_count: int | None = Field(None, ge=0)
    """Lower autoscaling bound; setting either bound turns on Magnum's autoscaler or
    OKE's cluster-autoscaler add-on (kind ignores both); at least 1 on OpenStack."""
    max_count: int | None = Field(None, ge=1)
    """Upper autoscaling bound (see minCount)."""
    flavor: str | None = None
    """OpenStack flavor or OCI shape of the nodes; required on those clouds, unused on kind."""
    ocpus: float | None = Field(None, gt=0)
    """OCPUs per node of an OCI flex shape (`*.Flex`): required there, refused with other shapes."""
    memory_gb: float | None = Field(None, gt=0)
    """Memory per node in GB of an OCI flex shape (`*.Flex`): required there, refused with other shapes."""
    availability_domains: list[str] = []
    """OCI availability domains the nodes are placed in, among
    oci.availabilityDomains (empty: all of those); refused on OpenStack."""
    gpu: PoolGpu | None = None
    """The GPUs of every node: labels for the model and MIG layout, the `nvidia.com/gpu=present:NoSchedule`
    taint, and the gpu-operator; on OpenStack not in the first pool."""
    labels: dict[str, str] = {}
    """Extra node labels; `swan.cern.ch/role` also names the Magnum node group role (default `gpu` or `worker`)."""
    taints: list[Taint] = []
    """Extra node taints (GPU pools get `nvidia.com/gpu=present:NoSchedule` anyway)."""

    @model_validator(mode="after")
    def _autoscaling_bounds(self) -> "NodePool":
        if self.min_count is not None and self.max_count is not None and self.min_count > self.max_count:
            raise ValueError(f"minCount {self.min_count} is larger than maxCount {self.max_count}")
        if self.min_count is not None and self.count < self.min_count:
            raise ValueError(f"count {self.count} is smaller than minCount {self.min_count}")
        if self.max_count is not None and self.count > self.max_count:
            raise ValueError(f"count {self.count} is larger than maxCount {self.max_count}")
        return self

    @property
    def autoscaled(self) -> bool:
        """Either bound is set: the cloud's autoscaler may change the node count (kind ignores it)."""
        return self.min_count is not None or self.max_count is not None

    @property
    def bounds(self) -> tuple[int, int]:
        """(fewest, most) nodes the pool may have; `count` stands in for an unset bound."""
        low = self.min_count if self.min_count is not None else self.count
        high = self.max_count if self.max_count is not None else self.count
        return low, high


class EventGpuOffer(Model):
    """GPU capacity an environment sets aside for course events: which instance type carries a
    GPU model, and how many GPUs of it the cloud quota allows events to add in total."""

    model: GpuModelName
    """GPU model offered to course events (an event uses the first entry of its model)."""
    flavor: str | None = None
    """OpenStack flavor or OCI shape giving this GPU; event nodes are created with it."""
    gpus_per_node: int = Field(1, ge=1, le=16)
    """GPUs in one node of that flavor (1-16); events add whole nodes."""
    max_gpus: int = Field(ge=0)
    """GPUs of this model all events together may add here (the cloud quota); an event's
    plan stays within it and `swan check` warns when overlapping events need more."""
    availability_domains: list[str] = []
    """OCI availability domains for the event nodes (empty: oci.availabilityDomains)."""
    lead_time: PositiveDuration = "30m"
    """How long nodes of this flavor take to come up and join (boot, drivers, MIG layout): `swan event
    reconcile` starts an event's `up` this long before its ready_by (the largest over the offers it uses)."""
    price_per_gpu_hour: float | None = Field(None, ge=0)
    """What one GPU of this offer costs for an hour; `swan event report` estimates an event's cost
    from it (GPU-hours of the event's nodes times this); unset: no cost in the report."""
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    """Currency of pricePerGpuHour, a three-letter ISO 4217 code (e.g. CHF, EUR); required with it."""

    @model_validator(mode="after")
    def _price_has_currency(self) -> "EventGpuOffer":
        if self.price_per_gpu_hour is not None and self.currency is None:
            raise ValueError("pricePerGpuHour needs currency (e.g. CHF or EUR)")
        if self.currency is not None and self.price_per_gpu_hour is None:
            raise ValueError("currency is set but pricePerGpuHour is not")
        return self


class Ingress(Model):
    enabled: bool = True
    """Deploy ingress-nginx and the hub's Ingress (off: no Ingress, no TLS; reach the hub another way)."""
    class_name: str = "nginx"
    """IngressClass of the hub's Ingress and of the ACME HTTP-01 solver."""
    chart_version: str = "4.11.3"
    """Version of the ingress-nginx Helm chart."""


class Gpu(Model):
    """NVIDIA gpu-operator; deployed only when a node pool declares GPUs."""

    operator_version: str = "v24.9.0"
    """Version of NVIDIA's gpu-operator chart, deployed when the environment has GPU models (pools or eventGpus)."""
    mig_strategy: Literal["mixed", "single", "none"] = "mixed"
    """gpu-operator MIG strategy: `mixed` exposes each MIG profile as its own resource (what event
    sessions request), `single` as nvidia.com/gpu, `none` ignores MIG; the device plugin refuses
    MPS sharing with `mixed`, so an environment sharing GPUs with MPS sets `none`."""


class Spark(Model):
    enabled: bool = True
    """Offer Spark on this cluster in SWAN's form: a namespace for
    executors, per-user driver accounts and their NetworkPolicies."""
    namespace: Name = "spark"
    """Namespace Spark executors run in."""
    max_executors_per_user: int = Field(10, ge=0)
    """Sizes the Spark namespace's pod quota: 10 times this value in total (not enforced per user)."""


class Monitoring(Model):
    """ServiceMonitors, alert rules and a Grafana dashboard for an existing kube-prometheus-stack; its
    Prometheus scrapes the hub's metrics with a hub token, through the hub's NetworkPolicy."""

    enabled: bool = False
    """ServiceMonitors for the hub (and ingress-nginx, cert-manager, the GPU operator's DCGM exporter), a hub
    token for Prometheus, a PrometheusRule with SWAN's alerts and a Grafana dashboard; needs
    kube-prometheus-stack's CRDs in the cluster."""
    release_label: str = "kube-prometheus-stack"
    """Value of the `release` label on the ServiceMonitors and the PrometheusRule: kube-prometheus-stack selects
    both by `release: <its Helm release name>` (its default serviceMonitorSelector and ruleSelector)."""
    grafana_namespace: Name = "monitoring"
    """Namespace of the dashboard ConfigMap: Grafana's own, where its dashboard sidecar looks by default."""
    dashboard_labels: dict[str, str] = Field({"grafana_dashboard": "1"}, min_length=1)
    """Labels of the dashboard ConfigMap, which Grafana's dashboard sidecar selects it by
    (kube-prometheus-stack: `grafana_dashboard: "1"`)."""
    stale_after: PositiveDuration = "2h"
    """How long past its schedule (and the job's deadline) the nightly verification may be silent, or the
    event reconciler past `eventReconcileInterval`, before an alert says its results are stale."""
    event_reconcile_interval: PositiveDuration = "15m"
    """How often `swan event reconcile` runs (its schedule), for the alert on a reconciler that stopped."""
    certificate_warning: PositiveDuration = "14d"
    """Alert when the hub's TLS certificate expires within this (cert-manager renews 30 days before)."""
    prometheus_namespace: Name = "monitoring"
    """Namespace of the Prometheus pods the hub's NetworkPolicy admits to its metrics."""
    prometheus_pod_labels: dict[str, str] = {"app.kubernetes.io/name": "prometheus"}
    """Labels of those Prometheus pods."""


class UserQuota(Model):
    """Caps for the whole user namespace (ResourceQuota) and per container (LimitRange)."""

    cpu: Quantity = "200"
    """CPU cores all sessions together may request and use (ResourceQuota requests.cpu and limits.cpu)."""
    memory: ByteSize = "800Gi"
    """Memory all sessions together may request and use (requests.memory and limits.memory)."""
    pods: int = Field(200, ge=1)
    """Pods in the user namespace at most."""
    gpus: int = Field(0, ge=0)
    """Requests of nvidia.com/gpu (whole GPUs and shared-GPU seats alike) all sessions together may
    hold, if fewer than the pools provide. Every GPU resource of the pools is capped at what they
    provide at their largest (maxCount where pools autoscale); 0 keeps that cap."""
    max_container_cpu: Quantity = "16"
    """Largest CPU limit one container may have (LimitRange max)."""
    max_container_memory: ByteSize = "64Gi"
    """Largest memory limit one container may have (LimitRange max)."""


class Security(Model):
    user_namespace: Name = "swan-users"
    """Namespace user sessions run in (Pod Security baseline, deny-all
    NetworkPolicies, quota); course events publish there too."""
    hub_namespace: Name = "swan"
    """Namespace of the swan chart (hub, proxy, CSI node plugins; Pod
    Security privileged) and of the nightly verification CronJob."""
    quota: UserQuota = UserQuota()
    """Caps of the user namespace: a ResourceQuota on sessions outside
    course events (which have their own) and a LimitRange per container."""
    api_server_cidrs: RestrictedCidrs = Field(["10.96.0.1/32"], min_length=1)
    """Where the Kubernetes API server answers (ports 443 and 6443): egress the hub
    and Spark drivers get, and other sessions are denied; never the whole internet."""
    metadata_address: IpAddress = "169.254.169.254"
    """Cloud instance metadata address user sessions may not reach (169.254.169.254 on OpenStack and OCI)."""


class Verification(Model):
    """The nightly in-cluster `swan verify` CronJob (its hub token is generated by the chart)."""

    enabled: bool = False
    """Deploy the nightly `swan verify` CronJob in the hub namespace (the chart generates its hub token)."""
    schedule: CronSchedule = "30 3 * * *"
    """When it runs: a cron schedule (five fields, or a macro such as @daily)."""
    image: Image = Image(name="registry.example.org/swan/verify", tag="0.1.0")
    """Image with the `swan` command (built from images/verify/Dockerfile)."""
    max_sessions: int = Field(2, ge=1, le=10)
    """Session options tried per run at most (1-10): the default size
    first, then a GPU session per GPU pool, then the other sizes."""
    spawn_timeout: PositiveDuration = "10m"
    """Time a session may take to start (`--spawn-timeout`); shorter than jobDeadline."""
    job_deadline: PositiveDuration = "1h"
    """Time the whole run may take (the CronJob's activeDeadlineSeconds)."""
    pushgateway_url: str | None = Field(None, pattern=r"^https?://[^/\s:]+(:[0-9]{1,5})?(/\S*)?$")
    """Prometheus Pushgateway the results go to as metrics (http(s)://host[:port][/path]); unset: none."""

    @model_validator(mode="after")
    def _spawn_fits_the_job(self) -> "Verification":
        if duration_seconds(self.spawn_timeout) >= duration_seconds(self.job_deadline):
            raise ValueError(f"spawnTimeout {self.spawn_timeout} is not shorter than jobDeadline "
                             f"{self.job_deadline}: the job would be stopped before a session could start")
        return self




# What `swan:replace` may name: the parts `swan check --against` guards (stacks/changes/guard.py).
ReplaceTarget = Annotated[str, Field(pattern=r"^(cluster|network|subnet|router|nodePool:[a-z0-9]([-a-z0-9]*[a-z0-9])?)$")]


class _Stack(Model):
    kind: Literal["environment"] = "environment"
    """Stack kind: `environment` (the default) for an environment stack."""
    cloud: Literal[tuple(CLOUDS)]
    """Where the cluster runs: a local kind cluster, OpenStack
    (Magnum) or OCI (OKE); only that cloud's section may be set."""
    kubernetes_version: str = Field("1.31", pattern=r"^1\.[0-9]+$")
    """Kubernetes minor version, quoted ("1.31"): charts are templated and objects validated
    for it, node hosts install it, and oci.kubernetesVersion must be a release of it."""


def _cloud_sections() -> dict:
    """One optional field per registered cloud: its package's config section (stacks/infra/<cloud>/config.py)."""
    fields = {}
    for cloud in CLOUDS.values():
        when = "required with it" if cloud.section_required else "defaults when absent"
        fields[cloud.section] = (cloud.section_model() | None, Field(
            None, description=f"The {cloud.title} cluster (cloud: {cloud.name} only; {when})."))
    return fields


# The environment's first keys, then each cloud's section, in the registry's order.
_StackWithClouds = create_model("_StackWithClouds", __base__=_Stack, __module__=__name__, **_cloud_sections())


class EnvironmentConfig(_StackWithClouds):
    """An environment stack (kind, OpenStack or OCI): everything `pulumi up -s <env>` builds."""

    tier: Literal["development", "staging", "production"] = "development"
    """What the environment serves: `production` makes `swan check` warn when the stack's secrets are
    encrypted with a passphrase (a cloud KMS or Vault provider is expected for a team); events on a
    production environment are held to the same rule. Changes nothing that is deployed."""
    node_pools: list[NodePool] = []
    """Pools of identical worker nodes (names unique); at least one on a cloud, and
    on OpenStack the first becomes Magnum's default worker group, a CPU pool."""
    event_gpus: list[EventGpuOffer] = []
    """GPU capacity set aside for course events, per GPU model (not on kind: a kind cluster cannot grow)."""
    hub: Hub
    """The SWAN hub (JupyterHub through the swan chart) as users see it."""
    storage: Storage = Storage()
    """What sessions mount: CVMFS, EOS, or a home volume."""
    gpu: Gpu = Gpu()
    """NVIDIA gpu-operator, deployed only when the environment has GPU models."""
    ingress: Ingress = Ingress()
    """Ingress controller and the hub's Ingress."""
    spark: Spark = Spark()
    """Spark on Kubernetes from notebooks."""
    monitoring: Monitoring = Monitoring()
    """Prometheus scraping, SWAN's alert rules and a Grafana dashboard through an existing kube-prometheus-stack."""
    security: Security = Security()
    """Namespaces, quotas and network boundaries of user sessions."""
    verification: Verification = Verification()
    """The nightly in-cluster verification."""
    nodes: Nodes = Field(default_factory=lambda: Nodes())
    """Machines outside managed Kubernetes (static hosts, OpenStack VM groups), configured by the Ansible roles."""
    replace: list[ReplaceTarget] = []
    """Resources this change may REPLACE (delete and create again): `cluster`, `network`, `subnet`, `router`
    or `nodePool:<name>`. `swan check STACK --against DIR` refuses a change that replaces one of them
    unless it is listed here; remove the entry once the change is deployed."""

    @field_validator("node_pools")
    @classmethod
    def _unique_pools(cls, pools: list[NodePool]) -> list[NodePool]:
        unique_names([p.name for p in pools], "nodePools")
        return pools

    @model_validator(mode="after")
    def _replace_names_pools(self) -> "EnvironmentConfig":
        from pydantic_core import InitErrorDetails, PydanticCustomError

        pools = {p.name for p in self.node_pools}
        problems = [InitErrorDetails(type=PydanticCustomError("replace", message), loc=("replace", i), input=target)
                    for i, target in enumerate(self.replace)
                    if target.startswith("nodePool:") and target.split(":", 1)[1] not in pools
                    for message in [f"no node pool named {target.split(':', 1)[1]!r} (pools: {', '.join(sorted(pools)) or 'none'})"]]
        if len(set(self.replace)) != len(self.replace):
            problems.append(InitErrorDetails(type=PydanticCustomError("replace", "lists a resource twice"),
                                             loc=("replace",), input=self.replace))
        if problems:
            raise ValidationError.from_exception_data(type(self).__name__, problems)
        return self

    @field_validator("nodes")
    @classmethod
    def _nodes_fit_the_stack(cls, nodes: Nodes, info: ValidationInfo) -> Nodes:
        storage = info.data.get("storage")
        if storage and not storage.eos.enabled and any("eos_client" in m.roles for m in nodes.machines):
            raise ValueError("hosts with the eos_client role need storage.eos enabled (instances and keytab)")
        return nodes

    @model_validator(mode="after")
    def _swan_sessions_can_work(self) -> "EnvironmentConfig":
        """What SWAN's spawner and user image need from the rest of the config."""
        if self.storage.eos.enabled and self.hub.auth.type != "oidc":
            raise ValueError("storage.eos needs hub.auth.type oidc: EOS homes use each user's token from Keycloak")
        mps = [i for i, p in enumerate(self.node_pools) if p.gpu and p.gpu.sharing and p.gpu.sharing.mode == "mps"]
        if mps and self.gpu.mig_strategy == "mixed":
            raise ValidationError.from_exception_data(type(self).__name__, [config_problem(
                ("nodePools", i, "gpu", "sharing", "mode"), "NVIDIA's device plugin refuses MPS with gpu.migStrategy "
                "mixed (the gpu-operator passes it to every node): set gpu.migStrategy to none, or share with "
                "time-slicing", "mps") for i in mps])
        if (self.gpu_models or self.event_gpus) and not any(sw.cuda for sw in self.hub.software):
            raise ValueError("this stack has GPUs but no CUDA software stack: SWAN's form offers a GPU only with an "
                             "LCG release whose name contains 'cuda' (add one to hub.software, e.g. LCG_107_cuda)")
        return self

    @model_validator(mode="after")
    def _cloud_sections(self) -> "EnvironmentConfig":
        """Only the section of `cloud` is set, and that cloud's own rules (Magnum's, OKE's limits) hold."""
        problems, mine = [], cloud_of(self)
        for cloud in CLOUDS.values():
            section = getattr(self, cloud.section)
            if cloud is mine and section is None and cloud.section_required:
                problems.append(config_problem((to_camel(cloud.section),), f"required with cloud: {cloud.name} "
                                               "(network, images, who may reach the API)", None))
            elif cloud is not mine and section is not None:
                problems.append(config_problem((to_camel(cloud.section),), f"only valid with cloud: {cloud.name} "
                                               f"(this stack has cloud: {self.cloud})", cloud.name))
        if self.nodes.vm_groups and not mine.vm_groups:
            able = " or ".join(c.title for c in CLOUDS.values() if c.vm_groups)
            problems.append(config_problem(("nodes", "vmGroups"), f"vmGroups are {able} instances; this stack has "
                                           f"cloud: {self.cloud}", self.cloud))
        if problems:
            raise ValidationError.from_exception_data(type(self).__name__, problems)
        if mine.metadata_address and self.security.metadata_address != mine.metadata_address:
            problems.append(config_problem(("security", "metadataAddress"),
                                           f"the metadata service of {self.cloud} is {mine.metadata_address}; "
                                           "user pods must not reach it", self.security.metadata_address))
        if problems := problems + mine.problems(self):
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


    @model_validator(mode="after")
    def _gpu_pools_culled_as_promised(self) -> "EnvironmentConfig":
        """A pool's gpu.idleTimeout: checked by hub.culling.every often enough, and no longer than
        hub.culling.timeout (SWAN's culler for every session sees GPU sessions too: a JupyterHub scope
        can be limited to a group, never to everyone but a group)."""
        from pydantic_core import InitErrorDetails, PydanticCustomError

        culling, problems = self.hub.culling, []
        for i, pool in enumerate(self.node_pools):
            idle = pool.gpu.idle_timeout if pool.gpu else None
            if idle is None:
                continue
            if duration_seconds(idle) > duration_seconds(culling.timeout):
                message = (f"idleTimeout {idle} is longer than hub.culling.timeout {culling.timeout}: SWAN's "
                           f"culler stops every idle session at {culling.timeout}")
            elif duration_seconds(idle) < duration_seconds(culling.every):
                message = (f"idleTimeout {idle} is shorter than hub.culling.every {culling.every}: sessions "
                           "would run that much longer than promised")
            else:
                continue
            problems.append(InitErrorDetails(type=PydanticCustomError("culling", message),
                                             loc=("nodePools", i, "gpu", "idleTimeout"), input=idle))
        if problems:
            raise ValidationError.from_exception_data(type(self).__name__, problems)
        return self
