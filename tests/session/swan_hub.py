"""SwanHubPod: the real SWAN hub of a rendered stack, running on this machine.

    with SwanHubPod(render_dir) as hub:            # `swan render STACK --out render_dir`
        s = hub.login("alice")                      # a requests.Session, logged in
        form = s.get(hub.url + "/hub/spawn")        # the SWAN options form (HTML)
        pod = hub.spawn(s, {"software_source": "lcg", "lcg": "LCG_107", ...})
        hub.pods()                                  # every pod manifest the spawner sent
        hub.api.mutations()                         # every create/update/patch/delete
        token = hub.api_token()                     # admin-scoped token for /hub/api

What runs, from the render (`charts/swan/` objects, `k8s/` objects, `helm/swan.yaml`):
  * the `proxy` Deployment's `chp` container (configurable-http-proxy from npm) and the `hub`
    Deployment's `hub` container (the SWAN hub image's command, `tini -- jupyterhub --config
    ...`, with `jupyterhub` = `swanhub` from .venv-hub, the image's packages on Python 3.12),
    each through pod_runner exactly as the Deployment says, in a private pod network;
  * in place of the cluster: fake_apiserver (HTTPS, the hub's service account token and a
    test CA), seeded with the render's objects, the namespaces and one CPU node (plus `seed`);
  * in place of Keycloak, when the hub's authenticator is KeyCloakAuthenticator: fake_oidc at
    the configured issuer URL (its host resolves to 127.0.0.1 in the pods, port 443, a
    certificate from the test CA, which the pods trust through the CA bundle files that the
    hub's HTTP clients read: pycurl's compiled-in bundle and Python's default);
  * the hub's database, when the render gives it PostgreSQL: a real PostgreSQL server of the
    test's own, reached at the rendered db_url's own host and port (hub_db.py);
  * Services whose port differs from the target port get a forwarder (kube-proxy's job), and
    the test reaches the proxy-public Service through `url` (127.0.0.1, a random port).

Secrets: `swan render` masks every Secret value as "[secret]". Secrets the chart generates
(the `hub` Secret: values.yaml, proxy token, cookie secret, crypt keys, service tokens) are
generated again by templating the same chart with the release's values from helm/swan.yaml,
as `helm install` would; a masked leaf of those values (e.g. the OIDC client secret) must be
given in `values_substitutes` (dotted path -> value), and any other masked Secret the pods
read in `substitutes` (pod_runner keys, "secret/<name>/<key>"). Nothing "[secret]" reaches
a container.
"""
from __future__ import annotations

import base64
import contextlib
import copy
import glob
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import requests
import yaml

from fake_apiserver import FakeKubeAPI
from fake_oidc import FakeOIDC
from harness_tls import TestCA
from hub_db import start_postgres
from pod_network import NetNamespace, forward_host_to_netns, forward_in_netns
from pod_runner import (PLACEHOLDER, ClusterAccess, Image, Init, PodRunner, RenderedObjects,
                        service_port_map)

REPO = Path(__file__).resolve().parents[2]
HUB_VENV = REPO / ".venv-hub"
RELEASE = "swan"
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "StorageClass", "CSIDriver", "PriorityClass", "Namespace",
                  "IngressClass", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
                  "PersistentVolume", "CustomResourceDefinition", "Node", "RuntimeClass"}


class HarnessError(RuntimeError):
    pass


# ----------------------------------------------------------------------------- images

