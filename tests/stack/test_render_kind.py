"""`swan render kind`: the default development stack, rendered offline through Pulumi's mock engine."""
from __future__ import annotations

import asyncio
import filecmp
import ipaddress
import json
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from stacks.cli.main import app
from stacks.config import load_stack
from stacks.config.model import quantity_value
from stacks.infra import kind_cluster
from stacks.platform_layer import security
from stacks.render import render

from stack_support import StackRender, egress_allowed, schema_failures, z2jh_errors


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
    assert all(set(r) == {"type", "name", "parent", "custom", "inputs"} for r in resources)
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


def test_hub_values_pass_the_zero_to_jupyterhub_schema(kind):
    release = yaml.safe_load((kind / "helm" / "swan.yaml").read_text())
    assert z2jh_errors(release["values"]) == []


def test_hub_release_reflects_the_config(kind, cfg):
    release = yaml.safe_load((kind / "helm" / "swan.yaml").read_text())
    assert (release["chart"], release["version"], release["namespace"]) == ("swan", "2.3.73", "swan")
    jh = release["values"]["jupyterhub"]
    assert jh["hub"]["config"]["JupyterHub"]["authenticator_class"] == "dummy"
    assert jh["cull"] == {"enabled": True, "timeout": 4 * 3600, "every": 600}
    assert jh["singleuser"]["storage"]["type"] == "dynamic"  # no EOS on kind: a home volume instead
    assert release["values"]["eosxd-csi"]["enabled"] is False
    assert "CVMFS_REPOSITORIES=sft.cern.ch,cvmfs-config.cern.ch" in \
        release["values"]["cvmfs-csi"]["extraConfigMaps"]["cvmfs-csi-default-local"]["default.local"]
    assert jh["ingress"]["hosts"] == [cfg.hub.host] and "tls" not in jh["ingress"]
    assert [p["slug"] for p in jh["singleuser"]["profileList"]] == [s.name for s in cfg.hub.sessions]


def _pod_for(values: dict, profile: str, software: str) -> dict:
    """The pod KubeSpawner itself builds for a profile choice, offline."""
    from kubernetes_asyncio.client import ApiClient
    from kubespawner import KubeSpawner

    singleuser = values["jupyterhub"]["singleuser"]

    async def build() -> dict:
        spawner = KubeSpawner(_mock=True)
        spawner.namespace = values["jupyterhub"]["hub"]["config"]["KubeSpawner"]["namespace"]
        spawner.image = f"{singleuser['image']['name']}:{singleuser['image']['tag']}"
        spawner.profile_list = singleuser["profileList"]
        spawner.user_options = {"profile": profile, "software": software}
        await spawner.load_user_options()
        pod = ApiClient().sanitize_for_serialization(await spawner.get_pod_manifest())
        await spawner.api.api_client.close()
        return pod

    return asyncio.run(build())


OFFLINE_KUBECONFIG = {  # KubeSpawner loads a client config at construction; nothing is ever sent
    "apiVersion": "v1", "kind": "Config", "current-context": "offline",
    "clusters": [{"name": "offline", "cluster": {"server": "https://127.0.0.1:9"}}],
    "contexts": [{"name": "offline", "context": {"cluster": "offline", "user": "offline"}}],
    "users": [{"name": "offline", "user": {"token": "unused"}}],
}


def test_every_profile_builds_a_valid_pod_with_the_promised_resources(kind, cfg, tmp_path, monkeypatch):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(OFFLINE_KUBECONFIG))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    values = yaml.safe_load((kind / "helm" / "swan.yaml").read_text())["values"]
    choices = values["jupyterhub"]["singleuser"]["profileList"][0]["profile_options"]["software"]["choices"]
    for size in cfg.hub.sessions:
        for software in cfg.hub.software:
            slug = next(k for k, c in choices.items() if c["display_name"] == software.label)
            pod = _pod_for(values, size.name, slug)
            kubernetes_validate.validate(pod, cfg.kubernetes_version, strict=True)
            container = pod["spec"]["containers"][0]
            assert float(container["resources"]["limits"]["cpu"]) == size.cores
            assert int(container["resources"]["limits"]["memory"]) == quantity_value(size.memory)
            env = {e["name"]: e.get("value") for e in container["env"]}
            assert env["SWAN_LCG_VIEW"] == f"/cvmfs/sft.cern.ch/lcg/views/{software.release}/{software.platform}"
            assert container["image"] == f"{cfg.hub.user_image.name}:{cfg.hub.user_image.tag}"


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
    objs = k8s_objects(kind)
    binding = objs["RoleBinding-spark-spark-driver.yaml"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "spark-driver",
                                    "namespace": cfg.security.user_namespace}]
    assert not any(o["kind"] in ("ClusterRoleBinding",) and o["subjects"][0]["name"] == "spark-driver"
                   for o in objs.values())


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


