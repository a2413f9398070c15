"""The nightly in-cluster run of `swan verify` as a CronJob, and the stack's `verify` output.

It tries the default session, one GPU session per GPU pool and, while a course event is open,
the event's GPU flavour as a member of the event's group (the events are read from the user
namespace, where the event stacks publish them for the hub). Its cluster checks run against the
environment's expectations (`cluster_expectations`: every pool with its GPU resources, labels and
taints; the platform's namespaces; the hub's TLS secret), mounted as `expect.yaml`; the `verify`
output (`verify_output`) carries the same document for `swan verify STACK`.

The hub registers a `swan-verify` service whose API token the Zero-to-JupyterHub chart
generates and keeps in its `hub` Secret, so no token passes through Pulumi state or config.
Results go to a Prometheus Pushgateway when one is configured, so alerts fire unattended.
"""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from stacks import yaml_text
from stacks.config.model import EnvironmentConfig, NodePool
from stacks.config.types import duration_seconds
from stacks.infra.clouds import cloud_of
from stacks.platform_layer.gpu import NAMESPACE as GPU_NAMESPACE
from stacks.platform_layer.k8s import PlatformArgs, child, meta
from stacks.platform_layer.gpu_flavours import flavours
from stacks.platform_layer.swan_form import api_user_options
from stacks.stack_outputs import Expectations, SecretRef, pool_expectation
from stacks.verify.access import ApiRead, rbac_rules, read_of
from stacks.verify.cluster import ClusterVerification, load_expectations
from stacks.verify.events import config_maps_path

LCG_VIEWS = "/cvmfs/sft.cern.ch/lcg/views"  # where SWAN's spawner (lcg_view_path) finds LCG releases

TOKEN_ENV = "SWAN_VERIFY_TOKEN"
SERVICE = "swan-verify"
SESSIONS_CONFIG_MAP = "swan-verify-sessions"  # the SWAN user options of each session tried
SESSIONS_FILE = "/etc/swan-verify/sessions.yaml"
EVENT_SESSION_FILE = "/etc/swan-verify/event-session.yaml"  # the user options of an event session
EXPECT_FILE = "/etc/swan-verify/expect.yaml"  # the cluster expectations (`--expect`)
# The hub's certificate, issued by cert-manager for its Ingress (stacks.platform_layer.hub.TLS_SECRET,
# named here again because hub imports this module; a test keeps the two equal).
TLS_SECRET = "swan-tls"
# What the verification needs from the hub: create and remove a test user, start and use its server;
# where it tries course events, also put the user in an event's group.
SCOPES = ["admin:users", "admin:servers", "access:servers"]
EVENT_SCOPES = ["admin:groups"]


def hub_service_values(cfg: EnvironmentConfig) -> dict:
    """The `hub:` values registering the service and its role (the chart generates the token)."""
    scopes = SCOPES + (EVENT_SCOPES if event_session_options(cfg) else [])
    return {"services": {SERVICE: {}},
            "loadRoles": {SERVICE: {"description": "nightly end-to-end verification", "scopes": scopes,
                                    "services": [SERVICE]}}}


def gpu_sessions(cfg: EnvironmentConfig) -> dict[str, dict]:
    """One GPU session per GPU pool, as a user picks it: the pool's flavour (as SWAN's spawner names
    it from the nodes) with the first CUDA software stack."""
    cuda = next((sw for sw in cfg.hub.software if sw.cuda), None)
    sessions = {}
    for pool in cfg.node_pools:
        if pool.gpu and cuda:
            flavour = sorted(flavours(pool.gpu))[0]
            sessions[f"gpu-{pool.name}"] = api_user_options(cfg, cuda.release, cuda.platform, gpu=flavour)
    return sessions


def session_profiles(cfg: EnvironmentConfig) -> list[str]:
    """Session options to try: the default size, then a GPU session per GPU pool, then the other
    sizes, up to the cap."""
    default = next((s for s in cfg.hub.sessions if s.default), cfg.hub.sessions[0])
    others = [s.name for s in cfg.hub.sessions if s is not default]
    return [default.name, *gpu_sessions(cfg), *others][: cfg.verification.max_sessions]


def session_options(cfg: EnvironmentConfig) -> dict[str, dict]:
    """For each session `swan verify` tries, the SWAN user options the hub API takes (what SWAN's
    form gives for that size, or GPU, with the first software stack)."""
    sw = cfg.hub.software[0]
    options = {s.name: api_user_options(cfg, sw.release, sw.platform, s) for s in cfg.hub.sessions}
    options.update(gpu_sessions(cfg))
    return {name: options[name] for name in session_profiles(cfg)}


