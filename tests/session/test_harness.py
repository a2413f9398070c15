"""Self-tests of the session harness: the fake API server, the pod runner, and the real SWAN hub
started from the kind and openstack-prod renders."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import requests
import yaml

from fake_apiserver import FakeKubeAPI
from harness_tls import TestCA
from hub_db import hub_users
from pod_network import NetNamespace
from pod_runner import ClusterAccess, Image, PodRunner, PodRunnerError, RenderedObjects, SecretPlaceholderError
from swan_hub import HUB_VENV, SwanHubPod

pytestmark = pytest.mark.hub


# ----------------------------------------------------------------------------- (a) fake API server

CLIENT_SCRIPT = r'''
import asyncio, json, sys, threading, time
from kubernetes import client, watch
from kubernetes.client.rest import ApiException
from kubernetes.config.incluster_config import InClusterConfigLoader

env = {"KUBERNETES_SERVICE_HOST": sys.argv[1], "KUBERNETES_SERVICE_PORT": sys.argv[2]}
cfg = client.Configuration()
InClusterConfigLoader(token_filename=sys.argv[3], cert_filename=sys.argv[4], environ=env).load_and_set(cfg)
api = client.CoreV1Api(client.ApiClient(cfg))
out = {}
out["gpu_nodes"] = [n.metadata.name for n in api.list_node(label_selector="nvidia.com/gpu.present=true").items]
out["event_nodes"] = [n.metadata.name for n in api.list_node(label_selector="swan-events").items]
out["not_event_nodes"] = [n.metadata.name for n in api.list_node(label_selector="!swan-events").items]
out["set_nodes"] = [n.metadata.name for n in api.list_node(label_selector="pool in (gpu,cpu),pool notin (cpu)").items]
out["gpu_pods"] = [p.metadata.name for p in api.list_namespaced_pod("swan", label_selector="gpu").items]
listing = api.list_namespaced_pod("swan-users")
out["list_rv"] = listing.metadata.resource_version

def later():
    time.sleep(0.3)
    api.create_namespaced_pod("swan-users", {"metadata": {"name": "jupyter-alice", "labels": {"component": "singleuser-server"}},
                                             "spec": {"containers": [{"name": "notebook", "image": "swan"}]}})
threading.Thread(target=later).start()
events = []
for ev in watch.Watch().stream(api.list_namespaced_pod, "swan-users", label_selector="component=singleuser-server",
                               resource_version=listing.metadata.resource_version, timeout_seconds=2):
    events.append([ev["type"], ev["object"].metadata.name, ev["object"].status.phase, ev["object"].status.pod_ip])
out["watch"] = events
try:
    api.create_namespaced_pod("swan-users", {"metadata": {"name": "jupyter-alice"}, "spec": {"containers": []}})
except ApiException as e:
    out["conflict"] = [e.status, json.loads(e.body)["reason"]]
try:
    api.read_namespaced_persistent_volume_claim("claim-nobody", "swan-users")
except ApiException as e:
    out["missing"] = [e.status, json.loads(e.body)["reason"], json.loads(e.body)["message"]]
api.create_namespaced_secret("swan-users", {"metadata": {"name": "eos-tokens-alice"}, "stringData": {"t": "x"}})
out["secret"] = api.read_namespaced_secret("eos-tokens-alice", "swan-users").data
api.delete_namespaced_pod("jupyter-alice", "swan-users")

async def kubespawner_like():
    # kubespawner's reflector: list (resourceVersion 0, preload off), then watch from its version
    import kubernetes_asyncio.client as aclient
    from kubernetes_asyncio import watch as awatch
    from kubernetes_asyncio.config.incluster_config import InClusterConfigLoader as AsyncLoader
    acfg = aclient.Configuration()
    AsyncLoader(token_filename=sys.argv[3], cert_filename=sys.argv[4], environ=env).load_and_set(acfg)
    async with aclient.ApiClient(acfg) as ac:
        core = aclient.CoreV1Api(ac)
        raw = await core.list_namespaced_event("swan-users", field_selector="involvedObject.kind=Pod",
                                               resource_version="0", resource_version_match="NotOlderThan",
                                               _preload_content=False)
        body = json.loads(await raw.read())
        seen = []
        w = awatch.Watch()
        async with w.stream(core.list_namespaced_pod, "swan-users", resource_version="0", timeout_seconds=1) as stream:
            async for ev in stream:
                seen.append([ev["type"], ev["raw_object"]["metadata"]["name"]])
        return body["kind"], seen
out["async"] = asyncio.run(kubespawner_like())
print(json.dumps(out))
'''


def test_fake_apiserver_answers_like_kubernetes(tmp_path):
    ca = TestCA()
    api = FakeKubeAPI(ca, tmp_path / "api")
    try:
        host, port = api.listen()
        api.seed(*[{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}} for ns in ("swan", "swan-users")],
                 {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "gpu-1", "labels": {
                     "nvidia.com/gpu.present": "true", "swan-events": "", "pool": "gpu"}},
                  "status": {"allocatable": {"nvidia.com/gpu": "1"}}},
                 {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "cpu-1", "labels": {"pool": "cpu"}}},
                 {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "gpu-session", "namespace": "swan",
                                                                  "labels": {"gpu": "nvidia"}},
                  "spec": {"containers": [{"name": "notebook", "image": "swan"}]}, "status": {"phase": "Running"}})
        api.pod_behavior = "Running"
        token = tmp_path / "token"
        token.write_text(api.token_for("swan", "hub"))
        ca_file = ca.write_bundle(tmp_path / "ca.crt")
        done = subprocess.run([str(HUB_VENV / "bin" / "python"), "-c", CLIENT_SCRIPT, host, str(port), str(token), str(ca_file)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr[-3000:]
        out = json.loads(done.stdout)
        assert out["gpu_nodes"] == ["gpu-1"] and out["event_nodes"] == ["gpu-1"]
        assert out["not_event_nodes"] == ["cpu-1"] and out["set_nodes"] == ["gpu-1"]
        assert out["gpu_pods"] == ["gpu-session"]
        assert out["watch"][0] == ["ADDED", "jupyter-alice", "Pending", None]
        assert ["MODIFIED", "jupyter-alice", "Running", "127.0.0.1"] in out["watch"]
        assert out["conflict"] == [409, "AlreadyExists"]
        assert out["missing"] == [404, "NotFound", 'persistentvolumeclaims "claim-nobody" not found']
        assert out["secret"] == {"t": "eA=="}
        assert out["async"][0] == "EventList"
        assert out["async"][1] == [["ADDED", "gpu-session"]] or out["async"][1] == []  # swan-users is empty again
        # records: the exact bodies sent, every request logged
        assert api.created("pods")[0]["metadata"]["name"] == "jupyter-alice"
        verbs = [(r["verb"], r["path"]) for r in api.mutations()]
        assert ("delete", "/api/v1/namespaces/swan-users/pods/jupyter-alice") in verbs
        assert any(r["verb"] == "watch" for r in api.requests)
        assert "GET /api/v1/nodes?labelSelector=swan-events -> 200" in api.log_path.read_text()
        # like a real API server: a token is required, Status objects for errors
        base = f"https://{host}:{port}"
        r = requests.get(f"{base}/api/v1/nodes", verify=str(ca_file), timeout=5)
        assert r.status_code == 401 and r.json()["reason"] == "Unauthorized"
        auth = {"Authorization": f"Bearer {api.admin_token}"}
        r = requests.get(f"{base}/api/v1/nodes", params={"labelSelector": "a in (b"}, headers=auth,
                         verify=str(ca_file), timeout=5)
        assert r.status_code == 400 and r.json()["kind"] == "Status"
        r = requests.post(f"{base}/api/v1/namespaces/nowhere/pods", json={"metadata": {"name": "x"}}, headers=auth,
                          verify=str(ca_file), timeout=5)
        assert r.status_code == 404 and r.json()["message"] == 'namespaces "nowhere" not found'
    finally:
        api.close()


# ----------------------------------------------------------------------------- (b) pod runner

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: demo}
spec:
  template:
    metadata: {labels: {app: web}}
    spec:
      serviceAccountName: web
      securityContext: {fsGroup: 2000}
      containers:
      - name: main
        command: [python3, -I, -c]
        args:
        - |
          import json, os, socket
          def rd(p):
              return open(p).read()
          def writable(p):
              try:
                  open(p + "/probe", "w").close(); return True
              except OSError:
                  return False
          print(json.dumps({"argv": "$(GREETING)", "escaped": "$$(GREETING)", "unknown": "$(NOPE)",
                            "env": dict(os.environ), "uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(),
                            "hostname": socket.gethostname(), "cwd": os.getcwd(), "hosts": rd("/etc/hosts"),
                            "a": rd("/cfg/a.txt"), "b": rd("/cfg/sub/b.txt"), "one": rd("/one"),
                            "cfg_listing": sorted(os.listdir("/cfg")), "cfg_writable": writable("/cfg"),
                            "data_writable": writable("/data"), "shared": rd("/shared/hello"),
                            "sa": {f: rd("/var/run/secrets/kubernetes.io/serviceaccount/" + f) for f in ("token", "namespace", "ca.crt")},
                            "root_writable": writable("/"), "pid": os.getpid()}))
        workingDir: /work/dir
        env:
        - {name: POD_NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
        - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
        - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
        - {name: GREETING, value: "hello-$(POD_NS)-$(WEB_SERVICE_PORT)"}
        - {name: PASSWORD, valueFrom: {secretKeyRef: {name: creds, key: password}}}
        - {name: MODE, valueFrom: {configMapKeyRef: {name: settings, key: mode}}}
        - {name: CPU, valueFrom: {resourceFieldRef: {resource: limits.cpu}}}
        envFrom:
        - {configMapRef: {name: settings}, prefix: CFG_}
        volumeMounts:
        - {name: cfg, mountPath: /cfg}
        - {name: cfg, mountPath: /one, subPath: a.txt}
        - {name: data, mountPath: /data}
        - {name: shared, mountPath: /shared}
        securityContext: {runAsUser: 1000, runAsGroup: 1000, allowPrivilegeEscalation: false}
      volumes:
      - name: cfg
        configMap:
          name: settings
          items: [{key: a, path: a.txt}, {key: b, path: sub/b.txt, mode: 0600}]
      - {name: data, emptyDir: {}}
      - {name: shared, persistentVolumeClaim: {claimName: shared}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: web, namespace: demo}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: demo}
data: {a: A-content, b: B-content, mode: fast}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: demo}
data: {password: "[secret]"}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: shared, namespace: demo}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
"""


