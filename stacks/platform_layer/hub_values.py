"""Values for the upstream `swan` Helm chart, built from the typed config (pure, no Pulumi).

The chart wraps Zero-to-JupyterHub 3.1.0 (`jupyterhub:` subtree), cvmfs-csi and eosxd-csi.
Sessions become KubeSpawner profiles (cores, memory, optional GPU) with the software stack as a
profile option, so what a user picks is exactly what the pod gets.
"""
from __future__ import annotations

from pathlib import Path

from stacks.config.model import EnvironmentConfig, NodePool, SessionSize, duration_seconds, quantity_value
from stacks.infra.pools import GPU_TAINT_KEY, POOL_LABEL
from stacks.platform_layer import verification

CHART = "swan"
RELEASE = "swan"
EVENT_PROFILES_SNIPPET = Path(__file__).with_name("hub_event_profiles.py")
LCG_VIEWS = "/cvmfs/sft.cern.ch/lcg/views"


def software_choices(cfg: EnvironmentConfig) -> dict:
    """The software-stack profile option: LCG release + platform, exported as environment."""
    choices = {}
    for i, sw in enumerate(cfg.hub.software):
        slug = f"{sw.release}-{sw.platform}".lower().replace("_", "-")
        choices[slug] = {
            "display_name": sw.label or f"{sw.release} ({sw.platform})",
            "default": i == 0,
            "kubespawner_override": {"environment": {
                "SWAN_LCG_RELEASE": sw.release,
                "SWAN_LCG_PLATFORM": sw.platform,
                "SWAN_LCG_VIEW": f"{LCG_VIEWS}/{sw.release}/{sw.platform}",
            }},
        }
    return {"software": {"display_name": "Software stack", "choices": choices}}


def _gpu_resources(pool: NodePool) -> list[tuple[str, str]]:
    """(slug suffix, extended resource) a session on this pool can ask for."""
    assert pool.gpu is not None
    layout = {}
    if pool.gpu.mig_config != "all-disabled":
        from stacks.planner.mig_parted import catalog  # only GPU environments need the planner

        layout = catalog([pool.gpu.model])["mig-configs"][pool.gpu.mig_config][0].get("mig-devices", {})
    if not layout:  # MIG off: whole GPUs
        return [("gpu", "nvidia.com/gpu")]
    return [(profile.replace(".", "-"), f"nvidia.com/mig-{profile}") for profile in sorted(layout)]


def _default_size(cfg: EnvironmentConfig) -> SessionSize:
    return next((s for s in cfg.hub.sessions if s.default), cfg.hub.sessions[0])


