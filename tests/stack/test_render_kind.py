"""`swan render kind`: the default development stack, rendered offline through Pulumi's mock engine."""
from __future__ import annotations

import filecmp
import ipaddress
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from stacks.cli.main import app
from stacks.config.loader import load_stack
from stacks.infra.kind import cluster_config as kind_cluster
from stacks.platform_layer import security
from stacks.render import render

from stack_support import StackRender, egress_allowed, schema_failures


@pytest.fixture(scope="module")
def kind(tmp_path_factory) -> Path:
    out, _ = render("kind", tmp_path_factory.mktemp("render") / "kind")
    return out


@pytest.fixture(scope="module")
def cfg():
    return load_stack("kind")


def k8s_objects(folder: Path) -> dict[str, dict]:
    return {p.name: yaml.safe_load(p.read_text()) for p in sorted((folder / "k8s").glob("*.yaml"))}


def test_render_writes_the_three_outputs(kind):
    resources = json.loads((kind / "resources.json").read_text())
    assert resources == sorted(resources, key=lambda r: (r["type"], r["name"]))
    assert all(set(r) - {"options"} == {"type", "name", "parent", "custom", "inputs"} for r in resources)
    assert all(r["options"] for r in resources if "options" in r)  # only non-default options, never an empty map
    known = {f"{r['type']}::{r['name']}" for r in resources}
    assert all(r["parent"] is None or r["parent"] in known for r in resources)
    assert {p.name for p in (kind / "helm").iterdir()} == {"swan.yaml", "ingress-nginx.yaml"}
    for obj in k8s_objects(kind).values():
        assert {"apiVersion", "kind", "metadata"} <= set(obj)
        assert "spec" in obj or "data" in obj or "rules" in obj or "subjects" in obj or obj["kind"] in (
            "Namespace", "ServiceAccount")


def test_k8s_file_names_follow_kind_namespace_name(kind):
    for name, obj in k8s_objects(kind).items():
        meta = obj["metadata"]
        assert name == f"{obj['kind']}-{meta.get('namespace', 'cluster')}-{meta['name']}.yaml"


def test_every_object_passes_strict_schema_for_the_stack_version(kind, cfg, tmp_path):
    assert schema_failures(StackRender(kind, None, {}), cfg.kubernetes_version) == {}


def test_every_release_is_templated_with_its_real_chart(kind):
    index = json.loads((kind / "charts.json").read_text())
    assert {r: i.get("problem") for r, i in index.items()} == {"swan": None, "ingress-nginx": None}
    assert index["swan"]["chart"] == "swan-2.3.73"
    files = {p.name for p in (kind / "charts" / "swan").iterdir()}
    assert len(files) == index["swan"]["objects"]
    assert {"Deployment-swan-hub.yaml", "Deployment-swan-proxy.yaml", "DaemonSet-swan-swan-cvmfs-csi-nodeplugin.yaml",
            "StorageClass-cluster-cvmfs.yaml", "Secret-swan-hub.yaml"} <= files
    for path in (kind / "charts").rglob("*.yaml"):
        obj = yaml.safe_load(path.read_text())
        assert path.name == f"{obj['kind']}-{obj['metadata'].get('namespace', 'cluster')}-{obj['metadata']['name']}.yaml"