def test_pod_runner_resolves_env_and_volumes_like_kubelet(tmp_path, prerequisites, host_unchanged):
    (tmp_path / "objs").mkdir()
    (tmp_path / "objs" / "all.yaml").write_text(DEPLOYMENT)
    objects = RenderedObjects(tmp_path / "objs")
    netns = NetNamespace()
    cluster = ClusterAccess("127.0.0.1", 6443, b"CA-PEM", lambda ns, sa: f"token-of-{ns}-{sa}")
    python = "/usr/bin/python3"  # the container runs as uid 1000: not a Python under /root
    if not os.access(python, os.X_OK):
        pytest.fail(f"{python} (a system Python a non-root user can run) is missing", pytrace=False)
    image = Image("python", executables={"python3": python}, env={"PATH": "/usr/bin:/bin", "FROM_IMAGE": "1"})
    try:
        refused = PodRunner(objects, tmp_path / "w1", netns, cluster)
        with pytest.raises(SecretPlaceholderError, match="secret/creds/password"):
            refused.run("demo", "web", "main", image)
        with pytest.raises(PodRunnerError, match="'python3' of image nothing is not mapped"):
            PodRunner(objects, tmp_path / "w2", netns, cluster, substitutes={"secret/creds/password": "pw"}).run(
                "demo", "web", "main", Image("nothing"))

        runner = PodRunner(objects, tmp_path / "w3", netns, cluster, substitutes={"secret/creds/password": "pw"},
                           extra_hosts=["auth.example.org"])
        (tmp_path / "w3" / "pvcs" / "demo" / "shared").mkdir(parents=True)
        (tmp_path / "w3" / "pvcs" / "demo" / "shared" / "hello").write_text("from the claim")
        rc = runner.run("demo", "web", "main", image)
        rc.process.wait(30)
        assert rc.process.returncode == 0, rc.log()
        out = json.loads(rc.log().strip().splitlines()[-1])
        env = out["env"]
        assert out["argv"] == "hello-demo-80" and out["escaped"] == "$(GREETING)" and out["unknown"] == "$(NOPE)"
        assert env["POD_NS"] == "demo" and env["POD_NAME"] == rc.pod_name == out["hostname"] == env["HOSTNAME"]
        assert env["POD_IP"] == "127.0.0.1" and env["NODE"] == "swan-harness-node"
        assert env["PASSWORD"] == "pw" and env["MODE"] == "fast" and "CPU" not in env
        assert env["CFG_a"] == "A-content" and env["CFG_mode"] == "fast"
        assert env["FROM_IMAGE"] == "1" and env["PATH"] == "/usr/bin:/bin"
        assert env["WEB_SERVICE_HOST"] == "127.0.0.1" and env["WEB_SERVICE_PORT"] == "80"
        assert env["WEB_SERVICE_PORT_HTTP"] == "80" and env["WEB_PORT_80_TCP"] == "tcp://127.0.0.1:80"
        assert env["KUBERNETES_SERVICE_HOST"] == "127.0.0.1" and env["KUBERNETES_SERVICE_PORT"] == "6443"
        assert (out["uid"], out["gid"]) == (1000, 1000) and 2000 in out["groups"]
        assert out["cwd"] == "/work/dir" and out["pid"] == 1
        assert (out["a"], out["b"], out["one"], out["shared"]) == ("A-content", "B-content", "A-content", "from the claim")
        assert "..data" in out["cfg_listing"] and "a.txt" in out["cfg_listing"]
        assert out["cfg_writable"] is False and out["data_writable"] is True
        assert out["sa"] == {"token": "token-of-demo-web", "namespace": "demo", "ca.crt": "CA-PEM"}
        assert "web web.demo web.demo.svc web.demo.svc.cluster.local" in out["hosts"]
        assert "auth.example.org" in out["hosts"]
        assert out["root_writable"] is False  # uid 1000 in the container's / (an overlay, gone afterwards)
        assert (tmp_path / "w3" / "pvcs" / "demo" / "shared" / "hello").read_text() == "from the claim"
        assert not Path("/work/dir").exists()
    finally:
        netns.close()


