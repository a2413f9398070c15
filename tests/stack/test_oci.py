"""`swan render oci-pilot`: OKE network, least-privilege security lists, node pools over ADs, platform on top."""
from __future__ import annotations

import asyncio
import base64
import ipaddress

import pytest
from typer.testing import CliRunner

from stacks.cli.main import app
from stacks.config.loader import load_stack
from stacks.infra.pools import GPU_TAINT_KEY, pool_labels
from stacks.platform_layer import security

from stack_support import egress_allowed, platform_resources, render_stack, schema_failures, user_pod_policies

STACK = "oci-pilot"
NODE_POOL = "oci:ContainerEngine/nodePool:NodePool"
SECURITY_LIST = "oci:Core/securityList:SecurityList"


@pytest.fixture(scope="module")
def cfg():
    return load_stack(STACK)


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return render_stack(STACK, tmp_path_factory.mktemp("render") / STACK)


def _pools(out) -> dict[str, dict]:
    return {p["inputs"]["name"]: p["inputs"] for p in out.of_type(NODE_POOL)}


def _user_data(pool: dict) -> str:
    return base64.b64decode(pool["nodeMetadata"]["user_data"]).decode()


def _lists(out) -> dict[str, dict]:
    return {r["name"].removeprefix("security-"): r["inputs"] for r in out.of_type(SECURITY_LIST)}


def _covers_port(rule: dict, port: int) -> bool:
    if rule["protocol"] == "all":
        return True
    if rule["protocol"] != "6":
        return False
    tcp = rule.get("tcpOptions")
    return tcp is None or tcp["min"] <= port <= tcp["max"]


def test_subnets_gateways_and_routes(out, cfg):
    oci = cfg.oci
    vcn = out.one("oci:Core/vcn:Vcn", "vcn")["inputs"]
    assert vcn["cidrBlocks"] == [oci.vcn_cidr] and vcn["compartmentId"] == oci.compartment_id
    subnets = {r["name"]: r["inputs"] for r in out.of_type("oci:Core/subnet:Subnet")}
    assert subnets["subnet-nodes"]["cidrBlock"] == oci.node_subnet_cidr
    assert subnets["subnet-nodes"]["prohibitPublicIpOnVnic"] is True  # nodes have no public address
    assert subnets["subnet-nodes"]["routeTableId"] == "routes-private-id"
    for public in ("subnet-api", "subnet-lb"):
        assert subnets[public]["routeTableId"] == "routes-public-id"
    assert subnets["subnet-api"]["cidrBlock"] == oci.api_subnet_cidr
    assert subnets["subnet-lb"]["cidrBlock"] == oci.lb_subnet_cidr
    for name, subnet in subnets.items():
        assert subnet["securityListIds"] == [f"security-{name.removeprefix('subnet-')}-id"]
    routes = {r["name"]: r["inputs"]["routeRules"] for r in out.of_type("oci:Core/routeTable:RouteTable")}
    assert [(r["destination"], r["networkEntityId"]) for r in routes["routes-public"]] == [
        ("0.0.0.0/0", "internet-gateway-id")]
    assert [(r["destination"], r["networkEntityId"]) for r in routes["routes-private"]] == [
        ("0.0.0.0/0", "nat-gateway-id"), (oci.oracle_services.cidr_label, "service-gateway-id")]
    sgw = out.one("oci:Core/serviceGateway:ServiceGateway", "service-gateway")["inputs"]
    assert sgw["services"] == [{"serviceId": oci.oracle_services.service_id}]


