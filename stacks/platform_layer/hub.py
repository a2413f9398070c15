"""The hub: the upstream `swan` chart as a Helm release, plus what it needs across namespaces.

Besides the release, the program creates what the chart cannot do for sessions that live in
their own namespace or for secrets kept out of Helm values: the hub's rights in the user
namespace, the `/cvmfs` (and `/eos`) volume claims there, the Secrets holding sensitive
settings, and the Ingress (TLS from cert-manager).
"""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from stacks import yaml_text
from stacks.config.model import EnvironmentConfig
from stacks.infra.clouds import cloud_of
from stacks.platform_layer import hub_database, hub_values
from stacks.platform_layer.k8s import PlatformArgs, child, meta

PROXY_SERVICE = "proxy-public"
TLS_SECRET = "swan-tls"
# The swan chart always claims `eos` (class `eos`) in its namespace; without EOS nothing provides that
# class, and Helm would wait forever for the claim. No pod mounts it then (swan_config.py mounts
# /eos only with EOS on), so a pre-bound placeholder volume lets it bind.
EOS_PLACEHOLDER_PV = "swan-eos-unused"


def read_only_claim(name: str, namespace: str, storage_class: str) -> dict:
    """A claim on a CSI automount class (size is required but ignored by the drivers)."""
    return {"metadata": meta(name, namespace),
            "spec": {"accessModes": ["ReadOnlyMany"], "resources": {"requests": {"storage": "1"}},
                     "storageClassName": storage_class}}


def eos_placeholder_volume(hub_namespace: str) -> dict:
    return {"metadata": meta(EOS_PLACEHOLDER_PV),
            "spec": {"capacity": {"storage": "1"}, "accessModes": ["ReadOnlyMany"], "storageClassName": "eos",
                     "persistentVolumeReclaimPolicy": "Retain",
                     "claimRef": {"namespace": hub_namespace, "name": "eos"},
                     "hostPath": {"path": "/var/empty/swan-eos-unused", "type": "DirectoryOrCreate"}}}


def ingress_spec(cfg: EnvironmentConfig) -> dict:
    spec: dict = {
        "ingressClassName": cfg.ingress.class_name,
        "rules": [{"host": cfg.hub.host, "http": {"paths": [{
            "path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": PROXY_SERVICE, "port": {"name": "http"}}}}]}}],
    }
    if cfg.hub.tls.enabled:
        spec["tls"] = [{"hosts": [cfg.hub.host], "secretName": TLS_SECRET}]
    return spec


def ingress_annotations(cfg: EnvironmentConfig) -> dict[str, str]:
    annotations = {"nginx.ingress.kubernetes.io/proxy-body-size": "100m"}
    if cfg.hub.tls.enabled:  # cert-manager's ingress-shim issues TLS_SECRET for the host
        annotations["cert-manager.io/cluster-issuer"] = f"swan-{cfg.hub.tls.issuer}"
    return annotations


