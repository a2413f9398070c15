"""Values for the upstream `swan` Helm chart, built from the typed config (pure, no Pulumi).

The chart wraps Zero-to-JupyterHub 3.1.0 (`jupyterhub:`), cvmfs-csi and eosxd-csi, and configures
SWAN's own hub: SwanKubeSpawner (SWAN's form, start scripts, /cvmfs, /eos, /dev/shm) and the
Keycloak authenticator. These values keep SWAN's semantics and add what a deployment outside
CERN's own chart needs: the form generated from the config, sessions in their own namespace,
SWAN's culler, GPU flavours, course events and Spark (hub_side/swan_iac_hub.py).

No secret is ever part of these values: the OIDC client secret and the dummy password reach the
hub through a Secret the program creates (`hub.existingSecret`), the EOS keytab through the
Secret the eosxd-csi node plugin mounts, TLS certificates through cert-manager.
"""
from __future__ import annotations

from pathlib import Path

from stacks.config.model import EnvironmentConfig
from stacks.config.types import duration_seconds
from stacks.infra.pools import GPU_TAINT_KEY
from stacks.platform_layer import hub_database, verification
from stacks.platform_layer.gpu_flavours import flavours
from stacks.platform_layer.swan_form import FORM_PATH, options_form
from stacks.platform_layer.verification import LCG_VIEWS

CHART = "swan"
RELEASE = "swan"
HUB_SIDE = Path(__file__).with_name("hub_side") / "swan_iac_hub.py"
HUB_SECRET = "swan-hub-secret-values"     # hub.existingSecret: sensitive hub settings
EOS_KEYTAB_SECRET = "eos-csi-file-etc-eos-keytab"  # the Secret eosxd-csi's node plugin mounts
EVENT_LABEL = "swan.cern.ch/event-flavour"  # ConfigMaps of course events, read by the hub
SPARK_DRIVER_LABEL = "swan.cern.ch/spark-driver"
SPARK_USER_LABEL = "swan.cern.ch/spark-user"
SPARK_EXECUTOR_ACCOUNT = "spark-executor"
HOME_ON_VOLUME = "/srv/home/{username}/"  # HOME of sessions without EOS: the user's own volume
LOGIN_TEMPLATES = "/usr/local/share/jupyterhub/swan-iac-templates"  # the dummy login's form
GPU_CULLER = "swan-gpu-idle-culler"  # SWAN's culler of GPU sessions (hub service), at gpuTimeout
GPU_CULL_GROUP = "swan-gpu-sessions"  # the hub group it sees: users whose session holds a GPU
METRICS_SERVICE = "prometheus-metrics"  # hub service whose token Prometheus scrapes /hub/metrics with
TOLERATE_EVERYTHING = [{"operator": "Exists"}]  # node-level plugins run on every node, tainted or not


def chart_address(cfg: EnvironmentConfig) -> tuple[str, str | None]:
    """(chart, repository) as the Helm release takes them: an OCI registry holds the chart at
    `<registry path>/<chart>` and has no index, so it is not a `repository`."""
    repo = cfg.hub.chart_repository.rstrip("/")
    if repo.startswith("oci://"):
        return f"{repo}/{CHART}", None
    return CHART, repo


def has_secret_values(cfg: EnvironmentConfig) -> bool:
    auth = cfg.hub.auth
    return auth.type == "oidc" or bool(auth.password)


def secret_values(cfg: EnvironmentConfig) -> dict:
    """What goes into HUB_SECRET's `values.yaml` (merged by z2jh over the chart values)."""
    auth = cfg.hub.auth
    if auth.type == "oidc":
        return {"hub": {"config": {"KeyCloakAuthenticator": {"client_secret": str(auth.client_secret)}}}}
    return {"hub": {"config": {"DummyAuthenticator": {"password": str(auth.password)}}}} if auth.password else {}


