"""A SWAN session that works, proven with SWAN's real hub on every environment stack's render.

The hub runs exactly as its pod would (swan_hub.SwanHubPod: the chart's hub and proxy containers,
the chart-rendered config, SWAN's hub packages at the hub image's versions). Replaced, and only
these: the Kubernetes API server (fake_apiserver: it stores what the hub creates and serves the
nodes, ConfigMaps and claims seeded below; pods stay Pending, no scheduler or kubelet runs) and
Keycloak (fake_oidc). The nodes of each pool are seeded with the labels and allocatable resources
NVIDIA's GPU feature discovery and device plugin would give them (`gpu_node` below), since that is
what SWAN's spawner reads to offer GPUs.

What a user relies on, asserted on the pod the spawner really sends to the API server:
SWAN's image contract (start scripts run as root, the user's identity, the LCG view, /cvmfs and
/eos or a persistent home, /dev/shm), the software and size picked in SWAN's form, GPUs of every
flavour the pools offer, course-event flavours for members inside the window only, and the
network paths between sessions and the hub under the rendered NetworkPolicies.
"""
from __future__ import annotations

import ast
import datetime as dt
import json
import re
import subprocess
import time
from pathlib import Path

import kubernetes_validate
import pytest
import requests
import yaml

from stacks.config.event_model import EventConfig
from stacks.config.loader import load_stack, stack_names
from stacks.config.types import duration_seconds
from stacks.events.objects import node_pool
from stacks.events.plan import plan_event
from stacks.infra.pools import pool_labels, pool_taints
from stacks.platform_layer.gpu_flavours import flavours, node_labels
from stacks.platform_layer.hub_values import HOME_ON_VOLUME, SPARK_DRIVER_LABEL
from stacks.platform_layer.swan_form import default_size, form_fields
from stacks.platform_layer.verification import SESSIONS_CONFIG_MAP, session_options
from stacks.render_checks import (Pod, flow_problems, load_render, objects_from_manifests, pod_from_workload,
                                  pvc_problems, selects, swan_flows, untolerated)
from stacks.infra import CLUSTER_STORAGE_CLASSES
from stacks.verify.cluster import RecordedApi
from stacks.verify.events import EVENT_CONFIG_MAP_LABEL, config_maps_path, read_open_events
from stacks.verify.hub import HubOptions, HubVerification
from stacks.verify.model import Deadline

from swan_hub import SwanHubPod

pytestmark = pytest.mark.hub

ENVIRONMENTS = [s for s in stack_names() if not s.startswith("event-")]
GPU_STACKS = [s for s in ENVIRONMENTS if any(p.gpu for p in load_stack(s).node_pools)]
EVENT_ENVIRONMENTS = sorted({e for s in stack_names() if s.startswith("event-") for e in load_stack(s).event.environments})
SPARK_STACKS = [s for s in ENVIRONMENTS if load_stack(s).spark.enabled]
every_stack = pytest.mark.parametrize("stack", ENVIRONMENTS, indirect=True)
CLIENT_SECRET = "test-client-secret"
CLOSED_EVENTS = {"physics-course"}  # seeded with its window moved to tomorrow; the others are open now
UID = 4242
def gpu_node(name: str, labels: dict, taints: list[dict], gpu) -> dict:
    """A node of a GPU pool as the cluster shows it once the gpu-operator ran: GFD labels, and the
    allocatable devices of its MIG layout (mixed strategy), its whole GPUs, or its shared GPUs
    (GPUs x replicas)."""
    allocatable = {"cpu": "32", "memory": "256Gi", "pods": "110"}
    for resource, count in gpu.resources_per_gpu.items():
        allocatable[resource] = str(count * gpu.per_node)
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {**labels, "nvidia.com/gpu.present": "true", **node_labels(gpu)}},
            "spec": {"taints": taints}, "status": {"allocatable": allocatable, "capacity": allocatable}}


def event_stacks(environment: str) -> list[EventConfig]:
    return [cfg for cfg in (load_stack(s) for s in stack_names() if s.startswith("event-"))
            if environment in cfg.event.environments]


