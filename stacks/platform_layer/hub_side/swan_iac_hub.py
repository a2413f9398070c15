"""swan-iac's part of SWAN's hub configuration.

Shipped verbatim as a `hub.extraConfig` entry, so it runs inside the hub pod after
Zero-to-JupyterHub's jupyterhub_config.py and the swan chart's swan_config.py, in the same
globals (`c`, `get_config`, `swan_pod_hook`). It must be self-contained: the hub image has
SWAN's packages (swanspawner, keycloakauthenticator, swanhub, swanculler), not swan-iac.
Its settings are the chart values under `custom.swanIac` (see hub_values.py).

What it adds to SWAN's own spawner:
- who the user is for the session: the numeric uid SWAN's image creates the user with, and the
  user's roles (Keycloak client roles, or hub groups with the dummy login);
- course events: an event's GPU flavour is offered in SWAN's form to members of the event's
  role, only inside the event's window, and its sessions land on the event's nodes;
- GPU flavours the spawner discovered on the nodes become real GPU requests, with CUDA only;
  GPUs NVIDIA's device plugin shares (MPS, time-slicing) are flavours of their own;
- Spark on this cluster: a per-user identity allowed to run executors, nothing more;
- idle culling with SWAN's culler: one timeout for every session, and for GPU sessions the shorter
  timeout of their flavour (the pool's, an event's, else gpuTimeout): one culler per timeout, each
  seeing only its own hub group, and the user of a GPU session in the group of its timeout.
"""
import datetime
import json

from jupyterhub import orm
from kubernetes_asyncio.client.models import V1EnvVar, V1Toleration
from kubernetes_asyncio.client.rest import ApiException
from swanspawner import SwanKubeSpawner
from swanspawner._gpuinfo import AvailableGPUs, _GPUInfo

SWAN_IAC = get_config("custom.swanIac", {})  # noqa: F821 (defined by jupyterhub_config.py)
CULL = SWAN_IAC.get("cull") or {}
# GPU idle timeout (seconds) -> the hub group its culler sees; a session culled at `timeout` is in none
CULL_GROUPS = {c["timeout"]: c["group"] for c in CULL.get("gpuCullers") or []} if CULL.get("enabled") else {}


def _open_now(event, now=None):
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return datetime.datetime.fromisoformat(event["opens"]) <= now < datetime.datetime.fromisoformat(event["closes"])


# GPU feature discovery labels a node whose GPUs the device plugin shares (renameByDefault false):
# `<product>-SHARED`, `nvidia.com/gpu.replicas` and `nvidia.com/gpu.sharing-strategy` (mps or
# time-slicing); its `nvidia.com/gpu` count is GPUs x replicas (k8s-device-plugin internal/lm/resource.go).
SHARED_SUFFIX = "-SHARED"
REPLICAS_LABEL = "nvidia.com/gpu.replicas"
STRATEGY_LABEL = "nvidia.com/gpu.sharing-strategy"


def shared_flavour(model, labels):
    """The flavour of a GPU shared `replicas` ways, None when not shared. With MPS a session gets
    memory / replicas (the MPS daemon's pinned memory limit); time-slicing limits nothing."""
    replicas = int(labels.get(REPLICAS_LABEL) or 1)
    if replicas < 2:
        return None
    memory = int(labels["nvidia.com/gpu.memory"])  # MiB of the whole GPU
    if labels.get(STRATEGY_LABEL) == "mps":
        return f"{model} shared by {replicas}, MPS ({memory / replicas / 1024:.1f} GB)"
    return f"{model} shared by {replicas}, time-slicing ({memory // 1024} GB)"


class SwanIacGPUs(AvailableGPUs):
    """SWAN's GPU discovery, with shared GPUs as flavours of their own. SWAN names a flavour from the
    product and memory only, so a T4 shared 4 ways with MPS would be `Tesla T4 (15 GB)` like a whole
    one, and sessions asking for either could land on both."""

    def __init__(self, *args, **kwargs):
        self.selectors = {}  # shared flavour -> node labels that pin its sessions to such nodes
        super().__init__(*args, **kwargs)

    def _process_full_card(self, gpus, gpu_model, product_name, node_to_flavor, node_status, node_labels,
                           node_name):
        model = self._get_simplified_gpu_model(product_name.removesuffix(SHARED_SUFFIX))
        flavour = shared_flavour(model, node_labels)
        if flavour is None:
            return super()._process_full_card(gpus, gpu_model, product_name, node_to_flavor, node_status,
                                              node_labels, node_name)
        count = int(node_status.allocatable.get("nvidia.com/gpu", 0))
        if count > 0:
            node_to_flavor[(node_name, "nvidia.com/gpu")] = flavour
            info = gpus.get(flavour, _GPUInfo("nvidia.com/gpu", product_name))
            info.count += count
            gpus[flavour] = info
            self.selectors[flavour] = {REPLICAS_LABEL: node_labels[REPLICAS_LABEL],
                                       STRATEGY_LABEL: node_labels.get(STRATEGY_LABEL, "")}