def _resources(size: SessionSize) -> dict:
    memory = int(quantity_value(size.memory))
    return {"cpu_limit": size.cores, "cpu_guarantee": size.cores / 4, "mem_limit": memory, "mem_guarantee": memory // 2}


def size_profiles(cfg: EnvironmentConfig) -> list[dict]:
    """One KubeSpawner profile per session size."""
    default_size = _default_size(cfg)
    return [{
        "display_name": f"{size.name}: {size.cores:g} cores, {size.memory} memory",
        "slug": size.name,
        "default": size is default_size,
        "kubespawner_override": _resources(size),
        "profile_options": software_choices(cfg),
    } for size in cfg.hub.sessions]


def gpu_profiles(cfg: EnvironmentConfig) -> list[dict]:
    """One profile per GPU resource of each GPU pool (a MIG profile or a whole GPU), default size."""
    default_size = _default_size(cfg)
    profiles = []
    for pool in cfg.node_pools:
        if pool.gpu is None:
            continue
        for suffix, resource in _gpu_resources(pool):
            profiles.append({
                "display_name": f"{pool.gpu.model} {suffix} on {pool.name}: {default_size.cores:g} cores",
                "slug": f"{pool.name}-{suffix}",
                "kubespawner_override": {
                    **_resources(default_size),
                    "extra_resource_limits": {resource: "1"},
                    "node_selector": {POOL_LABEL: pool.name},
                    "tolerations": [{"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}],
                },
                "profile_options": software_choices(cfg),
            })
    return profiles


def profile_list(cfg: EnvironmentConfig) -> list[dict]:
    """KubeSpawner profiles: every session size, then the GPU profiles."""
    return size_profiles(cfg) + gpu_profiles(cfg)


def _auth(cfg: EnvironmentConfig) -> tuple[dict, str]:
    """Authenticator settings and the pre-spawn hook replacing the chart's placeholder one."""
    hub = cfg.hub
    common = {"admin_users": sorted(hub.admins)}
    if hub.auth.type == "dummy":
        dummy = {"password": str(hub.auth.password)} if hub.auth.password else {}
        return ({"JupyterHub": {"authenticator_class": "dummy"},
                 "Authenticator": {**common, "allow_all": True},
                 "DummyAuthenticator": dummy}, "# dummy login: no pre-spawn hook needed\n")
    auth = hub.auth
    keycloak = {
        "oidc_issuer": auth.issuer,
        "client_id": auth.client_id,
        "client_secret": str(auth.client_secret),
        "oauth_callback_url": auth.callback_url,
        "manage_groups": True,
        "allow_all": not auth.allowed_groups,
        "allowed_groups": sorted(auth.allowed_groups),
        "admin_groups": sorted(auth.admin_groups),
    }
    hook = ("def pre_spawn_hook(authenticator, spawner, auth_state):\n"
            "    spawner.environment['SWAN_USER'] = spawner.user.name\n"
            "c.KeyCloakAuthenticator.pre_spawn_hook = pre_spawn_hook\n")
    return ({"JupyterHub": {"authenticator_class": "keycloakauthenticator.KeyCloakAuthenticator"},
             "Authenticator": common, "KeyCloakAuthenticator": keycloak}, hook)


def _cvmfs(cfg: EnvironmentConfig) -> dict:
    cvmfs = cfg.storage.cvmfs
    default_local = "\n".join([
        f'CVMFS_HTTP_PROXY="{cvmfs.http_proxy}"',
        f"CVMFS_REPOSITORIES={','.join(cvmfs.repositories)}",
        f"CVMFS_QUOTA_LIMIT={cvmfs.cache_quota_mb}",
        "CVMFS_USE_GEOAPI=yes",
    ]) + "\n"
    return {
        "enabled": cvmfs.enabled,
        "automountHostPath": "/var/cvmfs",
        "automountStorageClass": {"create": True},
        "cache": {"local": {"cvmfsQuotaLimit": cvmfs.cache_quota_mb}},
        "extraConfigMaps": {"cvmfs-csi-default-local": {"default.local": default_local}},
    }


def _eos(cfg: EnvironmentConfig) -> dict:
    eos = cfg.storage.eos
    values: dict = {"enabled": eos.enabled}
    if eos.enabled:
        values["extraConfigMaps"] = {"eos-csi-dir-etc-eos": {
            f"fuse.{i.name}.conf": (
                f'{{"name":"{i.name}","hostport":"{i.host}","remotemountdir":"{i.mount_dir}",'
                f'"auth":{{"ssskeytab":"/etc/eos.keytab"}},"options":{{"hide-versions":0}}}}\n')
            for i in eos.instances
        }}
    return values


def _user_namespace_egress(cfg: EnvironmentConfig) -> list[dict]:
    """Hub and proxy reach notebooks in the user namespace (the chart only allows its own)."""
    return [{
        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": cfg.security.user_namespace}},
                "podSelector": {"matchLabels": {"component": "singleuser-server"}}}],
        "ports": [{"protocol": "TCP", "port": 8888}],
    }]


def _home(cfg: EnvironmentConfig) -> dict:
    if cfg.storage.eos.enabled:
        return {"type": "none"}
    home = cfg.storage.home
    dynamic = {"storageClass": home.storage_class} if home.storage_class else {}
    return {"type": "dynamic", "capacity": home.size, "homeMountPath": "/home/jovyan", "dynamic": dynamic}


def _ingress(cfg: EnvironmentConfig) -> dict:
    ingress = {"enabled": cfg.ingress.enabled, "ingressClassName": cfg.ingress.class_name,
               "hosts": [cfg.hub.host],
               "annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "100m"}}
    if cfg.hub.tls.enabled:
        ingress["annotations"]["cert-manager.io/cluster-issuer"] = f"swan-{cfg.hub.tls.issuer}"
        ingress["tls"] = [{"hosts": [cfg.hub.host], "secretName": "swan-tls"}]
    return ingress


def hub_values(cfg: EnvironmentConfig) -> dict:
    """The complete values document for the `swan` chart release."""
    hub = cfg.hub
    auth_config, auth_hook = _auth(cfg)
    default_size = _default_size(cfg)
    jupyterhub = {
        "hub": {
            "image": {"name": hub.image.name, "tag": hub.image.tag},
            "config": {
                **auth_config,
                "JupyterHub": {**auth_config["JupyterHub"], "spawner_class": "kubespawner.KubeSpawner",
                               "authenticate_prometheus": not cfg.monitoring.enabled},
                "KubeSpawner": {"namespace": cfg.security.user_namespace, "delete_pvc": False},
            },
            "extraConfig": {
                "00-authConf": auth_hook,
                "10-swan-event-profiles": EVENT_PROFILES_SNIPPET.read_text(),
            },
            "networkPolicy": {"enabled": True, "egress": _user_namespace_egress(cfg)},
            **(verification.hub_service_values() if cfg.verification.enabled else {}),
        },
        "proxy": {"chp": {"networkPolicy": {"enabled": True, "egress": _user_namespace_egress(cfg)}}},
        "singleuser": {
            "image": {"name": hub.user_image.name, "tag": hub.user_image.tag},
            "profileList": profile_list(cfg),
            "storage": _home(cfg),
            "cpu": {"limit": default_size.cores, "guarantee": default_size.cores / 4},
            "memory": {"limit": default_size.memory, "guarantee": default_size.memory},
            # Replaced by the policies of the Security component in the user namespace.
            "networkPolicy": {"enabled": False},
            "serviceAccountName": "spark-driver" if cfg.spark.enabled else None,
            "extraEnv": {"SWAN_SPARK_NAMESPACE": cfg.spark.namespace} if cfg.spark.enabled else {},
        },
        "cull": {"enabled": hub.culling.enabled, "timeout": duration_seconds(hub.culling.timeout),
                 "every": duration_seconds(hub.culling.every)},
        "ingress": _ingress(cfg),
        "custom": {"eos": {"enabled": cfg.storage.eos.enabled}},
    }
    if jupyterhub["singleuser"]["serviceAccountName"] is None:
        del jupyterhub["singleuser"]["serviceAccountName"]
    return {"cvmfs-csi": _cvmfs(cfg), "eosxd-csi": _eos(cfg), "jupyterhub": jupyterhub}