def event_seed(environment: str, render, now: dt.datetime) -> tuple[list[dict], dict[str, dict]]:
    """Each event's ConfigMap from the event stack's render, and its nodes. The window in the
    ConfigMap is moved around `now` (the hub compares it with its clock): open for events named
    open now, except for CLOSED_EVENTS (tomorrow on)."""
    objects, documents = [], {}
    for cfg in event_stacks(environment):
        event = cfg.event
        folder = render(f"event-{event.name}")
        cm = yaml.safe_load((folder / "k8s" / f"ConfigMap-swan-users-swan-event-{event.name}.yaml").read_text())
        document = json.loads(cm["data"]["event.json"])
        opens, closes = (now - dt.timedelta(hours=1), now + dt.timedelta(hours=6))
        if event.name in CLOSED_EVENTS:  # this one's window is tomorrow: members must not see it yet
            opens, closes = now + dt.timedelta(days=1), now + dt.timedelta(days=2)
        document.update(opens=opens.isoformat(), closes=closes.isoformat())
        cm["data"]["event.json"] = json.dumps(document)
        objects.append(cm)
        documents[event.name] = document
        for group in plan_event(cfg).nodes:
            if group.environment == environment:
                pool = node_pool(event, group)
                objects.append(gpu_node(f"{pool.name}-0", pool_labels(pool), pool_taints(pool), pool.gpu))
    return objects, documents


class Stack:
    """One environment's render, its config, and its real hub."""

    def __init__(self, name: str, render, tmp: Path):
        self.name = name
        self.cfg = load_stack(name)
        self.folder = render(name)
        self.objects = load_render(self.folder)
        now = dt.datetime.now(dt.timezone.utc)
        self.gpu_nodes = {pool.name: gpu_node(f"{pool.name}-0", pool_labels(pool), pool_taints(pool), pool.gpu)
                          for pool in self.cfg.node_pools if pool.gpu}
        event_objects, self.events = event_seed(name, render, now)
        values = {}
        if self.cfg.hub.auth.type == "oidc":  # as `pulumi up` would hand it over (decrypted)
            values["secret/swan-hub-secret-values/values.yaml"] = yaml.safe_dump(
                {"hub": {"config": {"KeyCloakAuthenticator": {"client_secret": CLIENT_SECRET}}}})
        self.hub = SwanHubPod(self.folder, workdir=tmp / "hub", substitutes=values,
                              oidc_client_secret=CLIENT_SECRET if values else None,
                              seed=[*self.gpu_nodes.values(), *event_objects]).start()
        self.users = 0

    def user(self, roles: tuple[str, ...] = ()) -> tuple[str, requests.Session]:
        """A fresh user, logged in through the hub's real login (Keycloak: with its roles and uid)."""
        self.users += 1
        name = f"user{self.users}"
        auth = self.cfg.hub.auth
        if auth.type == "oidc":
            return name, self.hub.login(name, roles=[*auth.allowed_roles, *roles], cern_uid=UID)
        session = self.hub.login(name)
        if roles:  # the dummy login has no roles: hub groups stand in for them
            token = self.hub.api_token()
            for role in roles:
                headers = {"Authorization": f"token {token}"}
                requests.post(f"{self.hub.url}/hub/api/groups/{role}", headers=headers, timeout=10)
                r = requests.post(f"{self.hub.url}/hub/api/groups/{role}/users", headers=headers,
                                  json={"users": [name]}, timeout=10)
                assert r.status_code == 200, r.text
        return name, session

    def admin_token(self) -> str:
        """A token of a hub admin, who logged in as admins do (Keycloak: the admin role)."""
        auth = self.cfg.hub.auth
        if auth.type == "oidc":
            name, session = "operator", self.hub.login("operator", roles=[*auth.allowed_roles, auth.admin_role],
                                                       cern_uid=UID)
        else:
            name, session = self.cfg.hub.admins[0], self.hub.login(self.cfg.hub.admins[0])
        r = session.post(f"{self.hub.url}/hub/api/users/{name}/tokens", headers=self.hub.xsrf_headers(session),
                         json={"note": "session tests"}, timeout=10)
        assert r.status_code == 201, r.text
        return r.json()["token"]

    def form(self, session: requests.Session) -> tuple[dict, dict]:
        """SWAN's form as the browser gets it: its configuration and the GPU flavours offered."""
        page = session.get(self.hub.url + "/hub/spawn", timeout=30)
        assert page.status_code == 200, page.text[-2000:]
        config = ast.literal_eval(re.search(r"const form_config = (.*?);\n", page.text).group(1))
        dynamic = json.loads(re.search(r"const dynamicFormInfo = (.*?);\n", page.text).group(1))
        return config, dynamic