# ----------------------------------------------------------------------------- (c), (d) the SWAN hub

def assert_gone(pids: list[int]) -> None:
    alive = [p for p in pids if Path(f"/proc/{p}").exists()]
    assert not alive, f"processes left after teardown: {alive}"


def smoke(hub: SwanHubPod, login_as: str, **login_claims) -> list[int]:
    assert requests.get(hub.url + "/hub/api/", timeout=5).json()["version"] == "5.4.3"
    routes = hub.proxy_routes()
    assert "/" in routes and routes["/"]["target"].startswith("http://hub"), routes
    session = hub.login(login_as, **login_claims)
    page = session.get(hub.url + "/hub/spawn", timeout=30)
    assert page.status_code == 200, page.text[-2000:]
    assert 'name="software_source"' in page.text  # SWAN's options form
    pids = hub.processes()
    assert len(pids) >= 4, pids  # two launchers, CHP, the hub (+ its services)
    return pids


def test_kind_hub_starts_from_the_render(render, tmp_path, host_unchanged):
    folder = render("kind")
    workdir = tmp_path / "hub"
    with SwanHubPod(folder, workdir=workdir) as hub:
        assert not hub.uses_keycloak
        pids = smoke(hub, "alice")
        token = hub.api_token()
        r = requests.get(hub.url + "/hub/api/users", headers={"Authorization": f"token {token}"}, timeout=10)
        assert r.status_code == 200 and "alice" in [u["name"] for u in r.json()]
        assert any(q["path"] == "/api/v1/nodes" for q in hub.api.requests)  # swanspawner's GPU discovery
    assert_gone(pids)
    assert (workdir / "apiserver" / "apiserver.log").exists()  # a workdir given by the caller stays, with the logs