def test_no_security_rule_opens_ssh_or_the_api_to_the_world(out, cfg):
    oci = cfg.oci
    lists = _lists(out)
    assert set(lists) == {"api", "nodes", "lb"}
    ssh_sources, api_sources = [], set()
    for subnet, rules in lists.items():
        for rule in rules["ingressSecurityRules"]:
            if _covers_port(rule, 22):
                ssh_sources.append((subnet, rule["source"]))
            if subnet == "api" and _covers_port(rule, 6443):
                api_sources.add(rule["source"])
            if rule["source"] == "0.0.0.0/0":  # the world reaches only 80/443 and ICMP path MTU
                assert rule["protocol"] == "1" or (subnet == "lb" and rule["tcpOptions"]["min"] in (80, 443)), rule
    # ssh reaches nodes only from the admin ranges, other nodes (all traffic inside the node subnet)
    # and the control plane's /28 (Oracle's documented control-plane-to-node rule)
    assert {s for s in ssh_sources} <= {("nodes", c) for c in
                                        [*oci.admin_cidrs, oci.node_subnet_cidr, oci.api_subnet_cidr]}
    admin_rules = [r for r in lists["nodes"]["ingressSecurityRules"] if r.get("tcpOptions") == {"min": 22, "max": 22}]
    assert [r["source"] for r in admin_rules] == oci.admin_cidrs
    assert api_sources == {*oci.api_cidrs, oci.node_subnet_cidr}
    for _, source in ssh_sources:
        assert ipaddress.ip_network(source).prefixlen > 0
    lb_in = {(r["tcpOptions"]["min"], r["source"]) for r in lists["lb"]["ingressSecurityRules"]}
    assert lb_in == {(port, cidr) for port in (80, 443) for cidr in oci.ingress_cidrs}
    lb_out = lists["lb"]["egressSecurityRules"]
    assert {r["destination"] for r in lb_out} == {oci.node_subnet_cidr}


def test_node_pools_have_the_configured_shapes_counts_and_labels(out, cfg):
    pools = _pools(out)
    assert sorted(pools) == sorted(p.name for p in cfg.node_pools)
    for pool in cfg.node_pools:
        made = pools[pool.name]
        assert made["nodeShape"] == pool.flavor
        assert made["nodeConfigDetails"]["size"] == pool.count
        assert made["kubernetesVersion"] == cfg.oci.kubernetes_version
        assert {l["key"]: l["value"] for l in made["initialNodeLabels"]} == pool_labels(pool)
        image = made["nodeSourceDetails"]["imageId"]
        assert image == (cfg.oci.gpu_node_image_id if pool.gpu else cfg.oci.node_image_id)
        if pool.flavor.endswith(".Flex"):
            assert made["nodeShapeConfig"] == {"ocpus": pool.ocpus, "memoryInGbs": pool.memory_gb}
        else:
            assert "nodeShapeConfig" not in made
    assert {pools["gpu-a10"]["nodeShape"], pools["gpu-a100"]["nodeShape"]} == {"VM.GPU.A10.1", "BM.GPU.A100-v2.8"}


def test_node_pools_span_the_configured_availability_domains(out, cfg):
    pools = _pools(out)
    for pool in cfg.node_pools:
        placements = pools[pool.name]["nodeConfigDetails"]["placementConfigs"]
        expected = pool.availability_domains or cfg.oci.availability_domains
        assert [p["availabilityDomain"] for p in placements] == expected
        assert {p["subnetId"] for p in placements} == {"subnet-nodes-id"}
    assert len(pools["cpu"]["nodeConfigDetails"]["placementConfigs"]) == 3  # no own list: every AD


def test_gpu_pools_are_tainted_at_registration(out, cfg):
    pools = _pools(out)
    for pool in cfg.node_pools:
        script = _user_data(pools[pool.name])
        bootstrap = script.splitlines()[-1]
        assert bootstrap.startswith("bash /var/run/oke-init.sh")
        if pool.gpu:
            assert f'--register-with-taints={GPU_TAINT_KEY}=present:NoSchedule"' in bootstrap
        else:
            assert "--register-with-taints" not in script