@pytest.fixture(scope="module")
def stack(request, tmp_path_factory, prerequisites):
    """The stack's render and its running hub, shared by the tests of this module (parametrized
    indirectly: each test names the stacks it applies to)."""
    tmp = tmp_path_factory.mktemp(request.param)
    folders: dict[str, Path] = {}

    def render(name: str) -> Path:
        if name not in folders:
            out = tmp / f"render-{name}"
            done = subprocess.run([str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "swan"), "render",
                                   name, "--out", str(out), "--require-charts"], capture_output=True, text=True,
                                  timeout=300)
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
            folders[name] = out
        return folders[name]

    s = Stack(request.param, render, tmp)
    try:
        yield s
    finally:
        s.hub.stop()


def spawn_all(stack: Stack, sessions: list[tuple[requests.Session, dict]]) -> tuple[list[dict], list]:
    """Submit several forms through the real spawn page at once: the pods the spawner sent, and
    the page's answers (SWAN's page answers once it stops waiting for the pending sessions)."""
    start = len(stack.hub.spawn_responses)
    pods = [stack.hub.spawn(session, fields) for session, fields in sessions]
    deadline = time.monotonic() + 90
    while len(stack.hub.spawn_responses) < start + len(sessions):
        assert time.monotonic() < deadline, "SWAN's spawn page never answered"
        time.sleep(0.2)
    answers = [box.get("response") for box in stack.hub.spawn_responses[start:start + len(sessions)]]
    for answer in answers:  # SWAN's page: no error, the session is on its way
        assert answer is not None and answer.status_code == 302, answer.text[-2000:] if answer is not None else answer
        assert "spawn-pending" in answer.headers["Location"]
    return pods, answers


def env_of(pod: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in pod["spec"]["containers"][0].get("env", [])}


def notebook(pod: dict) -> dict:
    return next(c for c in pod["spec"]["containers"] if c["name"] == "notebook")


def mounts(pod: dict) -> dict[str, dict]:
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    return {m["mountPath"]: {**m, "volume": volumes[m["name"]]} for m in notebook(pod)["volumeMounts"]}


# ------------------------------------------------------------------------------------------ tests

@every_stack
def test_the_form_offers_the_configured_software_sizes_and_gpus(stack):
    cfg = stack.cfg
    _, session = stack.user()
    config, dynamic = stack.form(session)
    selections = [o for o in config["lcg_options"] if o["type"] == "selection"]
    assert [s["lcg"]["value"] for s in selections] == list(dict.fromkeys(sw.release for sw in cfg.hub.software))
    for selection in selections:
        platforms = [sw.platform for sw in cfg.hub.software if sw.release == selection["lcg"]["value"]]
        assert [p["value"] for p in selection["platforms"]] == platforms
        assert selection["cores"][0]["value"] == str(default_size(cfg).cores)  # preselected: the default size
        assert {c["value"] for c in selection["cores"]} == {str(s.cores) for s in cfg.hub.sessions}
        assert {m["value"] for m in selection["memory"]} == {str(s.memory_gib) for s in cfg.hub.sessions}
    offered = set(dynamic.get("gpu_flavours", []))
    expected = set().union(*[flavours(p.gpu) for p in cfg.node_pools if p.gpu] or [set()])
    assert offered == expected  # every GPU flavour of the pools, and no event's