def test_hub_release_deploys_swan_as_swan_runs(kind, cfg):
    """SWAN's own spawner (the chart's default), SWAN's culler instead of z2jh's, the form from the config."""
    release = yaml.safe_load((kind / "helm" / "swan.yaml").read_text())
    assert (release["chart"], release["version"], release["repository"], release["namespace"]) == (
        "oci://registry.cern.ch/swan/charts/swan", "2.3.73", None, "swan")
    jh = release["values"]["jupyterhub"]
    config = jh["hub"]["config"]
    assert "spawner_class" not in config["JupyterHub"]  # the chart's swanspawner.SwanKubeSpawner stays
    assert config["JupyterHub"]["authenticator_class"] == "dummy"
    assert config["JupyterHub"]["hub_connect_url"] == "http://hub.swan.svc:8081"
    assert config["KubeSpawner"]["namespace"] == cfg.security.user_namespace
    assert jh["cull"] == {"enabled": False}  # z2jh's culler is not in SWAN's hub image
    swan_iac = jh["custom"]["swanIac"]
    assert swan_iac["cull"] == {"enabled": True, "timeout": 4 * 3600, "gpuTimeout": None, "every": 600,
                                "gpuCullers": [], "flavourTimeouts": {}}  # no GPUs: one culler for all
    assert all(isinstance(v, str) for v in jh["hub"]["extraConfig"].values())  # null breaks z2jh's loader
    form = jh["hub"]["extraFiles"]["swan-options-form"]
    assert form["mountPath"] == config["SwanSpawner"]["options_form_config"]
    assert [o["lcg"]["value"] for o in form["data"]["lcg_options"] if o["type"] == "selection"] == \
        list(dict.fromkeys(sw.release for sw in cfg.hub.software))
    assert jh["singleuser"]["storage"]["type"] == "dynamic"  # no EOS on kind: a home volume instead
    assert release["values"]["eosxd-csi"] == {"enabled": False}
    default_local = release["values"]["cvmfs-csi"]["extraConfigMaps"]["cvmfs-csi-default-local"]["default.local"]
    assert "CVMFS_REPOSITORIES=sft.cern.ch,cvmfs-config.cern.ch" in default_local
    templated = yaml.safe_load((kind / "charts" / "swan" / "ConfigMap-swan-cvmfs-csi-default-local.yaml").read_text())
    assert "CVMFS_CACHE_BASE=/cvmfs-localcache" in templated["data"]["default.local"]  # the node's cache volume
    assert jh["ingress"] == {"enabled": False}
    ingress = k8s_objects(kind)["Ingress-swan-swan.yaml"]
    assert ingress["spec"]["rules"][0]["host"] == cfg.hub.host and "tls" not in ingress["spec"]


def test_user_pods_cannot_reach_metadata_or_api_server_but_reach_the_internet(kind, cfg):
    policies = {o["metadata"]["name"]: o["spec"] for o in k8s_objects(kind).values()
                if o["kind"] == "NetworkPolicy" and o["metadata"]["namespace"] == cfg.security.user_namespace}
    assert policies == security.user_network_policies(cfg)
    user = dict(security.USER_POD)
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert not egress_allowed(list(policies.values()), user, "169.254.169.254", 80)
    for cidr in cfg.security.api_server_cidrs:
        assert not egress_allowed(list(policies.values()), user, str(ipaddress.ip_network(cidr)[0]), 443)
    assert egress_allowed(list(policies.values()), user, "137.138.1.1", 443)
    # Spark drivers are the one exception, for the API server only.
    driver = {**user, security.SPARK_DRIVER_LABEL: "true"}
    assert egress_allowed(list(policies.values()), driver, "10.96.0.1", 443)
    assert not egress_allowed(list(policies.values()), driver, "169.254.169.254", 80)
    hub_api = policies["allow-hub-api"]["egress"][0]
    assert hub_api["ports"] == [{"protocol": "TCP", "port": 8081}]
    assert hub_api["to"][0]["podSelector"] == {"matchLabels": {"component": "hub"}}
    assert policies["allow-dns"]["egress"][0]["ports"][0] == {"protocol": "UDP", "port": 53}