def test_secrets_are_shown_as_placeholders(project, tmp_path):
    swan = project.read_swan("kind")
    swan["hub"]["auth"] = {"type": "oidc", "issuer": "https://auth.example.org/realms/cern", "clientId": "swan",
                           "clientSecret": {"secure": "v1:QUJDREVGR0hJSktMTU5PUA=="},
                           "callbackUrl": "https://swan.example.org/hub/oauth_callback"}
    project.write_config("oidc", swan)
    out, _ = render("oidc", tmp_path / "oidc")
    text = "".join(p.read_text() for p in out.rglob("*") if p.is_file())
    assert "QUJDREVGR0hJSktMTU5PUA" not in text
    swan_release = next(r for r in json.loads((out / "resources.json").read_text())
                        if r["type"] == "kubernetes:helm.sh/v3:Release" and r["name"] == "swan")
    assert swan_release["inputs"]["values"] == "[secret]"  # values carrying a secret stay secret as a whole


def test_gpu_pool_brings_the_operator_with_every_layout(project, tmp_path):
    from stacks.planner.mig_parted import catalog

    swan = project.read_swan("kind")
    swan["nodePools"].append({"name": "a100", "count": 1,
                              "gpu": {"model": "A100-40GB", "perNode": 1, "migConfig": "a100-40gb-7x1g.5gb"}})
    project.write_config("gpu", swan)
    out, rendered = render("gpu", tmp_path / "gpu")
    operator = yaml.safe_load((out / "helm" / "gpu-operator.yaml").read_text())
    assert operator["values"]["mig"]["strategy"] == "mixed"
    config_map = yaml.safe_load((out / "k8s" / "ConfigMap-gpu-operator-swan-mig-parted-config.yaml").read_text())
    assert yaml.safe_load(config_map["data"]["config.yaml"]) == catalog(["A100-40GB"])
    profiles = yaml.safe_load((out / "helm" / "swan.yaml").read_text())["values"]["jupyterhub"]["singleuser"]["profileList"]
    gpu = next(p for p in profiles if p["slug"] == "a100-1g-5gb")
    assert gpu["kubespawner_override"]["extra_resource_limits"] == {"nvidia.com/mig-1g.5gb": "1"}
    kind_config = yaml.safe_load(next(r for r in rendered.resources if r.type.endswith("kind:Cluster")).inputs["config"])
    gpu_node = kind_config["nodes"][-1]
    assert gpu_node["labels"]["nvidia.com/mig.config"] == "a100-40gb-7x1g.5gb"
    assert "nvidia.com/gpu" in gpu_node["kubeadmConfigPatches"][0]


def test_render_cli_prints_a_summary_and_exits_2_on_bad_config(project):
    runner = CliRunner()
    result = runner.invoke(app, ["render", "kind", "--out", str(project.root / "out")])
    assert result.exit_code == 0, result.output
    assert "helm release swan: chart swan 2.3.73" in result.stdout
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
    token = container["env"][0]
    assert token["valueFrom"]["secretKeyRef"] == {"name": "hub", "key": "hub.services.swan-verify.apiToken"}
    hub = yaml.safe_load((kind / "helm" / "swan.yaml").read_text())["values"]["jupyterhub"]["hub"]
    assert hub["services"] == {"swan-verify": {}}
    assert hub["loadRoles"]["swan-verify"]["services"] == ["swan-verify"]
    assert set(hub["loadRoles"]["swan-verify"]["scopes"]) == {"admin:users", "admin:servers", "access:servers"}