@every_stack
def test_the_default_session_keeps_swans_image_contract(stack):
    cfg, hub = stack.cfg, stack.hub
    name, session = stack.user()
    sw = cfg.hub.software[0]
    (pod,), _ = spawn_all(stack, [(session, form_fields(cfg, sw.release, sw.platform))])
    kubernetes_validate.validate(pod, cfg.kubernetes_version, strict=True)
    spec, container = pod["spec"], notebook(pod)
    (created,) = [r for r in hub.api.requests if r["verb"] == "create" and r["resource"] == "pods"
                  and r["body"]["metadata"]["name"] == pod["metadata"]["name"]]
    assert f"/namespaces/{cfg.security.user_namespace}/pods" in created["path"]
    pod = {**pod, "metadata": {**pod["metadata"], "namespace": cfg.security.user_namespace}}
    assert container["image"] == f"{cfg.hub.user_image.name}:{cfg.hub.user_image.tag}"
    # the image's own command runs (start-notebook.sh: before-notebook.d hooks, then the user's server) ...
    assert not container.get("command") and not container.get("args")
    # ... as root, which start.sh needs to create the user and drop to it
    assert (container.get("securityContext") or spec.get("securityContext") or {}).get("runAsUser") == 0
    env = env_of(pod)
    assert env["SOFTWARE_SOURCE"] == "lcg"
    assert (env["ROOT_LCG_VIEW_PATH"], env["ROOT_LCG_VIEW_NAME"], env["ROOT_LCG_VIEW_PLATFORM"]) == (
        "/cvmfs/sft.cern.ch/lcg/views", sw.release, sw.platform)
    assert env["USER"] == env["NB_USER"] == name
    uid = str(UID) if cfg.hub.auth.type == "oidc" else str(cfg.hub.auth.default_uid)
    assert env["USER_ID"] == env["NB_UID"] == uid
    assert env["JUPYTERHUB_API_URL"] == f"http://hub.{cfg.security.hub_namespace}.svc:8081/hub/api"
    size = default_size(cfg)
    limits = container["resources"]["limits"]
    assert (float(limits["cpu"]), int(limits["memory"])) == (size.cores, size.memory_gib * 2**30)
    paths = mounts(pod)
    assert paths["/cvmfs"]["volume"]["persistentVolumeClaim"]["claimName"] == "cvmfs"
    assert paths["/cvmfs"]["mountPropagation"] == "HostToContainer"
    assert paths["/dev/shm"]["volume"]["emptyDir"]["medium"] == "Memory"
    if cfg.storage.eos.enabled:  # EOS home with the user's own token (SWAN's 01_storage.sh hands it to EOS)
        assert env["HOME"] == f"/eos/user/{name[0]}/{name}/" and env["EOS_ENABLED"] == "true"
        assert paths["/eos"]["volume"]["persistentVolumeClaim"]["claimName"] == "eos"
        assert env["ACCESS_TOKEN"] and env["OAUTH_INSPECTION_ENDPOINT"].startswith("auth.cern.ch/")
    else:  # a persistent home: the user's own volume, handed to the user by start.sh
        home = HOME_ON_VOLUME.format(username=name)
        assert env["HOME"] == home and env["EOS_ENABLED"] == "false" and env["CHOWN_EXTRA"] == home.rstrip("/")
        claim = paths[home.rstrip("/")]["volume"]["persistentVolumeClaim"]["claimName"]
        created = [m["body"] for m in hub.api.mutations() if m["verb"] == "create"
                   and m["path"].endswith("/persistentvolumeclaims") and m["body"]["metadata"]["name"] == claim]
        assert created and created[0]["spec"]["resources"]["requests"]["storage"] == cfg.storage.home.size
    # every claim the pod mounts exists in its namespace (the render's, plus the home the hub created)
    claims = [m["body"] for m in hub.api.mutations() if m["verb"] == "create" and m["path"].endswith("/persistentvolumeclaims")]
    mine = objects_from_manifests([pod, *claims], "hub", namespace=cfg.security.user_namespace)
    assert pvc_problems([*stack.objects, *mine], CLUSTER_STORAGE_CLASSES[cfg.cloud]) == []
    assert spec.get("enableServiceLinks") is False  # the swan chart's own pod hook ran
    assert "serviceAccountName" not in spec or spec.get("automountServiceAccountToken") is False


@every_stack
def test_every_software_stack_reaches_the_image_through_the_spawn_page(stack):
    cfg = stack.cfg
    forms = [(stack.user()[1], form_fields(cfg, sw.release, sw.platform)) for sw in cfg.hub.software if not sw.cuda]
    pods, _ = spawn_all(stack, forms)
    for pod, (_, fields) in zip(pods, forms):
        env = env_of(pod)
        assert (env["ROOT_LCG_VIEW_NAME"], env["ROOT_LCG_VIEW_PLATFORM"]) == (fields["lcg"], fields["platforms"])