class SwanIacKubeSpawner(SwanKubeSpawner):
    """SWAN's Kubernetes spawner plus course-event GPU flavours (configured as SwanKubeSpawner)."""

    # SWAN's own instance keeps polling (it starts with the class); this one is the one the form reads.
    gpus = SwanIacGPUs(SwanKubeSpawner.SWAN_EVENTS_ROLE, SwanKubeSpawner.LHCB_SWAN_ROLE)

    async def load_events(self):
        """Course events published in the user namespace (ConfigMaps the event stacks create)."""
        listing = await self.api.list_namespaced_config_map(
            self.namespace, label_selector=f"{SWAN_IAC['eventLabel']}=true")
        return [json.loads(cm.data["event.json"]) for cm in listing.items]

    async def user_role_set(self):
        """Keycloak client roles from the login, plus hub groups (the dummy login has no roles)."""
        auth_state = await self.user.get_auth_state() or {}
        return set(auth_state.get("roles", [])) | {g.name for g in self.user.groups}

    async def event_flavours(self):
        """Event flavours this user may pick now: member of the event's role, inside its window."""
        roles = await self.user_role_set()
        return [e for e in await self.load_events() if e["role"] in roles and _open_now(e)]

    async def _render_templated_options_form(self, spawner):
        roles = await self.user_role_set()
        available = self.gpus.get_available_gpu_flavours(roles)
        free = self.gpus.get_free_gpu_flavours(roles)
        events = [e["flavour"] for e in await self.event_flavours()]
        self._dynamic_form_info["gpu_flavours"] = list(available) + events
        self._dynamic_form_info["free_gpu_flavours"] = events + sorted(free, key=lambda f: free[f].free, reverse=True)
        # SwanSpawner's renderer (SwanKubeSpawner's own would overwrite the flavours above)
        return super(SwanKubeSpawner, self)._render_templated_options_form(spawner)


c.JupyterHub.spawner_class = SwanIacKubeSpawner  # noqa: F821


async def auth_state_hook(spawner, auth_state):
    """The uid SWAN's image creates the user with (USER_ID/NB_UID) and the user's roles. A user
    that never logged in (created through the API, e.g. by the nightly verification) has no
    login state: it runs with the default uid."""
    claim = SWAN_IAC.get("uidClaim") if auth_state else None
    auth_state = auth_state or {}
    uid = SWAN_IAC["defaultUid"]
    if claim:
        uid = (auth_state.get("oauth_user") or {}).get(claim)
        if uid is None:
            raise ValueError(f"the login did not provide the '{claim}' claim SWAN sessions need")
    spawner.user_uid = str(uid)
    spawner.user_roles = set(auth_state.get("roles", [])) | {g.name for g in spawner.user.groups}


c.Spawner.auth_state_hook = auth_state_hook  # noqa: F821


def _set_culling_group(spawner, wanted):
    """The user in the group of culler `wanted` (None: in no GPU culler's group); the cullers' roles are
    limited to their groups, so each sees only its own sessions."""
    db = spawner.user.db
    groups = spawner.user.orm_user.groups
    for name in CULL_GROUPS.values():
        group = orm.Group.find(db, name)
        if name == wanted:
            if group is None:
                group = orm.Group(name=name)
                db.add(group)
            if group not in groups:
                groups.append(group)
        elif group is not None and group in groups:
            groups.remove(group)
    db.commit()


def _wants_gpu(spawner):
    return (spawner.user_options.get("gpu") or "none") != "none"


async def idle_timeout(spawner):
    """Idle seconds the session's GPU flavour allows: a course event's own, its pool's, else gpuTimeout.
    None without a GPU (the timeout of every session applies)."""
    if not _wants_gpu(spawner):
        return None
    flavour = spawner.user_options["gpu"]
    event = next((e for e in await spawner.event_flavours() if e["flavour"] == flavour), None)
    if event is not None and event.get("idleTimeout"):
        return event["idleTimeout"]
    return (CULL.get("flavourTimeouts") or {}).get(flavour, CULL.get("gpuTimeout"))


