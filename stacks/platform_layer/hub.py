"""The hub: the upstream `swan` chart as a Helm release, plus what it needs across namespaces."""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from stacks.config.model import EnvironmentConfig
from stacks.platform_layer import hub_values
from stacks.platform_layer.k8s import PlatformArgs, child, meta


def secret_inputs(values: dict, cfg: EnvironmentConfig) -> pulumi.Input[dict]:
    """Values hold decrypted secrets (OIDC client secret) under `pulumi up`: keep them secret."""
    has_secret = cfg.hub.auth.type == "oidc" or (cfg.hub.auth.type == "dummy" and cfg.hub.auth.password)
    return pulumi.Output.secret(values) if has_secret else values



class Hub(pulumi.ComponentResource):
    """JupyterHub through the SWAN chart; the hub spawns sessions into the user namespace."""

    def __init__(self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swan:platform:Hub", name, None, opts)
        cfg = args.config
        hub_ns, users_ns = cfg.security.hub_namespace, cfg.security.user_namespace
        opts_ = child(self, args.provider, args.depends_on)

        # The chart's hub Role covers its own namespace only; sessions live in the user namespace,
        # and event profiles are ConfigMaps there.
        role = k8s.rbac.v1.Role("hub-spawner", metadata=meta("swan-hub-spawner", users_ns), rules=[
            {"apiGroups": [""], "resources": ["pods", "persistentvolumeclaims", "secrets", "services"],
             "verbs": ["get", "watch", "list", "create", "delete"]},
            {"apiGroups": [""], "resources": ["events", "configmaps"], "verbs": ["get", "watch", "list"]},
        ], opts=opts_)
        k8s.rbac.v1.RoleBinding("hub-spawner", metadata=meta("swan-hub-spawner", users_ns),
                                subjects=[{"kind": "ServiceAccount", "name": "hub", "namespace": hub_ns}],
                                role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                          "name": "swan-hub-spawner"},
                                opts=pulumi.ResourceOptions.merge(opts_, pulumi.ResourceOptions(depends_on=[role])))

        values = hub_values.hub_values(cfg)
        self.release = k8s.helm.v3.Release(
            "swan",
            name=hub_values.RELEASE,
            chart=hub_values.CHART,
            version=cfg.hub.chart_version,
            repository_opts={"repo": cfg.hub.chart_repository},
            namespace=hub_ns,
            values=secret_inputs(values, cfg),
            timeout=900,
            opts=opts_,
        )
        self.url = f"{'https' if cfg.hub.tls.enabled else 'http'}://{cfg.hub.host}/"
        self.register_outputs({"url": self.url})