@every_stack
def test_sessions_reach_the_hub_and_nothing_else_by_the_rendered_policies(stack):
    """The rendered NetworkPolicies (the charts' and the project's), with the labels of a pod the
    spawner really built."""
    cfg = stack.cfg
    sw = cfg.hub.software[0]
    (pod_a, pod_b), _ = spawn_all(stack, [(stack.user()[1], form_fields(cfg, sw.release, sw.platform)),
                                              (stack.user()[1], form_fields(cfg, sw.release, sw.platform))])
    ports = {p["name"]: (p["containerPort"], p.get("protocol", "TCP")) for p in notebook(pod_a).get("ports", [])}
    users = cfg.security.user_namespace  # where the spawner creates them (the default session test checks it)
    a = Pod(users, pod_a["metadata"]["labels"], ports, "a session")
    b = Pod(users, pod_b["metadata"]["labels"], ports, "another user's session")
    namespaces = {o.name: {**o.labels, "kubernetes.io/metadata.name": o.name}
                  for o in stack.objects if o.kind == "Namespace"}
    namespaces.setdefault("kube-system", {"kubernetes.io/metadata.name": "kube-system"})
    hub_ns = cfg.security.hub_namespace
    flows = swan_flows(hub=pod_from_workload(stack.objects, "Deployment", hub_ns, "hub"),
                       proxy=pod_from_workload(stack.objects, "Deployment", hub_ns, "proxy"),
                       session=a, other_session=b, api_server_cidrs=cfg.security.api_server_cidrs)
    assert flow_problems([o for o in stack.objects if o.kind == "NetworkPolicy"], namespaces, flows) == []


@pytest.mark.parametrize("stack", GPU_STACKS, indirect=True)
def test_every_gpu_flavour_lands_on_its_pool_with_cuda_only(stack):
    cfg = stack.cfg
    pools = [p for p in cfg.node_pools if p.gpu]
    cuda = next(sw for sw in cfg.hub.software if sw.cuda)
    plain = next(sw for sw in cfg.hub.software if not sw.cuda)
    wanted = [(pool, flavour) for pool in pools for flavour in sorted(flavours(pool.gpu))]
    pods, _ = spawn_all(stack, [(stack.user()[1], form_fields(cfg, cuda.release, cuda.platform, gpu=flavour))
                                for _, flavour in wanted])
    for (pool, flavour), pod in zip(wanted, pods):
        requested = {k for k in notebook(pod)["resources"]["limits"] if k.startswith("nvidia.com/")}
        assert len(requested) == 1 and notebook(pod)["resources"]["requests"][requested.pop()] == "1"
        spec = pod["spec"]
        labels = stack.gpu_nodes[pool.name]["metadata"]["labels"]
        assert selects(spec, labels) and untolerated(spec, pool_taints(pool)) == [], (flavour, spec)
        others = [p for p in pools if p.gpu.model == pool.gpu.model and flavours(p.gpu) != flavours(pool.gpu)]
        for other in others:  # same model, shared otherwise: never the other pool's nodes
            assert not selects(spec, stack.gpu_nodes[other.name]["metadata"]["labels"]), (flavour, other.name)
        # an MPS client gets the device plugin's /dev/shm (the MPS daemon's); SWAN's own would hide it
        mps = pool.gpu.sharing is not None and pool.gpu.sharing.mode == "mps"
        assert ("/dev/shm" in {m["mountPath"] for m in notebook(pod).get("volumeMounts", [])}) != mps, flavour
    for pool in pools:
        # the form gives GPUs with a CUDA stack only; a forged request without one is refused
        _, session = stack.user()
        before = len(stack.hub.pods())
        answer = session.post(stack.hub.url + "/hub/spawn", allow_redirects=False, timeout=60, data={
            **form_fields(cfg, plain.release, plain.platform, gpu=sorted(flavours(pool.gpu))[0]),
            "_xsrf": session.cookies.get("_xsrf", "")})
        assert answer.status_code == 200 and "CUDA" in answer.text and len(stack.hub.pods()) == before