def _auth(cfg: EnvironmentConfig) -> tuple[dict, str]:
    """Authenticator settings, and the `00-authConf` snippet (the chart's placeholder raises)."""
    auth = cfg.hub.auth
    if auth.type == "dummy":
        # SWAN's login page only redirects to the authenticator's login URL (itself, for the dummy
        # login): JupyterHub's own login form is shown instead (template_paths, see hub_values).
        return ({"JupyterHub": {"authenticator_class": "dummy", "template_paths": [LOGIN_TEMPLATES]},
                 "Authenticator": {"admin_users": sorted(cfg.hub.admins), "allow_all": True}},
                "# dummy login: sessions get the default uid (custom.swanIac.defaultUid)\n")
    keycloak = {
        "oidc_issuer": auth.issuer,
        "client_id": auth.client_id,
        "oauth_callback_url": auth.callback_url,
        "allowed_roles": sorted(auth.allowed_roles),
        "admin_role": auth.admin_role,
        "username_claim": auth.username_claim,
        "exchange_tokens": [cfg.storage.eos.token_audience] if cfg.storage.eos.enabled else [],
        # As SWAN at CERN: no token refresh before a spawn (users created through the API, like the
        # nightly verification's, have no login to refresh and would be refused).
        "refresh_pre_spawn": False,
    }
    hook = "# no EOS: nothing to hand over from the login\n"
    if cfg.storage.eos.enabled:  # SWAN's EOS identity: the user's exchanged token (01_storage.sh reads it)
        hook = (
            "def pre_spawn_hook(authenticator, spawner, auth_state):\n"
            "    if auth_state is None:  # never logged in (the nightly verification's users): no EOS identity\n"
            "        spawner.local_home = True\n"
            "        spawner.environment['EOS_ENABLED'] = 'false'\n"
            "        return\n"
            f"    token = (auth_state.get('exchanged_tokens') or {{}}).get({cfg.storage.eos.token_audience!r})\n"
            "    if not token:\n"
            "        raise ValueError('the login gave no EOS token; EOS needs one to open your home')\n"
            "    spawner.environment['ACCESS_TOKEN'] = token\n"
            "    spawner.environment['OAUTH_INSPECTION_ENDPOINT'] = authenticator.userdata_url.replace('https://', '')\n"
            "c.KeyCloakAuthenticator.pre_spawn_hook = pre_spawn_hook\n")
    return ({"JupyterHub": {"authenticator_class": "keycloakauthenticator.KeyCloakAuthenticator"},
             "KeyCloakAuthenticator": keycloak}, hook)


def _cvmfs(cfg: EnvironmentConfig) -> dict:
    cvmfs = cfg.storage.cvmfs
    # The chart templates this file; keeping its cache location keeps the cache on the node volume.
    default_local = "\n".join([
        f'CVMFS_HTTP_PROXY="{cvmfs.http_proxy}"',
        f"CVMFS_REPOSITORIES={','.join(cvmfs.repositories)}",
        "CVMFS_QUOTA_LIMIT={{ .Values.cache.local.cvmfsQuotaLimit }}",
        "CVMFS_CACHE_BASE={{ .Values.cache.local.location }}",
        "CVMFS_USE_GEOAPI=yes",
    ]) + "\n"
    return {
        "enabled": cvmfs.enabled,
        "automountHostPath": "/var/cvmfs",
        "automountStorageClass": {"create": True},
        "cache": {"local": {"cvmfsQuotaLimit": cvmfs.cache_quota_mb}},
        "extraConfigMaps": {"cvmfs-csi-default-local": {"default.local": default_local}},
        "nodeplugin": {"tolerations": TOLERATE_EVERYTHING},
    }


def _eos(cfg: EnvironmentConfig) -> dict:
    eos = cfg.storage.eos
    if not eos.enabled:
        return {"enabled": False}
    return {
        "enabled": True,
        # the chart's default keytab Secret is dropped (null deletes a default key in Helm);
        # the program creates that Secret from the stack's secret keytab instead
        "extraSecrets": {EOS_KEYTAB_SECRET: None},
        "extraConfigMaps": {"eos-csi-dir-etc-eos": {
            f"fuse.{i.name}.conf": (
                f'{{"name":"{i.name}","hostport":"{i.host}","remotemountdir":"{i.mount_dir}",'
                f'"auth":{{"ssskeytab":"/etc/eos.keytab"}},"options":{{"hide-versions":0}}}}\n')
            for i in eos.instances
        }},
        "nodeplugin": {"tolerations": TOLERATE_EVERYTHING},
    }


def _ns(name: str) -> dict:
    return {"matchLabels": {"kubernetes.io/metadata.name": name}}