class Hub(pulumi.ComponentResource):
    """JupyterHub through the SWAN chart; the hub spawns sessions into the user namespace."""

    def __init__(self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swan:platform:Hub", name, None, opts)
        cfg = args.config
        hub_ns, users_ns = cfg.security.hub_namespace, cfg.security.user_namespace
        opts_ = child(self, args.provider, args.depends_on)
        before_release: list[pulumi.Resource] = []

        # The chart's hub Role covers its own namespace only; sessions live in the user namespace,
        # course events publish ConfigMaps there, Spark sessions get a ServiceAccount there.
        # Secrets: only create and delete, never read (SwanKubeSpawner deletes a user's token Secrets when
        # the session stops; KubeSpawner reads and writes Secrets only with internal_ssl, which is off).
        role = k8s.rbac.v1.Role("hub-spawner", metadata=meta("swan-hub-spawner", users_ns), rules=[
            {"apiGroups": [""], "resources": ["pods", "persistentvolumeclaims", "services"],
             "verbs": ["get", "watch", "list", "create", "delete"]},
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "delete"]},
            {"apiGroups": [""], "resources": ["events", "configmaps"], "verbs": ["get", "watch", "list"]},
            {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["get", "create"]},
        ], opts=opts_)
        before_release.append(k8s.rbac.v1.RoleBinding(
            "hub-spawner", metadata=meta("swan-hub-spawner", users_ns),
            subjects=[{"kind": "ServiceAccount", "name": "hub", "namespace": hub_ns}],
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "swan-hub-spawner"},
            opts=pulumi.ResourceOptions.merge(opts_, pulumi.ResourceOptions(depends_on=[role]))))

        # Sessions mount `cvmfs` (and `eos`) by claim name in their own namespace.
        if cfg.storage.cvmfs.enabled:
            before_release.append(k8s.core.v1.PersistentVolumeClaim(
                "cvmfs-users", **read_only_claim("cvmfs", users_ns, "cvmfs"), opts=opts_))
        if cfg.storage.eos.enabled:
            before_release.append(k8s.core.v1.PersistentVolumeClaim(
                "eos-users", **read_only_claim("eos", users_ns, "eos"), opts=opts_))
            keytab = pulumi.Output.secret(str(cfg.storage.eos.keytab))
            before_release.append(k8s.core.v1.Secret(
                "eos-keytab", metadata=meta(hub_values.EOS_KEYTAB_SECRET, hub_ns),
                data={"eos.keytab": keytab}, opts=opts_))
        else:
            before_release.append(k8s.core.v1.PersistentVolume(
                "eos-placeholder", **eos_placeholder_volume(hub_ns), opts=opts_))

        if hub_values.has_secret_values(cfg):
            document = pulumi.Output.secret(yaml_text.dump(hub_values.secret_values(cfg)))
            before_release.append(k8s.core.v1.Secret(
                "hub-secret-values", metadata=meta(hub_values.HUB_SECRET, hub_ns),
                string_data={"values.yaml": document}, opts=opts_))

        db = cfg.hub.database
        if db.type == "postgresql" and db.password is not None:
            before_release.append(k8s.core.v1.Secret(
                "hub-db", metadata=meta(hub_database.PASSWORD_SECRET, hub_ns),
                string_data={"password": pulumi.Output.secret(str(db.password))}, opts=opts_))

        chart, repository = hub_values.chart_address(cfg)
        self.release = k8s.helm.v3.Release(
            "swan",
            name=hub_values.RELEASE,
            chart=chart,
            version=cfg.hub.chart_version,
            repository_opts={"repo": repository} if repository else None,
            namespace=hub_ns,
            values=hub_values.hub_values(cfg),
            # Helm waits for the hub (readiness) and the chart's pre-install image puller, which pulls
            # the multi-GB user image on every node: give it time, and undo a failed upgrade.
            timeout=1800,
            atomic=True,
            opts=pulumi.ResourceOptions.merge(opts_, pulumi.ResourceOptions(depends_on=before_release)),
        )
        if cfg.ingress.enabled:
            k8s.networking.v1.Ingress(
                "hub", metadata=meta("swan", hub_ns, annotations=ingress_annotations(cfg)),
                spec=ingress_spec(cfg),
                opts=pulumi.ResourceOptions.merge(opts_, pulumi.ResourceOptions(depends_on=[self.release])))
        if db.backup:
            self._backups(cfg, opts_)
        self.url = f"{'https' if cfg.hub.tls.enabled else 'http'}://{cfg.hub.host}/"
        self.register_outputs({"url": self.url})

    def _backups(self, cfg: EnvironmentConfig, opts_: pulumi.ResourceOptions) -> None:
        """The backup CronJob, its scripts and (volume target) its claim; after the release, whose hub
        volume and pod the SQLite backup attaches to."""
        hub_ns, name = cfg.security.hub_namespace, hub_database.BACKUP_NAME
        after = [self.release, k8s.core.v1.ConfigMap(
            "hub-db-backup", metadata=meta(name, hub_ns),
            data=hub_database.script_files(cfg.hub.database.type), opts=opts_)]
        claim = hub_database.backup_volume_claim(cfg)
        if claim is not None:
            after.append(k8s.core.v1.PersistentVolumeClaim(
                "hub-db-backups", metadata=meta(name, hub_ns), spec=claim,
                # the backups outlive a deploy, except on a development cluster `pulumi destroy` must remove
                opts=pulumi.ResourceOptions.merge(opts_, pulumi.ResourceOptions(protect=cloud_of(cfg).protects_data))))
        k8s.batch.v1.CronJob("hub-db-backup", metadata=meta(name, hub_ns),
                             spec=hub_database.backup_cronjob_spec(cfg),
                             opts=pulumi.ResourceOptions.merge(opts_, pulumi.ResourceOptions(depends_on=after)))