@pytest.mark.parametrize("stack", EVENT_ENVIRONMENTS, indirect=True)
def test_course_event_flavours_are_for_members_inside_the_window(stack):
    assert stack.events
    cfg = stack.cfg
    cuda = next(sw for sw in cfg.hub.software if sw.cuda)
    open_events = {n: d for n, d in stack.events.items() if n not in CLOSED_EVENTS}
    closed_events = {n: d for n, d in stack.events.items() if n in CLOSED_EVENTS}
    _, outsider = stack.user()
    outsider_flavours = set(stack.form(outsider)[1].get("gpu_flavours", []))
    for name, document in stack.events.items():
        assert document["flavour"] not in outsider_flavours
    for name, document in closed_events.items():  # a member, before the window opens
        _, member = stack.user(roles=(document["role"],))
        assert document["flavour"] not in stack.form(member)[1].get("gpu_flavours", [])
    for name, document in open_events.items():
        member_name, member = stack.user(roles=(document["role"],))
        assert document["flavour"] in stack.form(member)[1]["free_gpu_flavours"]
        (pod,), _ = spawn_all(stack, [(member, form_fields(cfg, cuda.release, cuda.platform, gpu=document["flavour"]))])
        spec = pod["spec"]
        assert spec["priorityClassName"] == document["priorityClassName"]  # counted by the event's quota
        assert notebook(pod)["resources"]["limits"][document["resource"]] == "1"
        # culled at the event's idleTimeout (else gpuTimeout) by the hub's culler of that timeout, if shorter
        # than the one for every session
        idle = document["idleTimeout"] or duration_seconds(cfg.hub.culling.gpu_timeout)
        culler = {t: n for n, t in expected_cullers(cfg).items() if n != "swan-idle-culler"}.get(idle)
        assert gpu_cullers_seeing(stack, member_name) == ({culler} if culler else set()), (name, idle)
        event_node = next(o for o in stack.hub.api.objects("nodes")
                          if o["metadata"]["labels"].get("swan.cern.ch/event") == name)
        assert selects(spec, event_node["metadata"]["labels"])
        assert untolerated(spec, event_node["spec"]["taints"]) == []
        # an MPS client keeps the device plugin's /dev/shm (the MPS daemon's), not SWAN's volume over it
        mounts = {m["mountPath"] for m in notebook(pod).get("volumeMounts", [])}
        assert ("/dev/shm" in mounts) != (document["sharing"] == "mps"), (name, document["sharing"])
        # an outsider forging the event's flavour gets no session
        before = len(stack.hub.pods())
        answer = outsider.post(stack.hub.url + "/hub/spawn", allow_redirects=False, timeout=60, data={
            **form_fields(cfg, cuda.release, cuda.platform, gpu=document["flavour"]),
            "_xsrf": outsider.cookies.get("_xsrf", "")})
        assert answer.status_code == 200 and "not available" in answer.text and len(stack.hub.pods()) == before


def expected_cullers(cfg) -> dict[str, int]:
    """SWAN's cullers the hub should run, by service name, with their --timeout (seconds): one for every
    session, one per distinct GPU idle timeout shorter than that (gpuTimeout keeps its historic name)."""
    culling = cfg.hub.culling
    timeout = duration_seconds(culling.timeout)
    cullers = {"swan-idle-culler": timeout}
    if cfg.gpu_models:
        gpu = duration_seconds(culling.gpu_timeout)
        pools = {duration_seconds(p.gpu.idle_timeout) for p in cfg.node_pools if p.gpu and p.gpu.idle_timeout}
        for t in {gpu, *pools}:
            if t < timeout:
                cullers["swan-gpu-idle-culler" + ("" if t == gpu else f"-{t}s")] = t
    return cullers