def culling_group(timeout, log=None):
    """The group of the culler for `timeout` seconds; None when the culler of every session is soon enough."""
    if timeout is None or not CULL_GROUPS or timeout >= CULL["timeout"]:
        return None
    if timeout in CULL_GROUPS:
        return CULL_GROUPS[timeout]
    # a timeout this hub runs no culler for (an event checked against other settings of the environment):
    # the longest culler not later than that, else the shortest, so the GPU is back no later than promised
    shorter = [t for t in CULL_GROUPS if t < timeout]
    chosen = max(shorter) if shorter else min(CULL_GROUPS)
    if log is not None:
        log.warning("no culler for an idle timeout of %ss; culling at %ss instead", timeout, chosen)
    return CULL_GROUPS[chosen]


async def pre_spawn_hook(spawner):
    if CULL_GROUPS:
        _set_culling_group(spawner, culling_group(await idle_timeout(spawner), spawner.log))


def post_stop_hook(spawner):
    if CULL_GROUPS:
        _set_culling_group(spawner, None)


c.Spawner.pre_spawn_hook = pre_spawn_hook  # noqa: F821
c.Spawner.post_stop_hook = post_stop_hook  # noqa: F821


def _container(pod):
    return next(ct for ct in pod.spec.containers if ct.name == "notebook")


def _add_env(container, name, value):
    container.env = [e for e in (container.env or []) if e.name != name] + [V1EnvVar(name=name, value=value)]


def _request(container, resource, count="1"):
    container.resources.requests = {**(container.resources.requests or {}), resource: count}
    container.resources.limits = {**(container.resources.limits or {}), resource: count}


async def _gpu(spawner, pod):
    """The GPU flavour picked in the form, as a request the scheduler can place."""
    flavour = spawner.user_options["gpu"]
    if "cuda" not in (spawner.user_options.get("lcg") or "").lower():
        raise ValueError(f"GPU '{flavour}' needs a CUDA software stack (a release with 'cuda' in its name)")
    container = _container(pod)
    event = next((e for e in await spawner.event_flavours() if e["flavour"] == flavour), None)
    if event is not None:  # a course event: its nodes, its quota (PriorityClass), its size
        _request(container, event["resource"])
        container.resources.limits.update(event["limits"])
        container.resources.requests.update(event["requests"])
        pod.spec.node_selector = {**(pod.spec.node_selector or {}), **event["nodeSelector"]}
        pod.spec.tolerations = (pod.spec.tolerations or []) + [V1Toleration(**t) for t in event["tolerations"]]
        pod.spec.priority_class_name = event["priorityClassName"]
        pod.metadata.labels.update(event["labels"])
        if event.get("sharing") == "mps":
            _leave_dev_shm_to_mps(pod, container)
        return
    roles = await spawner.user_role_set()
    info = spawner.gpus.get_available_gpu_flavours(roles).get(flavour)
    if info is None:
        raise ValueError(f"the GPU flavour '{flavour}' is not available to you")
    _request(container, info.resource_name)
    shared = getattr(spawner.gpus, "selectors", {}).get(flavour, {})
    terms = [{"key": "nvidia.com/gpu.product", "operator": "In", "values": [info.product_name]},
             *({"key": k, "operator": "In", "values": [v]} for k, v in sorted(shared.items()))]
    pod.spec.affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": terms}]}}}
    if shared.get(STRATEGY_LABEL) == "mps":
        _leave_dev_shm_to_mps(pod, container)
    pod.spec.tolerations = (pod.spec.tolerations or []) + [
        V1Toleration(key=SWAN_IAC["gpuTaintKey"], operator="Exists", effect="NoSchedule")]
    pod.metadata.labels["gpu"] = info.resource_name.split("/", 1)[1]


def _leave_dev_shm_to_mps(pod, container):
    """The device plugin mounts the MPS daemon's /dev/shm into an MPS client; SWAN's own /dev/shm
    volume would be mounted over it (the kubelet mounts pod volumes after device mounts), and CUDA
    could not reach the MPS server. MPS sessions keep the plugin's."""
    container.volume_mounts = [m for m in (container.volume_mounts or []) if m.mount_path != "/dev/shm"]
    used = {m.name for c in pod.spec.containers for m in (c.volume_mounts or [])}
    pod.spec.volumes = [v for v in (pod.spec.volumes or []) if v.name != "devshm" or v.name in used]