def _hub_network_policy(cfg: EnvironmentConfig) -> dict:
    """The chart's hub policy admits its own namespace only and, with SWAN's values, no private
    addresses: sessions (user namespace) must reach the hub API, Prometheus its metrics, and the
    hub the Kubernetes API server and the sessions."""
    users = cfg.security.user_namespace
    ingress = [{"from": [{"namespaceSelector": _ns(users),
                          "podSelector": {"matchLabels": {"hub.jupyter.org/network-access-hub": "true"}}}],
                "ports": [{"protocol": "TCP", "port": 8081}]}]
    if cfg.monitoring.enabled:
        ingress.append({"from": [{"namespaceSelector": _ns(cfg.monitoring.prometheus_namespace),
                                  "podSelector": {"matchLabels": dict(cfg.monitoring.prometheus_pod_labels)}}],
                        "ports": [{"protocol": "TCP", "port": 8081}]})
    egress = [*_to_sessions(cfg),
              {"to": [{"ipBlock": {"cidr": cidr}} for cidr in cfg.security.api_server_cidrs],
               "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]},
              *hub_database.hub_egress(cfg)]
    return {"enabled": True, "ingress": ingress, "egress": egress}


def _to_sessions(cfg: EnvironmentConfig) -> list[dict]:
    return [{"to": [{"namespaceSelector": _ns(cfg.security.user_namespace),
                     "podSelector": {"matchLabels": {"component": "singleuser-server"}}}],
             "ports": [{"protocol": "TCP", "port": 8888}]}]


def _home(cfg: EnvironmentConfig) -> dict:
    """EOS homes come from the spawner (HOME=/eos/user/...); without EOS each user gets a volume."""
    if cfg.storage.eos.enabled:
        return {"type": "none"}
    home = cfg.storage.home
    dynamic = {"storageClass": home.storage_class} if home.storage_class else {}
    return {"type": "dynamic", "capacity": home.size,
            "homeMountPath": HOME_ON_VOLUME.replace("{username}", "{unescaped_username}").rstrip("/"),
            "dynamic": dynamic}


def _hub_files(cfg: EnvironmentConfig) -> dict:
    files = {"swan-options-form": {"mountPath": FORM_PATH, "data": options_form(cfg)}}
    if cfg.hub.auth.type == "dummy":  # JupyterHub's own login page (the `templates/` prefix), form included
        files["swan-iac-login"] = {"mountPath": f"{LOGIN_TEMPLATES}/login.html",
                                   "stringData": '{% extends "templates/login.html" %}\n'}
    return files


def flavour_timeouts(cfg: EnvironmentConfig) -> dict[str, int]:
    """Idle seconds per GPU flavour of the pools (as SWAN's form names them, gpu_flavours.py): the pool's
    `gpu.idleTimeout`, else `hub.culling.gpuTimeout`. A flavour several pools offer takes the shortest of
    theirs (`swan check` refuses pools that disagree: the form cannot tell them apart)."""
    default = duration_seconds(cfg.hub.culling.gpu_timeout)
    found: dict[str, int] = {}
    for pool in cfg.node_pools:
        if pool.gpu is None:
            continue
        idle = duration_seconds(pool.gpu.idle_timeout) if pool.gpu.idle_timeout else default
        for flavour in flavours(pool.gpu):
            found[flavour] = min(found.get(flavour, idle), idle)
    return dict(sorted(found.items()))


def gpu_culler(timeout: int, gpu_timeout: int | None) -> dict:
    """SWAN's culler for GPU sessions idle for `timeout` seconds: its hub service, and the hub group it
    sees (the hub puts a GPU session's user in the group of its timeout). gpuTimeout's keeps the names it
    always had."""
    suffix = "" if timeout == gpu_timeout else f"-{timeout}s"
    return {"timeout": timeout, "service": f"{GPU_CULLER}{suffix}", "group": f"{GPU_CULL_GROUP}{suffix}"}


def culling_settings(cfg: EnvironmentConfig) -> dict:
    """`custom.swanIac.cull`: SWAN's culler for every session (`timeout`), and one per distinct GPU idle
    timeout shorter than that (gpuTimeout, the pools' gpu.idleTimeout), each limited to its own group.
    A timeout of `timeout` or longer needs none: the culler of every session stops those sessions then."""
    culling = cfg.hub.culling
    timeout = duration_seconds(culling.timeout)
    gpu_timeout = duration_seconds(culling.gpu_timeout) if (cfg.gpu_models or cfg.event_gpus) else None
    by_flavour = flavour_timeouts(cfg)
    timeouts = sorted({t for t in (gpu_timeout, *by_flavour.values()) if t is not None and t < timeout})
    return {"enabled": culling.enabled, "timeout": timeout, "every": duration_seconds(culling.every),
            "gpuTimeout": gpu_timeout,
            "gpuCullers": [gpu_culler(t, gpu_timeout) for t in timeouts],
            # only the flavours whose timeout is not gpuTimeout
            "flavourTimeouts": {f: t for f, t in by_flavour.items() if t != gpu_timeout}}


def swan_iac_settings(cfg: EnvironmentConfig) -> dict:
    """`custom.swanIac`: what hub_side/swan_iac_hub.py reads in the hub."""
    auth = cfg.hub.auth
    settings: dict = {
        "defaultUid": auth.default_uid,
        "uidClaim": auth.uid_claim if auth.type == "oidc" else None,
        "eventLabel": EVENT_LABEL,
        "gpuTaintKey": GPU_TAINT_KEY,
        "homeOnVolume": None if cfg.storage.eos.enabled else HOME_ON_VOLUME,
        "cull": culling_settings(cfg),
        "spark": None,
    }
    if cfg.spark.enabled:
        settings["spark"] = {"namespace": cfg.spark.namespace, "executorServiceAccount": SPARK_EXECUTOR_ACCOUNT,
                             "driverLabel": SPARK_DRIVER_LABEL, "userLabel": SPARK_USER_LABEL}
    return settings


def _hub_services(cfg: EnvironmentConfig) -> dict:
    """Hub services whose tokens the chart generates into its `hub` Secret."""
    services, roles = {}, {}
    if cfg.verification.enabled:
        verify = verification.hub_service_values(cfg)
        services.update(verify["services"])
        roles.update(verify["loadRoles"])
    if cfg.monitoring.enabled:
        services[METRICS_SERVICE] = {}
        roles[METRICS_SERVICE] = {"description": "Prometheus reads /hub/metrics", "scopes": ["read:metrics"],
                                  "services": [METRICS_SERVICE]}
    return {"services": services, "loadRoles": roles} if services else {}


def hub_values(cfg: EnvironmentConfig) -> dict:
    """The complete values document for the `swan` chart release."""
    hub = cfg.hub
    auth_config, auth_hook = _auth(cfg)
    config = {
        **auth_config,
        "JupyterHub": {
            **auth_config["JupyterHub"],
            # sessions live in another namespace: the short name `hub` does not resolve there
            "hub_connect_url": f"http://hub.{cfg.security.hub_namespace}.svc:8081",
            "db_url": hub_database.database_url(hub.database),
            "authenticate_prometheus": True,
        },
        "KubeSpawner": {"namespace": cfg.security.user_namespace, "delete_pvc": False},
        "SwanSpawner": {"options_form_config": FORM_PATH, "lcg_view_path": LCG_VIEWS},
    }
    jupyterhub: dict = {
        "hub": {
            "image": {"name": hub.image.name, "tag": hub.image.tag},
            "config": config,
            "extraFiles": _hub_files(cfg),
            "extraConfig": {"00-authConf": auth_hook, "10-swan-iac": HUB_SIDE.read_text()},
            "networkPolicy": _hub_network_policy(cfg),
            **_hub_services(cfg),
            **({"existingSecret": HUB_SECRET} if has_secret_values(cfg) else {}),
            **hub_database.chart_db_values(cfg),
        },
        "proxy": {"chp": {"networkPolicy": {"enabled": True, "egress": _to_sessions(cfg)}}},
        "singleuser": {
            "image": {"name": hub.user_image.name, "tag": hub.user_image.tag},
            "storage": _home(cfg),
            # limits come from the form (SwanKubeSpawner); the request is a share of them
            "cpu": {"guarantee": 0.5},
            # the Security component's policies in the user namespace replace the chart's
            "networkPolicy": {"enabled": False},
        },
        "prePuller": {"extraTolerations": TOLERATE_EVERYTHING},
        # z2jh's culler is not in SWAN's hub image; SWAN's own runs as hub services (swanIac.cull)
        "cull": {"enabled": False},
        # the program's own Ingress carries TLS (cert-manager), so the chart need not hold certificates
        "ingress": {"enabled": False},
        "custom": {"eos": {"enabled": cfg.storage.eos.enabled}, "swanIac": swan_iac_settings(cfg)},
    }
    return {"cvmfs-csi": _cvmfs(cfg), "eosxd-csi": _eos(cfg), "jupyterhub": jupyterhub}
