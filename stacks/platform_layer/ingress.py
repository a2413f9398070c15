"""Ingress: ingress-nginx (host ports on kind, a LoadBalancer on clouds) and, with TLS, cert-manager."""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from stacks.config.model import EnvironmentConfig
from stacks.infra.clouds import cloud_of
from stacks.platform_layer.k8s import PlatformArgs, child, meta

INGRESS_NGINX_REPO = "https://kubernetes.github.io/ingress-nginx"
CERT_MANAGER_REPO = "https://charts.jetstack.io"
CERT_MANAGER_VERSION = "v1.16.1"
ACME_SERVERS = {
    "letsencrypt": "https://acme-v02.api.letsencrypt.org/directory",
    "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}


def ingress_nginx_values(cfg: EnvironmentConfig) -> dict:
    if cloud_of(cfg).ingress_on_host_ports:  # kind maps host ports 80/443 of the node labelled ingress-ready
        return {"controller": {
            "hostPort": {"enabled": True},
            "service": {"type": "NodePort"},
            "nodeSelector": {"ingress-ready": "true"},
            "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
                             "effect": "NoSchedule"}],
            "metrics": {"enabled": cfg.monitoring.enabled},
        }}
    service: dict = {"type": "LoadBalancer"}
    if annotations := dict(cloud_of(cfg).load_balancer_annotations):
        service["annotations"] = annotations  # e.g. OCI: its controller leaves the security lists alone
    return {"controller": {"service": service, "metrics": {"enabled": cfg.monitoring.enabled}}}


def cert_manager_values(cfg: EnvironmentConfig) -> dict:
    """CRDs with the release; with monitoring, its own ServiceMonitor (labelled for kube-prometheus-stack).
    honorLabels keeps the Certificate's `namespace` label on certmanager_certificate_* (else Prometheus
    renames it exported_namespace and sets `namespace` to cert-manager's), which the expiry alert selects."""
    values: dict = {"crds": {"enabled": True}}
    if cfg.monitoring.enabled:
        values["prometheus"] = {"servicemonitor": {
            "enabled": True, "honorLabels": True, "labels": {"release": cfg.monitoring.release_label}}}
    return values


def cluster_issuer(cfg: EnvironmentConfig) -> dict:
    tls = cfg.hub.tls
    if tls.issuer == "selfsigned":
        return {"selfSigned": {}}
    return {"acme": {"server": ACME_SERVERS[tls.issuer], "email": tls.email,
                     "privateKeySecretRef": {"name": f"swan-{tls.issuer}-account"},
                     "solvers": [{"http01": {"ingress": {"ingressClassName": cfg.ingress.class_name}}}]}}



class Ingress(pulumi.ComponentResource):
    def __init__(self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swan:platform:Ingress", name, None, opts)
        cfg = args.config
        opts_ = child(self, args.provider, args.depends_on)
        self.releases: list[pulumi.Resource] = [k8s.helm.v3.Release(
            "ingress-nginx", name="ingress-nginx", chart="ingress-nginx", version=cfg.ingress.chart_version,
            repository_opts={"repo": INGRESS_NGINX_REPO}, namespace="ingress-nginx",
            values=ingress_nginx_values(cfg), opts=opts_)]
        if cfg.hub.tls.enabled:
            cert_manager = k8s.helm.v3.Release(
                "cert-manager", name="cert-manager", chart="cert-manager", version=CERT_MANAGER_VERSION,
                repository_opts={"repo": CERT_MANAGER_REPO}, namespace="cert-manager",
                values=cert_manager_values(cfg), opts=opts_)
            self.releases.append(cert_manager)
            k8s.apiextensions.CustomResource(
                "cluster-issuer", api_version="cert-manager.io/v1", kind="ClusterIssuer",
                metadata=meta(f"swan-{cfg.hub.tls.issuer}"), spec=cluster_issuer(cfg),
                opts=pulumi.ResourceOptions.merge(opts_, pulumi.ResourceOptions(depends_on=[cert_manager])))
        self.register_outputs({})