def test_namespaces_carry_pod_security_labels(kind):
    levels = {o["metadata"]["name"]: o["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
              for o in k8s_objects(kind).values() if o["kind"] == "Namespace"}
    assert levels == {"swan": "privileged", "swan-users": "baseline", "spark": "baseline",
                      "ingress-nginx": "privileged"}


def test_user_namespace_is_capped(kind, cfg):
    objs = k8s_objects(kind)
    spec = objs["ResourceQuota-swan-users-swan-users.yaml"]["spec"]
    # course-event sessions (with their event's PriorityClass) are capped by the event's own quota
    assert spec["scopeSelector"] == {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "DoesNotExist"}]}
    quota = spec["hard"]
    assert quota["requests.cpu"] == cfg.security.quota.cpu and quota["pods"] == str(cfg.security.quota.pods)
    limits = objs["LimitRange-swan-users-swan-users.yaml"]["spec"]["limits"][0]
    assert limits["max"] == {"cpu": cfg.security.quota.max_container_cpu,
                             "memory": cfg.security.quota.max_container_memory}


def test_spark_driver_rights_stop_at_the_spark_namespace(kind, cfg):
    """User-namespace ServiceAccounts (only Spark sessions have a token) may manage pods in the Spark
    namespace, and the admission policy narrows that to pods labelled with their own user."""
    objs = k8s_objects(kind)
    binding = objs["RoleBinding-spark-spark-driver.yaml"]
    assert binding["subjects"] == [{"kind": "Group", "name": f"system:serviceaccounts:{cfg.security.user_namespace}",
                                    "apiGroup": "rbac.authorization.k8s.io"}]
    assert not any(o["kind"] == "ClusterRoleBinding" and any("spark" in s["name"] for s in o["subjects"])
                   for o in objs.values())
    policy = objs["ValidatingAdmissionPolicy-cluster-swan-spark-own-objects.yaml"]["spec"]
    assert "system:serviceaccount:swan-users:spark-" in policy["matchConditions"][0]["expression"]
    binding = objs["ValidatingAdmissionPolicyBinding-cluster-swan-spark-own-objects.yaml"]["spec"]
    assert binding["validationActions"] == ["Deny"]
    assert binding["matchResources"]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "spark"}
    values = yaml.safe_load((kind / "helm" / "swan.yaml").read_text())["values"]["jupyterhub"]
    assert "serviceAccountName" not in values["singleuser"]  # no API token for ordinary sessions


def test_no_gpu_operator_on_a_cpu_only_stack(kind):
    types = {r["type"] for r in json.loads((kind / "resources.json").read_text())}
    assert "swan:platform:Gpu" not in types


def test_kind_cluster_config_matches_the_stack(kind, cfg):
    resources = json.loads((kind / "resources.json").read_text())
    cluster = next(r for r in resources if r["type"] == "pulumi-python:dynamic/kind:Cluster")
    config = yaml.safe_load(cluster["inputs"]["config"])
    assert config == kind_cluster.kind_config(cfg)
    control, *workers = config["nodes"]
    assert control["role"] == "control-plane" and control["labels"] == {"ingress-ready": "true"}
    assert {m["hostPort"] for m in control["extraPortMappings"]} == {80, 443}
    assert len(workers) == sum(p.count for p in cfg.node_pools)
    for node in config["nodes"]:
        assert {"hostPath": "/var/cvmfs", "containerPath": "/var/cvmfs", "propagation": "Bidirectional"} \
            in node["extraMounts"]
    assert cluster["inputs"]["__provider"] == "[secret]"
    provider = next(r for r in resources if r["type"] == "pulumi:providers:kubernetes")
    assert provider["inputs"]["kubeconfig"] == "[secret]"


def test_outputs_hold_what_operators_and_event_stacks_read(kind):
    outputs = json.loads((kind / "outputs.json").read_text())
    assert outputs["hubUrl"] == "http://swan.127.0.0.1.nip.io/"
    assert outputs["kubeconfig"] == "[secret]"
    assert outputs["namespaces"] == {"hub": "swan", "users": "swan-users"}


def test_two_renders_are_byte_identical(kind, tmp_path):
    again, _ = render("kind", tmp_path / "again")
    comparison = filecmp.dircmp(kind, again)
    files = [p.relative_to(kind) for p in kind.rglob("*") if p.is_file()]
    _, mismatch, errors = filecmp.cmpfiles(kind, again, files, shallow=False)
    assert not mismatch and not errors and not comparison.left_only and not comparison.right_only