def event_session_options(cfg: EnvironmentConfig) -> dict | None:
    """The user options of a course event's session, as a member picks it: the first CUDA software
    stack and the default size (the verification sets `gpu` to the event's flavour). None when the
    environment offers no CUDA stack, so no GPU session at all."""
    cuda = next((sw for sw in cfg.hub.software if sw.cuda), None)
    return api_user_options(cfg, cuda.release, cuda.platform) if cuda else None


def software_paths(cfg: EnvironmentConfig) -> list[str]:
    return [f"{LCG_VIEWS}/{sw.release}/{sw.platform}" for sw in cfg.hub.software]


def pool_nodes(cfg: EnvironmentConfig, pool: NodePool) -> int:
    """The fewest nodes the pool has: its autoscaler's lower bound (`minCount`, else `count`) where the
    cloud's pools autoscale; exactly `count` otherwise (kind's workers)."""
    return pool.bounds[0] if cloud_of(cfg).pools_autoscale else pool.count


def workload_namespaces(cfg: EnvironmentConfig) -> list[str]:
    """Where the stack runs DaemonSets and Deployments: the platform's namespaces (hub and its charts'
    CSI plugins, ingress-nginx, cert-manager, the gpu-operator) and kube-system where the cloud layer
    adds its agents (the OpenStack node labelers, kube-router on OCI). A test checks that every workload
    of every render is in one of them."""
    found = [cfg.security.hub_namespace]
    if cfg.ingress.enabled:
        found.append("ingress-nginx")
        if cfg.hub.tls.enabled:
            found.append("cert-manager")
    if cfg.gpu_models:
        found.append(GPU_NAMESPACE)
    found += cloud_of(cfg).agent_namespaces_of(cfg)
    return sorted(set(found))


def cluster_expectations(cfg: EnvironmentConfig) -> Expectations:
    """What `swan verify`'s cluster checks should find in the environment: every node pool with its labels,
    taints and the GPU resources of its fewest nodes (`nvidia.com/gpu`, or `nvidia.com/mig-<profile>`
    per device of its MIG layout), the namespaces of its workloads, and the hub's TLS secret."""
    tls = [SecretRef(namespace=cfg.security.hub_namespace, name=TLS_SECRET)] \
        if cfg.ingress.enabled and cfg.hub.tls.enabled else []
    return Expectations(pools=[pool_expectation(pool, pool_nodes(cfg, pool)) for pool in cfg.node_pools],
                        namespaces=workload_namespaces(cfg), tls_secrets=tls)


def expectations_document(cfg: EnvironmentConfig) -> dict:
    """`expect.yaml` as the CronJob reads it (`tls_secrets` always written, so that none means none)."""
    return cluster_expectations(cfg).model_dump(mode="json", exclude_unset=True)


def api_reads(cfg: EnvironmentConfig) -> set[ApiRead]:
    """Everything the CronJob's run reads from the Kubernetes API: the cluster checks' declared paths for
    the environment's expectations, and the course events' ConfigMaps where it tries event sessions."""
    checks = ClusterVerification(None, load_expectations(expectations_document(cfg), EXPECT_FILE))
    paths = [path for check_paths in checks.paths().values() for path in check_paths]
    if event_session_options(cfg):
        paths.append(config_maps_path(cfg.security.user_namespace))
    return {read_of(path) for path in paths}


def verify_output(cfg: EnvironmentConfig, hub_url: pulumi.Input[str]) -> dict:
    """The stack's `verify` output (`stacks.stack_outputs.VerifySettings`): what `swan verify STACK` needs
    besides the kubeconfig and the node inventory, which are outputs of their own (secrets)."""
    settings: dict = {
        "hub_url": hub_url,
        "profiles": session_profiles(cfg),
        "session_options": session_options(cfg),
        "software_paths": software_paths(cfg)[:1] if cfg.storage.cvmfs.enabled else [],
        "expectations": cluster_expectations(cfg),
    }
    if event_session_options(cfg):
        settings.update(events_namespace=cfg.security.user_namespace, event_options=event_session_options(cfg))
    return settings


def verify_command(cfg: EnvironmentConfig, stack: str) -> list[str]:
    v = cfg.verification
    command = ["swan", "verify", "--only", "hub,cluster",
               "--hub-url", f"http://proxy-public.{cfg.security.hub_namespace}.svc.cluster.local/",
               "--token-env", TOKEN_ENV, "--max-sessions", str(v.max_sessions),
               "--spawn-timeout", str(duration_seconds(v.spawn_timeout))]
    for profile in session_profiles(cfg):
        command += ["--profile", profile]
    command += ["--session-options", SESSIONS_FILE, "--expect", EXPECT_FILE]
    if event_session_options(cfg):
        command += ["--events-namespace", cfg.security.user_namespace, "--event-options", EVENT_SESSION_FILE]
    if cfg.storage.cvmfs.enabled:
        command += ["--software-path", software_paths(cfg)[0]]
    if v.pushgateway_url:
        command += ["--pushgateway", v.pushgateway_url, "--metrics-label", f"environment={stack}"]
    return command