def running_cullers(stack: Stack) -> dict[str, dict]:
    """The swanculler processes running in the hub pod, by hub service name: their command line and the hub
    API token the hub gave each (what it lists users with)."""
    found = {}
    for pid in stack.hub.processes():
        try:
            cmdline = [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
            environ = dict(e.split("=", 1) for e in Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
                           if "=" in e)
        except OSError:
            continue
        if any(a.endswith("/swanculler") or a == "swanculler" for a in cmdline[:2]) and \
                "JUPYTERHUB_SERVICE_NAME" in environ:
            found[environ["JUPYTERHUB_SERVICE_NAME"]] = {"command": cmdline,
                                                         "token": environ["JUPYTERHUB_API_TOKEN"]}
    return found


def seen_by(stack: Stack, cullers: dict[str, dict]) -> dict[str, set[str]]:
    """Users each culler can list with its own token: swanculler culls what `GET /users` gives it."""
    seen = {}
    for name, culler in cullers.items():
        r = requests.get(f"{stack.hub.url}/hub/api/users", headers={"Authorization": f"token {culler['token']}"},
                         timeout=10)
        assert r.status_code == 200, (name, r.text)
        seen[name] = {u["name"] for u in r.json()}
    return seen


def gpu_cullers_seeing(stack: Stack, user: str) -> set[str]:
    return {name for name, users in seen_by(stack, running_cullers(stack)).items()
            if user in users and name != "swan-idle-culler"}


@every_stack
def test_swans_cullers_run_one_per_timeout_and_each_gpu_session_is_seen_by_its_own(stack):
    """SWAN's culler (in the hub image, unlike z2jh's) runs as hub services: one with the stack's timeout
    seeing every session, and one per GPU idle timeout (gpuTimeout, a pool's gpu.idleTimeout) whose role is
    limited to a hub group. A session of each GPU flavour puts its user in the group of its pool's timeout:
    the running culler of that timeout, and no other GPU culler, lists the user with its own token."""
    cfg = stack.cfg
    token = stack.admin_token()
    time.sleep(3)  # long enough for a crashing service to be seen as such
    headers = {"Authorization": f"token {token}"}
    services = requests.get(f"{stack.hub.url}/hub/api/services", timeout=10, headers=headers).json()
    expected = expected_cullers(cfg)
    assert {n for n, s in services.items() if (s.get("command") or [""])[0] == "swanculler"} == set(expected)
    running = running_cullers(stack)
    assert set(running) == set(expected)
    for name, timeout in expected.items():
        assert services[name]["pid"] and f"--timeout={timeout}" in services[name]["command"]
        assert f"--timeout={timeout}" in running[name]["command"]  # the process itself, as the hub started it
        assert f"Service {name} exited" not in stack.hub.hub_log()
    if not cfg.gpu_models:
        return
    cuda = next(sw for sw in cfg.hub.software if sw.cuda)
    default = duration_seconds(cfg.hub.culling.gpu_timeout)
    by_timeout = {t: n for n, t in expected.items() if n != "swan-idle-culler"}
    wanted = [(flavour, duration_seconds(p.gpu.idle_timeout) if p.gpu.idle_timeout else default)
              for p in cfg.node_pools if p.gpu for flavour in sorted(flavours(p.gpu))]
    users = [stack.user() for _ in wanted]
    cpu_user, cpu_session = stack.user()
    spawn_all(stack, [*[(session, form_fields(cfg, cuda.release, cuda.platform, gpu=flavour))
                        for (_, session), (flavour, _) in zip(users, wanted)],
                      (cpu_session, form_fields(cfg, cuda.release, cuda.platform))])
    seen = seen_by(stack, running)
    for (user, _), (flavour, timeout) in zip(users, wanted):
        assert user in seen["swan-idle-culler"]
        assert {n for n, u in seen.items() if user in u and n != "swan-idle-culler"} == {by_timeout[timeout]}, flavour
    assert cpu_user in seen["swan-idle-culler"] and all(cpu_user not in u for n, u in seen.items()
                                                          if n != "swan-idle-culler")
    gpu_user = users[0][0]
    requests.delete(f"{stack.hub.url}/hub/api/users/{gpu_user}/server", headers=headers, timeout=60)
    deadline = time.monotonic() + 30
    while gpu_cullers_seeing(stack, gpu_user):  # stopping the session frees the user from the GPU cullers' view
        assert time.monotonic() < deadline
        time.sleep(0.5)


@every_stack
def test_the_nightly_sessions_spawn_through_the_hub_api(stack):
    """`swan verify` (and its CronJob) spawns through the API with the options of the stack's
    `verify` output; SWAN's spawner must accept them as its form's."""
    token = stack.hub.api_token()  # the token the chart generates for the swan-verify service
    headers = {"Authorization": f"token {token}"}
    sessions = session_options(stack.cfg)
    assert any(o["gpu"] != "none" for o in sessions.values()) == (stack.name in GPU_STACKS)
    for name, options in sessions.items():
        user = f"verify-{name}"
        requests.post(f"{stack.hub.url}/hub/api/users/{user}", headers=headers, timeout=10)
        before = len(stack.hub.pods())
        r = requests.post(f"{stack.hub.url}/hub/api/users/{user}/server", headers=headers, json=options, timeout=60)
        assert r.status_code in (201, 202), r.text
        assert len(stack.hub.pods()) == before + 1
        pod = stack.hub.pods()[-1]
        assert env_of(pod)["ROOT_LCG_VIEW_NAME"] == options["lcg"]
        gpus = {k for k in notebook(pod)["resources"]["limits"] if k.startswith("nvidia.com/")}
        assert bool(gpus) == (options["gpu"] != "none")  # the nightly GPU session really asks for a GPU


@pytest.mark.parametrize("stack", EVENT_ENVIRONMENTS, indirect=True)
def test_the_nightly_verification_spawns_each_open_event_as_a_member_of_its_group(stack):
    """`swan verify --events-namespace` (the CronJob's) reads the events the hub reads, puts a test
    user in each open event's group and asks for the event's flavour with the options the render
    gives the CronJob; SWAN's hub must hand it the event's GPU on the event's nodes. The events are
    read from the fake API server's store through a recorded-API reader (the HTTP client itself is
    tested in tests/verify); the session's start is not awaited, since no kubelet runs here."""
    cfg = stack.cfg
    users_ns = cfg.security.user_namespace
    published = [cm for cm in stack.hub.api.objects("configmaps", users_ns)
                 if cm["metadata"].get("labels", {}).get(EVENT_CONFIG_MAP_LABEL) == "true"]
    api = RecordedApi({config_maps_path(users_ns): {"items": published}})
    verify_cm = next(o.obj for o in stack.objects if o.kind == "ConfigMap" and o.name == SESSIONS_CONFIG_MAP)
    event_options = yaml.safe_load(verify_cm["data"]["event-session.yaml"])
    token = stack.hub.api_token()  # the swan-verify service's token: its scopes must be enough
    groups_before = {g["name"] for g in requests.get(f"{stack.hub.url}/hub/api/groups", timeout=10,
                                                     headers={"Authorization": f"token {token}"}).json()}
    verification = HubVerification(HubOptions(
        url=stack.hub.url, token=token, user_prefix="nightly", profiles=[cfg.hub.sessions[0].name],
        events=lambda: read_open_events(api, users_ns), event_options=event_options))
    verification.plan()
    tried = [s for s in verification.sessions if s.group]
    assert sorted(s.profile for s in tried) == sorted(f"event:{n}" for n in stack.events if n not in CLOSED_EVENTS)
    assert verification.check_health(Deadline(10)).startswith("JupyterHub")
    for session in tried:
        document = stack.events[session.profile.split(":", 1)[1]]
        before = len(stack.hub.pods())
        verification.request_session(session, Deadline(60))
        assert len(stack.hub.pods()) == before + 1
        pod = stack.hub.pods()[-1]
        assert pod["metadata"]["annotations"]["hub.jupyter.org/username"] == session.user
        assert pod["spec"]["priorityClassName"] == document["priorityClassName"]
        assert notebook(pod)["resources"]["limits"][document["resource"]] == "1"
    assert verification.cleanup(Deadline(60)) == []
    users = requests.get(f"{stack.hub.url}/hub/api/users", headers={"Authorization": f"token {token}"}, timeout=10)
    assert not [u["name"] for u in users.json() if u["name"].startswith("nightly-")]
    groups_after = {g["name"] for g in requests.get(f"{stack.hub.url}/hub/api/groups", timeout=10,
                                                    headers={"Authorization": f"token {token}"}).json()}
    def own(groups):  # the hub's own groups of GPU sessions (for SWAN's GPU cullers) left out
        return {g for g in groups if not g.startswith("swan-gpu-sessions")}
    assert own(groups_after) == own(groups_before)  # only the run's own groups went


@pytest.mark.parametrize("stack", SPARK_STACKS, indirect=True)
def test_a_spark_session_gets_its_own_identity_and_nothing_else_gets_a_token(stack):
    cfg = stack.cfg
    sw = next(sw for sw in cfg.hub.software if not sw.cuda)
    name, session = stack.user()
    (pod,), _ = spawn_all(stack, [(session, form_fields(cfg, sw.release, sw.platform, spark=True))])
    spec = pod["spec"]
    account = spec["serviceAccountName"]
    assert account == f"spark-{pod['metadata']['labels']['hub.jupyter.org/username']}"
    assert spec["automountServiceAccountToken"] is True
    assert pod["metadata"]["labels"][SPARK_DRIVER_LABEL] == "true"
    created = [m for m in stack.hub.api.mutations() if m["verb"] == "create" and m["path"].endswith("/serviceaccounts")]
    assert any(m["body"]["metadata"]["name"] == account for m in created)
    assert env_of(pod)["SWAN_SPARK_NAMESPACE"] == cfg.spark.namespace