PLAINTEXT = {"client": "oidc-client-secret-4f9a1c", "keytab": "ZW9zLWtleXRhYi1ieXRlcy03YjJl"}


def test_no_plaintext_secret_anywhere_and_values_stay_readable(project, tmp_path, monkeypatch):
    """Secrets as `pulumi up` hands them over (decrypted) end up only in Secrets the program creates,
    masked leaf by leaf; every release's values stay readable."""
    from stacks.config import loader

    swan = project.read_swan("kind")
    swan["hub"]["auth"] = {"type": "oidc", "issuer": "https://auth.example.org/realms/cern", "clientId": "swan",
                           "clientSecret": {"secure": "v1:client"},
                           "callbackUrl": "https://swan.example.org/hub/oauth_callback"}
    swan["storage"]["eos"] = {"enabled": True, "keytab": {"secure": "v1:keytab"},
                              "instances": [{"name": "home", "host": "eoshome.example.org", "mountDir": "/eos/user/"}]}
    project.write_config("oidc", swan)
    decrypt = loader._replace_secure  # the engine's decryption, as under `pulumi up`
    monkeypatch.setattr(loader, "_replace_secure", lambda value, *where: loader.Secret(PLAINTEXT[value["secure"][3:]])
                        if isinstance(value, dict) and set(value) == {"secure"} else decrypt(value, *where))
    out, rendered = render("oidc", tmp_path / "oidc")
    assert not [t.problem for t in rendered.charts if t.problem]
    for path in out.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert not [name for name, plain in PLAINTEXT.items() if plain in text], path
    for release in (out / "helm").glob("*.yaml"):
        assert isinstance(yaml.safe_load(release.read_text())["values"], dict), release
    objs = k8s_objects(out)
    assert objs["Secret-swan-swan-hub-secret-values.yaml"]["stringData"] == {"values.yaml": "[secret]"}
    assert objs["Secret-swan-eos-csi-file-etc-eos-keytab.yaml"]["data"] == {"eos.keytab": "[secret]"}
    hub = yaml.safe_load((out / "helm" / "swan.yaml").read_text())["values"]["jupyterhub"]["hub"]
    assert hub["existingSecret"] == "swan-hub-secret-values"
    assert "client_secret" not in hub["config"]["KeyCloakAuthenticator"]
    # the chart's own keytab Secret is gone; the node plugin mounts the program's
    assert not (out / "charts" / "swan" / "Secret-swan-eos-csi-file-etc-eos-keytab.yaml").exists()


def test_gpu_pool_brings_the_operator_with_every_layout(project, tmp_path):
    from stacks.planner.mig_parted import catalog

    swan = project.read_swan("kind")
    swan["hub"]["software"].append({"release": "LCG_107_cuda", "platform": "x86_64-el9-gcc11-opt"})
    swan["nodePools"].append({"name": "a100", "count": 1, "maxCount": 3,  # kind ignores the bounds: one node
                              "gpu": {"model": "A100-40GB", "perNode": 1, "migConfig": "a100-40gb-7x1g.5gb"}})
    project.write_config("gpu", swan)
    out, rendered = render("gpu", tmp_path / "gpu")
    operator = yaml.safe_load((out / "helm" / "gpu-operator.yaml").read_text())
    assert operator["values"]["mig"]["strategy"] == "mixed"
    config_map = yaml.safe_load((out / "k8s" / "ConfigMap-gpu-operator-swan-mig-parted-config.yaml").read_text())
    assert yaml.safe_load(config_map["data"]["config.yaml"]) == catalog(["A100-40GB"])
    swan_iac = yaml.safe_load((out / "helm" / "swan.yaml").read_text())["values"]["jupyterhub"]["custom"]["swanIac"]
    assert swan_iac["cull"]["gpuTimeout"] == 3600  # idle GPU sessions are culled sooner
    assert swan_iac["cull"]["gpuCullers"] == [{"timeout": 3600, "service": "swan-gpu-idle-culler",
                                               "group": "swan-gpu-sessions"}]
    quota = yaml.safe_load((out / "k8s" / "ResourceQuota-swan-users-swan-users.yaml").read_text())
    assert quota["spec"]["hard"]["requests.nvidia.com/mig-1g.5gb"] == "7"  # 1 kind worker x 1 A100 x 7 slices
    assert (out / "charts" / "gpu-operator" / "CustomResourceDefinition-cluster-clusterpolicies.nvidia.com.yaml").exists()
    kind_config = yaml.safe_load(next(r for r in rendered.resources if r.type.endswith("kind:Cluster")).inputs["config"])
    gpu_node = kind_config["nodes"][-1]
    assert gpu_node["labels"]["nvidia.com/mig.config"] == "a100-40gb-7x1g.5gb"
    assert "nvidia.com/gpu" in gpu_node["kubeadmConfigPatches"][0]