def test_nodes_drop_pod_traffic_to_the_metadata_service_before_bootstrap(out, cfg):
    rule = f"-s {cfg.oci.pods_cidr} -d 169.254.169.254/32 -j DROP"
    for name, pool in _pools(out).items():
        lines = _user_data(pool).splitlines()
        blocker = next(i for i, line in enumerate(lines) if f"iptables -t raw -I PREROUTING {rule}" in line)
        enabled = lines.index("systemctl enable --now swan-block-metadata.service")
        fetch = next(i for i, line in enumerate(lines) if "oke_init_script" in line)
        assert blocker < enabled < fetch, name
        assert "Before=kubelet.service" in lines


def test_user_pods_cannot_reach_the_metadata_service(out, cfg):
    policies = user_pod_policies(out, cfg.security.user_namespace)
    assert policies
    for labels in (security.USER_POD, {**security.USER_POD, security.SPARK_DRIVER_LABEL: "true"}):
        for port in (80, 443):
            assert not egress_allowed(policies, labels, "169.254.169.254", port)
            assert not egress_allowed(policies, labels, "fd00:c1::a9fe:a9fe", port)  # OCI's IPv6 IMDS
        assert egress_allowed(policies, labels, "137.138.1.1", 443)
    # nothing cloud-specific adds a policy that could re-open it: every policy is the platform's
    policies_anywhere = {(r["type"], r["name"]) for r in out.resources if r["type"].endswith(":NetworkPolicy")}
    assert policies_anywhere <= set(platform_resources(out.resources))
    vcn = out.one("oci:Core/vcn:Vcn", "vcn")["inputs"]
    assert not vcn.get("isIpv6enabled")  # IPv4-only VCN: no IPv6 path to the metadata service


def test_network_policies_are_enforced_on_every_node(out, cfg):
    """Flannel ignores NetworkPolicies: kube-router (firewall only) enforces the platform's."""
    assert cfg.oci.enforce_network_policies
    daemonset = out.k8s_objects()["DaemonSet-kube-system-kube-router.yaml"]["spec"]["template"]["spec"]
    container = daemonset["containers"][0]
    assert "--run-firewall=true" in container["args"]
    assert {"--run-router=false", "--run-service-proxy=false"} <= set(container["args"])  # flannel keeps routing
    assert container["image"] == cfg.oci.kube_router_image
    assert daemonset["tolerations"] == [{"operator": "Exists"}] and daemonset["hostNetwork"] is True
    role = out.k8s_objects()["ClusterRole-cluster-kube-router.yaml"]["rules"]
    assert {verb for rule in role for verb in rule["verbs"]} == {"get", "list", "watch"}  # reads only
    assert any("networkpolicies" in rule["resources"] for rule in role)


def test_cluster_and_autoscaler(out, cfg):
    cluster = out.one("oci:ContainerEngine/cluster:Cluster", "cluster")["inputs"]
    assert cluster["kubernetesVersion"] == cfg.oci.kubernetes_version
    assert cluster["endpointConfig"] == {"subnetId": "subnet-api-id", "isPublicIpEnabled": True}
    assert cluster["options"]["serviceLbSubnetIds"] == ["subnet-lb-id"]
    assert cluster["options"]["kubernetesNetworkConfig"] == {"podsCidr": cfg.oci.pods_cidr,
                                                             "servicesCidr": cfg.oci.services_cidr}
    addon = out.one("oci:ContainerEngine/addon:Addon", "cluster-autoscaler")["inputs"]
    settings = {c["key"]: c["value"] for c in addon["configurations"]}
    assert settings["authType"] == "workload"  # pods cannot use instance principals here
    bounds = dict(entry.rsplit(":", 1)[::-1] for entry in settings["nodes"].split(","))
    for pool in cfg.node_pools:
        low = pool.min_count if pool.min_count is not None else pool.count
        assert bounds[f"nodepool-{pool.name}-id"] == f"{low}:{pool.max_count}"
    provider = out.one("pulumi:providers:kubernetes", "oci-k8s")
    assert provider["inputs"]["kubeconfig"] == "[secret]"
    assert out.one("pulumi:providers:oci", "oci")["inputs"] == {"region": cfg.oci.region}