def hub_image(venv: Path = HUB_VENV) -> Image:
    """swan-cern/jupyterhub-image v3.67: /opt/venv (uv, Python 3.12) with the SWAN packages,
    `ln -sf swanhub jupyterhub`, ENTRYPOINT tini --, no WORKDIR (so `/`)."""
    swanhub = venv / "bin" / "swanhub"
    if not swanhub.exists():
        raise HarnessError(f"{swanhub} is missing: build the hub venv with `make .venv-hub/.installed`")
    return Image(
        name="gitlab-registry.cern.ch/swan/docker-images/jupyterhub (jupyterhub-image v3.67, from .venv-hub)",
        entrypoint=["tini", "--"],
        cmd=["/opt/venv/bin/jupyterhub", "--config", "/usr/local/etc/jupyterhub/jupyterhub_config.py"],
        env={"PATH": "/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
        working_dir="/",
        executables={"tini": Init("--"), "jupyterhub": str(swanhub), "/opt/venv/bin/jupyterhub": str(swanhub),
                     "swanhub": str(swanhub), "/opt/venv/bin/swanhub": str(swanhub)},
        files={"/opt/venv": str(venv), "/opt/venv/bin/jupyterhub": str(swanhub)},
    )


def chp_image() -> Image:
    """jupyterhub/configurable-http-proxy: node, USER 65534, WORKDIR /srv/configurable-http-proxy."""
    chp = shutil.which("configurable-http-proxy")
    if chp is None:
        raise HarnessError("configurable-http-proxy is not installed (npm install -g configurable-http-proxy)")
    return Image(name="configurable-http-proxy (npm)", env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
                 working_dir="/srv/configurable-http-proxy", user=65534,
                 executables={"configurable-http-proxy": chp})


# ----------------------------------------------------------------------------- CA bundles

def hub_ca_bundle_paths(venv: Path = HUB_VENV) -> list[str]:
    """The CA bundle files the hub's HTTP clients read: the path compiled into the libcurl that
    the pycurl wheel bundles (tornado's CurlAsyncHTTPClient, which z2jh configures), and
    Python's default verify file (ssl module, urllib)."""
    paths: list[str] = []
    for lib in sorted(glob.glob(str(venv / "lib" / "python3*" / "site-packages" / "pycurl.libs" / "libcurl*.so*"))):
        data = Path(lib).read_bytes()
        for m in re.finditer(rb"(/[A-Za-z0-9_./-]+(?:ca-bundle|ca-certificates|cacert|cert)[A-Za-z0-9_.-]*\.(?:crt|pem))\x00", data):
            paths.append(m.group(1).decode())
    if not paths:
        raise HarnessError(f"cannot find the CA bundle path compiled into pycurl's libcurl under {venv}")
    out = subprocess.run([str(venv / "bin" / "python"), "-c",
                          "import ssl; p = ssl.get_default_verify_paths(); print(p.cafile or p.openssl_cafile)"],
                         capture_output=True, text=True, check=True).stdout.strip()
    paths.append(out)
    return list(dict.fromkeys(paths))


# ----------------------------------------------------------------------------- charts

def chart_dirs() -> list[Path]:
    dirs = [Path(p) for p in os.environ.get("SWAN_CHARTS", "").split(os.pathsep) if p]
    return dirs + [Path.home() / ".cache" / "swan-iac" / "charts", REPO.parent / "shared" / "reference" / "charts"]


def find_chart(name: str, version: str) -> Path:
    for d in chart_dirs():
        if (d / f"{name}-{version}" / "Chart.yaml").is_file():
            return d / f"{name}-{version}"
    raise HarnessError(f"chart {name}-{version} not found in {', '.join(map(str, chart_dirs()))}")


def set_path(values: dict, dotted: str, value) -> None:
    node = values
    parts = dotted.split(".")
    for p in parts[:-1]:
        if not isinstance(node.get(p), dict):
            raise HarnessError(f"values substitute {dotted}: no {p!r} in the release values")
        node = node[p]
    if node.get(parts[-1]) != PLACEHOLDER:
        raise HarnessError(f"values substitute {dotted}: the rendered value is {node.get(parts[-1])!r}, not {PLACEHOLDER!r}")
    node[parts[-1]] = value


def helm_template(release: dict, out: Path | None = None) -> list[dict]:
    """Objects of `helm template` for a release file (helm/<release>.yaml), namespaces filled in;
    written one per file as charts/<release>/<Kind>-<namespace>-<name>.yaml when `out` is given."""
    helm = os.environ.get("SWAN_HELM") or shutil.which("helm")
    if helm is None:
        raise HarnessError("helm is not installed (needed to template the swan chart)")
    chart = find_chart(release["chart"].rsplit("/", 1)[-1], str(release["version"]))
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(release["values"], f)
        f.flush()
        done = subprocess.run([helm, "template", RELEASE, str(chart), "--namespace", release["namespace"],
                               "--values", f.name], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise HarnessError(f"helm template {chart} failed: {done.stderr.strip()[-2000:]}")
    objects = []
    for doc in yaml.safe_load_all(done.stdout):
        if isinstance(doc, dict) and doc.get("kind"):
            if doc["kind"] not in CLUSTER_SCOPED:
                doc.setdefault("metadata", {}).setdefault("namespace", release["namespace"])
            objects.append(doc)
    if out is not None:
        write_objects(objects, out)
    return objects


def write_objects(objects: list[dict], out: Path) -> None:
    """One object per file, as `swan render` writes charts/<release>/."""
    out.mkdir(parents=True, exist_ok=True)
    for o in objects:
        (out / f"{o['kind']}-{o['metadata'].get('namespace') or 'cluster'}-{o['metadata']['name']}.yaml").write_text(
            yaml.safe_dump(o, sort_keys=False))


# ----------------------------------------------------------------------------- the hub

def _decode(secret: dict, key: str) -> str:
    return base64.b64decode(secret["data"][key]).decode()


class SwanHubPod:
    def __init__(self, render_dir: Path, *, workdir: Path | None = None,
                 values_substitutes: dict[str, str] | None = None,
                 substitutes: dict | None = None, oidc_client_secret: str | None = None,
                 seed: list[dict] = (), pod_behavior="Pending", start_timeout: float = 30.0,
                 venv: Path = HUB_VENV, keep_workdir: bool = False):
        """render_dir: a `swan render` folder. values_substitutes: values for "[secret]" leaves
        of helm/swan.yaml (dotted paths), e.g. the OIDC client secret; substitutes: pod_runner
        substitutes for other masked Secrets. oidc_client_secret: what the fake IdP accepts
        (defaults to the substituted KeyCloakAuthenticator.client_secret). seed: extra objects
        for the fake API server (GPU nodes, ...). pod_behavior: "Pending", "Running" or a
        callable(pod) for pods the spawner creates."""
        self.render_dir = Path(render_dir)
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="swan-hub-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.values_substitutes = dict(values_substitutes or {})
        self.substitutes = dict(substitutes or {})
        self.oidc_client_secret = oidc_client_secret
        self.seed = list(seed)
        self.pod_behavior = pod_behavior
        self.start_timeout = start_timeout
        self.venv = Path(venv)
        self.keep_workdir = keep_workdir
        self.url: str = ""
        self.api: FakeKubeAPI | None = None
        self.oidc: FakeOIDC | None = None
        self.netns: NetNamespace | None = None
        self.runner: PodRunner | None = None
        self.hub = self.proxy = None
        self.timings: dict[str, float] = {}
        self._forwarders = []
        self._oidc_host_port: int | None = None
        self._masked_hub_secret = False
        self.spawn_responses: list[dict] = []
        self._cleanup = contextlib.ExitStack()
        self.database = None  # the PostgreSQL server the hub uses (hub_db.py), or None for SQLite

    # -- setup

    def _load_render(self) -> None:
        release_file = self.render_dir / "helm" / "swan.yaml"
        if not release_file.is_file():
            raise HarnessError(f"{release_file} is missing: not a `swan render` folder, or the stack has no swan release")
        self.release = yaml.safe_load(release_file.read_text())
        if not isinstance(self.release.get("values"), dict):
            raise HarnessError(f"{release_file}: values are {self.release.get('values')!r}, not a mapping "
                               "(the render masked the whole release)")
        self.namespace = self.release["namespace"]
        values = copy.deepcopy(self.release["values"])
        for path, value in self.values_substitutes.items():
            set_path(values, path, value)
        self.values = values
        # The chart again, with the same values: the Secrets it generates (masked in the render).
        fresh = helm_template({**self.release, "values": values})
        chart_dir = self.render_dir / "charts" / "swan"
        if not chart_dir.is_dir() or not any(chart_dir.glob("*.yaml")):
            chart_dir = self.workdir / "charts" / "swan"  # a render without charts/: these objects instead
            write_objects(fresh, chart_dir)
        folders = [chart_dir] + ([self.render_dir / "k8s"] if (self.render_dir / "k8s").is_dir() else [])
        self.objects = RenderedObjects(*folders)
        self.chart_objects = RenderedObjects(chart_dir)
        fresh_by_key = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in fresh}
        # The render and this templating must be the same chart and values: compare the hub ConfigMap.
        rendered_cm = self.objects.get("ConfigMap", self.namespace, "hub")
        fresh_cm = fresh_by_key.get(("ConfigMap", self.namespace, "hub"))
        if rendered_cm is None or fresh_cm is None or rendered_cm.get("data") != fresh_cm.get("data"):
            raise HarnessError(f"{chart_dir}: the hub ConfigMap differs from `helm template` of {release_file} "
                               "(render and release values disagree)")
        self.generated_secrets: dict[str, dict] = {}
        for (kind, ns, name), obj in self.chart_objects.objects.items():
            if kind != "Secret":
                continue
            fresh_secret = fresh_by_key.get((kind, ns, name))
            masked = [k for k, v in {**(obj.get("data") or {}), **(obj.get("stringData") or {})}.items() if v == PLACEHOLDER]
            if not masked or fresh_secret is None:
                continue
            self.generated_secrets[name] = fresh_secret
            data = {**(fresh_secret.get("data") or {})}
            for k in masked:
                if k in data:
                    self.substitutes.setdefault(f"secret/{name}/{k}", base64.b64decode(data[k]))
                elif k in (fresh_secret.get("stringData") or {}):
                    self.substitutes.setdefault(f"secret/{name}/{k}", str(fresh_secret["stringData"][k]))
        hub_secret = self.generated_secrets.get("hub") or self.objects.get("Secret", self.namespace, "hub")
        self.hub_secret = hub_secret
        self.hub_values = self._effective_hub_values(yaml.safe_load(_decode(hub_secret, "values.yaml")))

    def _effective_hub_values(self, chart_values: dict) -> dict:
        """The values the hub's z2jh.py sees: the chart's, with hub.existingSecret's values.yaml
        merged over them (the substitute when the render masks it)."""
        name = (chart_values.get("hub") or {}).get("existingSecret")
        if not name:
            return chart_values
        secret = self.objects.get("Secret", self.namespace, name)
        if secret is None:
            raise HarnessError(f"hub.existingSecret {name} is not in the render")
        key = f"secret/{name}/values.yaml"
        raw = (secret.get("stringData") or {}).get("values.yaml")
        if raw is None and "values.yaml" in (secret.get("data") or {}):
            raw = secret["data"]["values.yaml"]
            raw = raw if raw == PLACEHOLDER else base64.b64decode(raw).decode()
        if key in self.substitutes:
            sub = self.substitutes[key]
            raw = sub(raw or "") if callable(sub) else (sub.decode() if isinstance(sub, bytes) else sub)
        if raw is None or PLACEHOLDER in raw:
            self._masked_hub_secret = True  # the pod runner refuses to start the hub and names the key
            return chart_values

        def merge(a: dict, b: dict) -> dict:
            out = dict(a)
            for k, v in b.items():
                out[k] = merge(a[k], v) if isinstance(a.get(k), dict) and isinstance(v, dict) else v
            return out
        return merge(chart_values, yaml.safe_load(raw) or {})

    @property
    def hub_config(self) -> dict:
        return (self.hub_values.get("hub") or {}).get("config") or {}

    @property
    def authenticator_class(self) -> str:
        return str((self.hub_config.get("JupyterHub") or {}).get("authenticator_class", ""))

    @property
    def uses_keycloak(self) -> bool:
        return "KeyCloakAuthenticator" in self.authenticator_class

    def _seed_api(self) -> None:
        api = self.api
        namespaces = {self.namespace} | {o["metadata"]["namespace"] for o in self.objects.objects.values()
                                         if o["metadata"].get("namespace")}
        api.seed(*[{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}} for ns in sorted(namespaces)])
        from fake_apiserver import KIND_TO_PLURAL
        for (kind, ns, name), obj in sorted(self.objects.objects.items()):
            group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
            if (group, kind) not in KIND_TO_PLURAL:
                continue
            if kind == "Secret" and name in self.generated_secrets and ns == self.namespace:
                obj = self.generated_secrets[name]
            api.seed(obj)
        api.seed({"apiVersion": "v1", "kind": "Node",
                  "metadata": {"name": api.node_name, "labels": {"kubernetes.io/hostname": api.node_name,
                                                                 "kubernetes.io/os": "linux"}},
                  "spec": {}, "status": {"allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                                         "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"}}})
        if self.seed:
            api.seed(*self.seed)

    def _start_oidc(self, extra_hosts: list[str]) -> None:
        kc = self.hub_config.get("KeyCloakAuthenticator") or {}
        issuer, client_id = kc.get("oidc_issuer"), kc.get("client_id")
        secret = self.oidc_client_secret or kc.get("client_secret")
        if not issuer or not client_id:
            raise HarnessError(f"KeyCloakAuthenticator without oidc_issuer/client_id in the hub values: {kc}")
        if not secret or secret == PLACEHOLDER:
            if not self._masked_hub_secret:
                raise HarnessError("the OIDC client secret is masked or missing: substitute the masked value "
                                   "(values_substitutes= for a leaf of helm/swan.yaml, substitutes= for a Secret "
                                   "key) or pass oidc_client_secret if it reaches the hub another way")
            secret = "unknown: hub.existingSecret is masked"  # the hub will not start (pod_runner refuses)
        self.oidc = FakeOIDC(issuer, client_id, secret, self.ca, self.workdir / "oidc")
        self.oidc.listen(self.netns.listen("127.0.0.1", self.oidc.port))
        self._oidc_host_port = self.oidc.listen()[1]
        extra_hosts.append(self.oidc.host)

    def start(self) -> "SwanHubPod":
        t0 = time.monotonic()
        self._load_render()
        self.ca = TestCA()
        self.netns = NetNamespace()
        self.api = FakeKubeAPI(self.ca, self.workdir / "apiserver")
        self.api.pod_behavior = self.pod_behavior
        api_host, api_port = self.api.listen(self.netns.listen("127.0.0.1", 0))
        self._seed_api()
        extra_hosts: list[str] = []
        if self.uses_keycloak:
            self._start_oidc(extra_hosts)
        self.database = start_postgres(self.values, self.objects, self.namespace, self.netns, self.substitutes,
                                           extra_hosts, self._cleanup)
        bundle = self.workdir / "ca-bundle.crt"
        system = Path("/etc/ssl/certs/ca-certificates.crt")
        bundle.write_bytes((system.read_bytes() if system.is_file() else b"") + self.ca.cert_pem)
        extra_files = {p: bundle for p in hub_ca_bundle_paths(self.venv)}
        self.runner = PodRunner(self.objects, self.workdir, self.netns,
                                ClusterAccess(api_host, api_port, self.ca.cert_pem, self.api.token_for),
                                substitutes=self.substitutes, extra_hosts=extra_hosts, extra_files=extra_files)
        self.proxy = self.runner.run(self.namespace, "proxy", "chp", chp_image())
        self.hub = self.runner.run(self.namespace, "hub", "hub", hub_image(self.venv))
        for port, target in sorted(service_port_map(self.objects, self.namespace, self.runner.running).items()):
            if port != target:
                self._forwarders.append(forward_in_netns(self.netns, port, target, f"svc-{port}"))
        public = self.objects.get("Service", self.namespace, "proxy-public")
        public_port = public["spec"]["ports"][0]["port"] if public else 8000
        fwd = forward_host_to_netns(self.netns, public_port, "proxy-public")
        self._forwarders.append(fwd)
        self.url = f"http://127.0.0.1:{fwd.port}"
        self._wait_ready()
        self.timings["start"] = time.monotonic() - t0
        return self

    def _fail(self, message: str) -> HarnessError:
        return HarnessError(f"{message}\n--- hub log (last 3000 chars) ---\n{self.hub_log()[-3000:]}"
                            f"\n--- proxy log (last 3000 chars) ---\n{self.proxy_log()[-3000:]}")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        last = "no answer"
        while time.monotonic() < deadline:
            for rc, name in ((self.hub, "hub"), (self.proxy, "proxy")):
                if not rc.alive():
                    raise self._fail(f"the {name} container exited with status {rc.process.returncode}")
            try:
                r = requests.get(self.url + "/hub/api/", timeout=2)
                if r.status_code == 200 and "version" in r.json():
                    if not self.uses_keycloak or any(q["path"].endswith("/certs") and q["status"] == 200
                                                     for q in self.oidc.requests):
                        return
                    last = "the hub answers, but has not fetched the OIDC configuration and keys yet"
                else:
                    last = f"GET /hub/api/ -> {r.status_code} {r.text[:200]}"
            except (requests.RequestException, ValueError) as e:
                last = f"GET /hub/api/: {type(e).__name__}: {e}"
            time.sleep(0.2)
        raise self._fail(f"the hub did not answer through the proxy within {self.start_timeout} s ({last})")

    # -- teardown

    def stop(self) -> None:
        t0 = time.monotonic()
        errors = []
        for rc in (self.hub, self.proxy):
            if rc is not None:
                try:
                    rc.stop()
                except Exception as e:  # noqa: BLE001 - keep tearing down, report at the end
                    errors.append(f"stopping {rc.container}: {e}")
        for f in self._forwarders:
            f.close()
        try:
            self._cleanup.close()  # the hub's database, when it has its own server
        except Exception as e:  # noqa: BLE001 - keep tearing down, report at the end
            errors.append(f"stopping the hub database: {e}")
        for part in (self.api, self.oidc):
            if part is not None:
                part.close()
        if self.netns is not None:
            self.netns.close()
        if self._own_workdir and not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.timings["stop"] = time.monotonic() - t0
        if errors:
            raise HarnessError("; ".join(errors))

    def __enter__(self) -> "SwanHubPod":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- logs and records

    def hub_log(self) -> str:
        return self.hub.log() if self.hub else ""

    def proxy_log(self) -> str:
        return self.proxy.log() if self.proxy else ""

    def processes(self) -> list[int]:
        """Host pids of every process in the pod network (launchers, containers, their children)."""
        mine = os.readlink(f"/proc/self/fd/{self.netns.fd}")
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.readlink(f"/proc/{entry}/ns/net") == mine:
                        pids.append(int(entry))
                except OSError:
                    pass
        return sorted(pids)

    def proxy_routes(self) -> dict:
        """CHP's routing table, from its API (the proxy-api Service) with the hub's proxy token."""
        fwd = forward_host_to_netns(self.netns, self.proxy.ports["api"], "proxy-api")
        try:
            token = self.proxy.env["CONFIGPROXY_AUTH_TOKEN"]
            r = requests.get(f"http://127.0.0.1:{fwd.port}/api/routes", headers={"Authorization": f"token {token}"},
                             timeout=5)
            r.raise_for_status()
            return r.json()
        finally:
            fwd.close()

    def pods(self) -> list[dict]:
        """The pod manifests the spawner sent to the API server (create request bodies), in order."""
        return self.api.created("pods")

    # -- users

    def login(self, username: str, password: str | None = None, roles: list[str] = (), **claims) -> requests.Session:
        """A requests.Session logged in as `username`: the hub's login form (dummy
        authenticator), or the OAuth flow through the fake IdP (KeyCloak; the user is registered
        with `roles` and `claims`, e.g. cern_uid=1234)."""
        t0 = time.monotonic()
        session = requests.Session()
        if self.uses_keycloak:
            self._login_oidc(session, username, roles, claims)
        else:
            self._login_form(session, username, password)
        home = session.get(self.url + "/hub/home", allow_redirects=False, timeout=10)
        if home.status_code != 200:
            raise self._fail(f"login as {username}: GET /hub/home -> {home.status_code} {home.headers.get('Location', '')}")
        self.timings["login"] = time.monotonic() - t0
        return session

    def _login_form(self, session: requests.Session, username: str, password: str | None) -> None:
        """POST the hub's login form. SWAN's login.html renders no form (it redirects to the
        authenticator's login URL in JavaScript), so the _xsrf value is the one the hub set as
        the `_xsrf` cookie on GET /hub/login, which is what the form field would carry."""
        page = session.get(self.url + "/hub/login", timeout=10)
        m = re.search(r'name="_xsrf"\s+value="([^"]+)"', page.text) or re.search(r'value="([^"]+)"\s+name="_xsrf"', page.text)
        xsrf = m.group(1) if m else session.cookies.get("_xsrf")
        if page.status_code != 200 or not xsrf:
            raise self._fail(f"GET /hub/login -> {page.status_code}, neither an _xsrf form field nor an _xsrf cookie")
        r = session.post(self.url + "/hub/login?next=", allow_redirects=False, timeout=20,
                         data={"username": username, "password": password or "", "_xsrf": xsrf})
        if r.status_code != 302:
            raise self._fail(f"POST /hub/login as {username} -> {r.status_code}: {r.text[-500:]}")

    def _to_local(self, url: str) -> str:
        """A URL of the public hub host (e.g. the OAuth callback) as seen through `url`."""
        parts = urlsplit(url)
        local = urlsplit(self.url)
        return urlunsplit((local.scheme, local.netloc, parts.path, parts.query, parts.fragment))

    def _login_oidc(self, session: requests.Session, username: str, roles, claims) -> None:
        if username not in self.oidc.users:
            self.oidc.register_user(username, roles=list(roles), **claims)
        r = session.get(self.url + "/hub/oauth_login?next=", allow_redirects=False, timeout=10)
        location = r.headers.get("Location", "")
        if r.status_code != 302 or not location.startswith(self.oidc.issuer):
            raise self._fail(f"GET /hub/oauth_login -> {r.status_code} {location!r}, not a redirect to {self.oidc.issuer}")
        parts = urlsplit(location)
        query = parse_qs(parts.query)
        query["login_hint"] = [username]
        idp = urlunsplit(("https", f"127.0.0.1:{self._oidc_host_port}", parts.path, urlencode(query, doseq=True), ""))
        ca_file = self.workdir / "ca.crt"
        ca_file.write_bytes(self.ca.cert_pem)
        r = session.get(idp, allow_redirects=False, timeout=10, verify=str(ca_file))
        callback = r.headers.get("Location", "")
        if r.status_code != 302:
            raise self._fail(f"fake IdP authorization -> {r.status_code} {r.text}")
        r = session.get(self._to_local(callback), allow_redirects=False, timeout=30)
        if r.status_code != 302:
            raise self._fail(f"GET /hub/oauth_callback -> {r.status_code}: {r.text[-800:]}")

    def spawn(self, session: requests.Session, form: dict, timeout: float = 30.0) -> dict:
        """Submit the options form through the hub's spawn page (POST /hub/spawn, with the
        session's _xsrf) and return the pod manifest the spawner then sends to the API server.
        The POST itself is left running in the background: SWAN's spawn page answers only after
        the spawn or its slow_spawn_timeout (15 s); `self.spawn_responses` collects the answers."""
        import threading
        before = len(self.pods())
        box: dict = {}
        data = {**form, "_xsrf": session.cookies.get("_xsrf", "")}

        def post():
            try:
                box["response"] = session.post(self.url + "/hub/spawn", data=data, allow_redirects=False, timeout=180)
            except requests.RequestException as e:
                box["error"] = e
            self.spawn_responses.append(box)

        thread = threading.Thread(target=post, daemon=True, name="spawn-post")
        thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pods = self.pods()
            if len(pods) > before:
                return pods[before]
            if not thread.is_alive():
                r = box.get("response")
                detail = f"{r.status_code}: {r.text[-1500:]}" if r is not None else repr(box.get("error"))
                raise self._fail(f"POST /hub/spawn ended without a pod being created: {detail}")
            time.sleep(0.05)
        raise self._fail(f"no pod created within {timeout} s of POST /hub/spawn")

    def xsrf_headers(self, session: requests.Session) -> dict:
        token = session.cookies.get("_xsrf")
        return {"X-XSRFToken": token} if token else {}

    def api_token(self) -> str:
        """An admin-scoped token for the hub API: the chart-generated token of a hub service
        whose role (hub.loadRoles) has admin:users, else a token the admin user creates."""
        services = self.hub_values.get("hub", {}).get("services") or {}
        roles = self.hub_values.get("hub", {}).get("loadRoles") or {}
        for name in services:
            for role in roles.values():
                if name in (role.get("services") or []) and "admin:users" in (role.get("scopes") or []):
                    return _decode(self.hub_secret, f"hub.services.{name}.apiToken")
        admins = ((self.hub_config.get("Authenticator") or {}).get("admin_users") or [])
        if self.uses_keycloak:
            kc = self.hub_config.get("KeyCloakAuthenticator") or {}
            admin, session = "harness-admin", None
            session = self.login(admin, roles=[kc.get("admin_role", "swan-admins")])
        elif admins:
            admin = sorted(admins)[0]
            session = self.login(admin)
        else:
            raise HarnessError("no hub service with admin:users and no admin user in the hub values")
        r = session.post(f"{self.url}/hub/api/users/{admin}/tokens", headers=self.xsrf_headers(session),
                         json={"note": "swan-iac session harness", "expires_in": 3600}, timeout=10)
        if r.status_code != 201:
            raise self._fail(f"creating a token for {admin} -> {r.status_code} {r.text}")
        return r.json()["token"]