def cronjob_spec(cfg: EnvironmentConfig, stack: str) -> dict:
    v = cfg.verification
    container = {
        "name": "verify",
        "image": f"{v.image.name}:{v.image.tag}",
        "args": verify_command(cfg, stack),
        "env": [{"name": TOKEN_ENV, "valueFrom": {"secretKeyRef": {
            "name": "hub", "key": f"hub.services.{SERVICE}.apiToken"}}}],
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
        "volumeMounts": [{"name": "sessions", "mountPath": SESSIONS_FILE.rsplit("/", 1)[0], "readOnly": True}],
        "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
    }
    return {
        "schedule": v.schedule,
        "concurrencyPolicy": "Forbid",
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 5,
        "jobTemplate": {"spec": {"backoffLimit": 0, "activeDeadlineSeconds": duration_seconds(v.job_deadline),
                                 "template": {
            # the chart's proxy NetworkPolicy admits pods with this label
            "metadata": {"labels": {"app.kubernetes.io/name": "swan-verify",
                                    "hub.jupyter.org/network-access-proxy-http": "true"}},
            "spec": {"restartPolicy": "Never", "serviceAccountName": SERVICE, "containers": [container],
                     "volumes": [{"name": "sessions", "configMap": {"name": SESSIONS_CONFIG_MAP}}]},
        }}},
    }


class Verification(pulumi.ComponentResource):
    def __init__(self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swan:platform:Verification", name, None, opts)
        cfg = args.config
        ns = cfg.security.hub_namespace
        opts_ = child(self, args.provider, args.depends_on)
        k8s.core.v1.ServiceAccount(SERVICE, metadata=meta(SERVICE, ns), opts=opts_)
        # Exactly what the checks read (api_reads): cluster-scoped reads in a ClusterRole, the rest in a
        # Role per namespace, named objects (the hub's TLS secret) by resourceNames; nothing is written.
        cluster_rules, namespace_rules = rbac_rules(api_reads(cfg))
        subjects = [{"kind": "ServiceAccount", "name": SERVICE, "namespace": ns}]
        if cluster_rules:
            k8s.rbac.v1.ClusterRole(SERVICE, metadata=meta(SERVICE), rules=cluster_rules, opts=opts_)
            k8s.rbac.v1.ClusterRoleBinding(
                SERVICE, metadata=meta(SERVICE), subjects=subjects,
                role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": SERVICE},
                opts=opts_)
        for namespace, rules in namespace_rules.items():
            # the user namespace's Role was `swan-verify-events` before the rules were generated
            renamed = pulumi.ResourceOptions(aliases=[pulumi.Alias(name=f"{SERVICE}-events")]) \
                if namespace == cfg.security.user_namespace else pulumi.ResourceOptions()
            k8s.rbac.v1.Role(f"{SERVICE}-{namespace}", metadata=meta(SERVICE, namespace), rules=rules,
                             opts=pulumi.ResourceOptions.merge(opts_, renamed))
            k8s.rbac.v1.RoleBinding(
                f"{SERVICE}-{namespace}", metadata=meta(SERVICE, namespace), subjects=subjects,
                role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": SERVICE},
                opts=pulumi.ResourceOptions.merge(opts_, renamed))
        files = {SESSIONS_FILE.rsplit("/", 1)[1]: yaml_text.dump(session_options(cfg)),
                 EXPECT_FILE.rsplit("/", 1)[1]: yaml_text.dump(expectations_document(cfg))}
        if event_session_options(cfg):
            files[EVENT_SESSION_FILE.rsplit("/", 1)[1]] = yaml_text.dump(event_session_options(cfg))
        sessions = k8s.core.v1.ConfigMap("sessions", metadata=meta(SESSIONS_CONFIG_MAP, ns), data=files, opts=opts_)
        k8s.batch.v1.CronJob(SERVICE, metadata=meta(SERVICE, ns), spec=cronjob_spec(cfg, pulumi.get_stack()),
                             opts=pulumi.ResourceOptions.merge(opts_, pulumi.ResourceOptions(depends_on=[sessions])))
        self.register_outputs({"schedule": cfg.verification.schedule})