def test_outputs_tell_event_stacks_where_to_add_node_pools(out, cfg):
    """Everything an event's OkeClusterRef and provider need is an output (stacks.infra.oci.outputs.Outputs)."""
    outputs = out.outputs
    oci = cfg.oci
    expected = {"cloud": "oci", "clusterId": "cluster-id", "compartmentId": oci.compartment_id,
                "nodeSubnetId": "subnet-nodes-id", "availabilityDomains": oci.availability_domains,
                "kubernetesVersion": oci.kubernetes_version, "region": oci.region,
                "nodeImageId": oci.node_image_id, "gpuNodeImageId": oci.gpu_node_image_id,
                "podsCidr": oci.pods_cidr, "bootVolumeGb": oci.boot_volume_gb, "sshPublicKey": oci.ssh_public_key}
    assert {k: outputs[k] for k in expected} == expected


def test_every_kubernetes_object_passes_strict_schema(out, cfg):
    assert schema_failures(out, cfg.kubernetes_version) == {}


@pytest.mark.parametrize("change, expected", [
    (lambda s: s["oci"].update(adminCidrs=["0.0.0.0/0"]),
     "swan:oci.adminCidrs[0]: '0.0.0.0/0' opens the port to the whole internet"),
    (lambda s: s["oci"].update(apiCidrs=["0.0.0.0/0"]),
     "swan:oci.apiCidrs[0]: '0.0.0.0/0' opens the port to the whole internet"),
    (lambda s: s.pop("oci"), "swan:oci: required with cloud: oci"),
    (lambda s: s["nodePools"][1].update(availabilityDomains=["Uocm:EU-FRANKFURT-1-AD-9"]),
     "swan:nodePools[1].availabilityDomains: ['Uocm:EU-FRANKFURT-1-AD-9'] not among oci.availabilityDomains"),
    (lambda s: s["nodePools"][0].pop("ocpus"),
     "swan:nodePools[0].ocpus: flex shape VM.Standard.E5.Flex needs ocpus and memoryGb"),
    (lambda s: s["oci"].update(kubernetesVersion="v1.30.1"),
     "swan:oci.kubernetesVersion: v1.30.1 is not a 1.31 release"),
    (lambda s: s["oci"].update(nodeSubnetCidr="10.1.0.0/20"),
     "swan:oci: nodeSubnetCidr 10.1.0.0/20 is not inside vcnCidr 10.0.0.0/16"),
    (lambda s: s["oci"].update(compartmentId="my-compartment"),
     "swan:oci.compartmentId: 'my-compartment' is not an OCI compartment OCID"),
])
def test_bad_cloud_config_is_reported_with_its_key_and_exit_2(project, change, expected):
    swan = project.read_swan(STACK)
    change(swan)
    project.write_config(STACK, swan)
    result = CliRunner().invoke(app, ["check", STACK])
    assert result.exit_code == 2
    assert f"config/Pulumi.{STACK}.yaml: {expected}" in result.stderr, result.stderr


def test_provider_credentials_may_come_from_secret_provider_config():
    """`pulumi config set --secret oci:privateKey ...` reaches the explicit provider, still secret."""
    import pulumi

    from stacks.infra.provider_config import provider_settings

    config = {"oci:tenancyOcid": "ocid1.tenancy.oc1..aaaaexample", "oci:privateKey": "-----BEGIN KEY-----"}

    async def read() -> tuple[dict, bool, str]:
        settings = provider_settings("oci", plain=["tenancyOcid", "userOcid"], secret=["privateKey"])
        key = settings["private_key"]
        return settings, await key.is_secret(), await key.future()

    pulumi.runtime.set_all_config(config, ["oci:privateKey"])
    try:
        settings, secret, value = asyncio.run(read())
    finally:
        pulumi.runtime.set_all_config({}, [])
    assert settings["tenancy_ocid"] == config["oci:tenancyOcid"] and "user_ocid" not in settings
    assert (secret, value) == (True, config["oci:privateKey"])