def test_openstack_prod_hub_logs_in_through_keycloak(render, host_unchanged):
    folder = render("openstack-prod")
    secret_values = yaml.safe_load((folder / "k8s" / "Secret-swan-swan-hub-secret-values.yaml").read_text())
    assert secret_values["stringData"]["values.yaml"] == "[secret]"
    client_secret = "harness-client-secret"
    substitutes = {"secret/swan-hub-secret-values/values.yaml": yaml.safe_dump(
        {"hub": {"config": {"KeyCloakAuthenticator": {"client_secret": client_secret}}}})}
    with pytest.raises(SecretPlaceholderError, match="secret/swan-hub-secret-values/values.yaml"):
        with SwanHubPod(folder):
            pass
    with SwanHubPod(folder, substitutes=substitutes) as hub:
        workdir = hub.workdir
        assert hub.uses_keycloak and hub.oidc.client_secret == client_secret
        pids = smoke(hub, "alice", roles=["swan-users"], cern_uid=4242)
        # the hub keeps its state in the PostgreSQL the render names (hub.database), reached at its address
        assert hub.database is not None and "alice" in hub_users(hub.database)
        paths = [q["path"] for q in hub.oidc.requests]
        assert "/auth/realms/cern/.well-known/openid-configuration" in paths
        assert "/auth/realms/cern/protocol/openid-connect/userinfo" in paths
    assert_gone(pids)
    assert not workdir.exists()