async def _spark(spawner, pod):
    """Spark on this cluster: a per-user ServiceAccount (token mounted only here) whose executors
    must carry the user's label; an admission policy refuses anything else."""
    spark = SWAN_IAC["spark"]
    user_label = pod.metadata.labels["hub.jupyter.org/username"]
    account = f"spark-{user_label}"
    try:
        await spawner.api.create_namespaced_service_account(spawner.namespace, {
            "metadata": {"name": account, "labels": {spark["userLabel"]: user_label,
                                                      "app.kubernetes.io/managed-by": "swan-hub"}}})
    except ApiException as exc:
        if exc.status != 409:
            raise
    pod.spec.service_account_name = account
    pod.spec.automount_service_account_token = True
    pod.metadata.labels.update({spark["driverLabel"]: "true", spark["userLabel"]: user_label})
    container = _container(pod)
    for name, value in (("SPARK_USER", spawner.user.name), ("SWAN_SPARK_NAMESPACE", spark["namespace"]),
                        ("SWAN_SPARK_EXECUTOR_SERVICE_ACCOUNT", spark["executorServiceAccount"]),
                        ("SWAN_SPARK_EXECUTOR_LABEL", f"{spark['userLabel']}={user_label}")):
        _add_env(container, name, value)


async def swan_iac_pod_hook(spawner, pod):
    pod = swan_pod_hook(spawner, pod)  # noqa: F821 (the swan chart's hook: labels, no service links)
    container = _container(pod)
    if SWAN_IAC.get("homeOnVolume"):  # start.sh (as root) hands the fresh volume to the user
        _add_env(container, "CHOWN_EXTRA", spawner.get_env()["HOME"].rstrip("/"))
    if _wants_gpu(spawner):
        await _gpu(spawner, pod)
    if spawner.user_options.get("clusters", "none") != "none":
        if not SWAN_IAC.get("spark"):
            raise ValueError("Spark is not offered on this service")
        await _spark(spawner, pod)
    return pod


c.SwanKubeSpawner.modify_pod_hook = swan_iac_pod_hook  # noqa: F821
# swan_config.py starts SwanKubeSpawner's volumes afresh (/dev/shm, /cvmfs, /eos), which hides what
# Zero-to-JupyterHub configured on KubeSpawner: the user's home volume among them.
def _configured(value):
    """A list trait as configured so far (only appended to, it is still a lazy config value)."""
    return value.get_value([]) if hasattr(value, "get_value") else list(value)


c.SwanKubeSpawner.volumes.extend(_configured(c.KubeSpawner.volumes))  # noqa: F821
c.SwanKubeSpawner.volume_mounts.extend(_configured(c.KubeSpawner.volume_mounts))  # noqa: F821
if SWAN_IAC.get("homeOnVolume"):
    # HOME on the user's volume, like an EOS home (SWAN keeps its local home for Jupyter's files)
    c.SwanKubeSpawner.local_home = False  # noqa: F821
    c.SwanKubeSpawner.eos_path_format = SWAN_IAC["homeOnVolume"]  # noqa: F821


def _culler(name, timeout, every, group=None):
    """SWAN's culler as a hub service; with `group`, its role (so what it sees) is that group's."""
    scopes = ["list:users", "read:users:activity", "read:servers", "delete:servers"]
    if group:
        scopes = [f"{scope}!group={group}" for scope in scopes]
    c.JupyterHub.services.append({  # noqa: F821
        "name": name,
        # --disable-hooks: no CERN Kerberos ticket checks. swanculler 1.0.7 always schedules CERN's
        # blocked-user check and crashes on its default interval (0); a day keeps that check idle.
        # Its client id and secret default to None, which it cannot quote (a TypeError each day):
        # empty ones let it fail cleanly, logging that it cannot get a token (it has no --auth-url).
        "command": ["swanculler", "--url=http://localhost:8081/hub/api", f"--timeout={timeout}",
                    f"--cull-every={every}", "--disable-hooks=True", "--auth-check-interval=86400",
                    "--auth-client-id=", "--auth-client-secret="],
    })
    c.JupyterHub.load_roles.append({"name": name, "scopes": scopes, "services": [name]})  # noqa: F821


if CULL.get("enabled"):
    _culler("swan-idle-culler", CULL["timeout"], CULL["every"])
    for gpu_culler in CULL.get("gpuCullers") or []:
        _culler(gpu_culler["service"], gpu_culler["timeout"], CULL["every"], group=gpu_culler["group"])