def test_render_cli_prints_a_summary_and_exits_2_on_bad_config(project):
    runner = CliRunner()
    result = runner.invoke(app, ["render", "kind", "--out", str(project.root / "out")])
    assert result.exit_code == 0, result.output
    assert "helm release swan: chart oci://registry.cern.ch/swan/charts/swan" in result.stdout
    assert "chart objects" in result.stdout
    assert (project.root / "out" / "resources.json").is_file()
    swan = project.read_swan("kind")
    swan["hub"]["sessions"][0]["memory"] = "16GG"
    project.write_config("kind", swan)
    bad = runner.invoke(app, ["render", "kind", "--out", str(project.root / "bad")])
    assert bad.exit_code == 2
    assert "config/Pulumi.kind.yaml: swan:hub.sessions[0].memory: '16GG' is not a Kubernetes quantity" in bad.stderr
    assert not (project.root / "bad").exists()  # nothing half-written


def test_nightly_cronjob_runs_a_command_swan_verify_accepts(kind, cfg):
    """The CronJob's arguments parse with the real `swan verify` command, with the chart's token."""
    import typer

    job = yaml.safe_load((kind / "k8s" / "CronJob-swan-swan-verify.yaml").read_text())
    container = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    args = container["args"]
    assert args[:2] == ["swan", "verify"]
    command = typer.main.get_command(app)
    context = command.make_context("swan", list(args[1:]))  # parses only: unknown options would raise
    verify = command.get_command(context, "verify")
    params = verify.make_context("verify", list(args[2:]), parent=context).params
    assert params["hub_url"] == "http://proxy-public.swan.svc.cluster.local/"
    assert list(params["profile"]) == [s.name for s in cfg.hub.sessions][: cfg.verification.max_sessions]
    # SWAN's spawner takes its form's fields, not a profile: each session's user options are mounted
    sessions = yaml.safe_load(yaml.safe_load((kind / "k8s" / "ConfigMap-swan-swan-verify-sessions.yaml").read_text())
                              ["data"]["sessions.yaml"])
    assert set(sessions) == set(params["profile"])
    assert sessions["small"]["cores"] == 1 and sessions["small"]["memory"] == "2G"
    mount = container["volumeMounts"][0]["mountPath"]
    assert params["session_options"] == f"{mount}/sessions.yaml"
    token = container["env"][0]
    assert token["valueFrom"]["secretKeyRef"] == {"name": "hub", "key": "hub.services.swan-verify.apiToken"}
    hub = yaml.safe_load((kind / "helm" / "swan.yaml").read_text())["values"]["jupyterhub"]["hub"]
    assert hub["services"] == {"swan-verify": {}}
    assert hub["loadRoles"]["swan-verify"]["services"] == ["swan-verify"]
    assert set(hub["loadRoles"]["swan-verify"]["scopes"]) == {"admin:users", "admin:servers", "access:servers"}
