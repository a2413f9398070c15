"""`swan render openstack-prod`: Magnum network, access rules, node groups and the platform on top."""
from __future__ import annotations

import ipaddress

import pytest
from typer.testing import CliRunner

from stacks.cli.main import app
from stacks.config.loader import load_stack
from stacks.infra.openstack import rules as openstack_rules
from stacks.infra.pools import GPU_TAINT_KEY, MIG_CONFIG_LABEL, GPU_MODEL_LABEL, pool_labels, pool_taints
from stacks.platform_layer import security

from stack_support import egress_allowed, platform_resources, render_stack, schema_failures, user_pod_policies

STACK = "openstack-prod"
NODE_GROUP = "openstack:containerinfra/nodeGroup:NodeGroup"
SECGROUP_RULE = "openstack:networking/secGroupRule:SecGroupRule"


@pytest.fixture(scope="module")
def cfg():
    return load_stack(STACK)


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return render_stack(STACK, tmp_path_factory.mktemp("render") / STACK)


def test_network_is_routed_to_the_configured_external_network(out, cfg):
    os_cfg = cfg.openstack
    subnet = out.one("openstack:networking/subnet:Subnet", "subnet")["inputs"]
    assert subnet["cidr"] == os_cfg.network_cidr and subnet["networkId"] == "network-id"
    assert subnet["dnsNameservers"] == os_cfg.dns_nameservers
    router = out.one("openstack:networking/router:Router", "router")["inputs"]
    assert router["externalNetworkId"] == f"{os_cfg.external_network}-id"  # looked up by its name
    interface = out.one("openstack:networking/routerInterface:RouterInterface", "router-interface")["inputs"]
    assert interface == {"routerId": "router-id", "subnetId": "subnet-id"}
    assert out.one("pulumi:providers:openstack", "openstack")["inputs"] == {"region": os_cfg.region}


def test_template_keeps_nodes_off_the_internet_and_the_api_to_its_cidrs(out, cfg):
    template = out.one("openstack:containerinfra/clusterTemplate:ClusterTemplate", "cluster-template")["inputs"]
    assert template["floatingIpEnabled"] is False
    assert template["masterLbEnabled"] is True
    assert template["networkDriver"] == "calico"  # enforces the platform's NetworkPolicies
    assert template["labels"]["master_lb_allowed_cidrs"] == ",".join(cfg.openstack.api_cidrs)
    assert "0.0.0.0/0" not in template["labels"]["master_lb_allowed_cidrs"]
    assert (template["fixedNetwork"], template["fixedSubnet"]) == ("network-id", "subnet-id")
    assert template["externalNetworkId"] == cfg.openstack.external_network
    for key, value in cfg.openstack.magnum_labels.items():
        assert template["labels"][key] == value
    cluster = out.one("openstack:containerinfra/cluster:Cluster", "cluster")["inputs"]
    assert cluster["floatingIpEnabled"] is False and cluster["clusterTemplateId"] == "cluster-template-id"


def test_no_security_rule_opens_ssh_to_the_world(out, cfg):
    every_rule = [r["inputs"] for r in out.of_type(SECGROUP_RULE)]
    for rule in every_rule:
        if rule["direction"] == "ingress":
            assert ipaddress.ip_network(rule["remoteIpPrefix"]).prefixlen > 0, rule
    # VM nodes (nodes.vmGroups) also admit their own cluster network, nothing else but the admins.
    vm_rules = [r for r in every_rule if r["securityGroupId"] == "vm-secgroup-id"]
    assert {r["remoteIpPrefix"] for r in vm_rules} == {cfg.openstack.network_cidr, *cfg.openstack.admin_cidrs}
    rules = [r for r in every_rule if r["securityGroupId"] != "vm-secgroup-id"]
    ssh_in = [r for r in rules if r["direction"] == "ingress"
              and r.get("portRangeMin", 0) <= 22 <= r.get("portRangeMax", 65535)]
    assert sorted(r["remoteIpPrefix"] for r in ssh_in) == sorted(cfg.openstack.admin_cidrs)
    # The bastion's group starts empty: these rules are all it allows.
    group = out.one("openstack:networking/secGroup:SecGroup", "secgroup")["inputs"]
    assert group["deleteDefaultRules"] is True
    assert {r["securityGroupId"] for r in rules} == {"secgroup-id"}
    port = out.one("openstack:networking/port:Port", "port")["inputs"]
    assert port["securityGroupIds"] == ["secgroup-id"]


def test_default_group_is_the_first_pool(out, cfg):
    cluster = out.one("openstack:containerinfra/cluster:Cluster", "cluster")["inputs"]
    cpu = cfg.node_pools[0]
    assert (cluster["flavor"], cluster["nodeCount"]) == (cpu.flavor, cpu.count)
    assert cluster["labels"] == {"min_node_count": str(cpu.min_count), "max_node_count": str(cpu.max_count)}
    assert cluster["mergeLabels"] is True


def test_gpu_groups_have_the_configured_flavors_counts_and_labels(out, cfg):
    groups = {g["inputs"]["name"]: g["inputs"] for g in out.of_type(NODE_GROUP)}
    assert sorted(groups) == sorted(p.name for p in cfg.node_pools[1:])
    for pool in cfg.node_pools[1:]:
        group = groups[pool.name]
        assert group["flavorId"] == pool.flavor
        assert (group["nodeCount"], group["minNodeCount"], group["maxNodeCount"]) == (
            pool.count, pool.min_count, pool.max_count)
        assert group["labels"] == pool_labels(pool)
        assert group["mergeLabels"] is True  # keep the template's kube_tag etc.
        if pool.gpu:
            assert group["labels"][GPU_MODEL_LABEL] == pool.gpu.model
            assert group["labels"][MIG_CONFIG_LABEL] == pool.gpu.mig_config
            assert group["role"] == "gpu"
    assert groups["gpu-a100"]["labels"][MIG_CONFIG_LABEL] == "a100-40gb-7x1g.5gb"


def test_node_groups_are_created_one_after_another(out, cfg):
    names = [p.name for p in cfg.node_pools[1:]]
    assert len(names) >= 2
    waits = {name: out.dependencies[(NODE_GROUP, f"nodegroup-{name}")] for name in names}
    assert ("openstack:containerinfra/cluster:Cluster", "cluster") in waits[names[0]]
    for before, after in zip(names, names[1:]):
        assert (NODE_GROUP, f"nodegroup-{before}") in waits[after]
        assert (NODE_GROUP, f"nodegroup-{after}") not in waits[before]


def test_node_labels_and_taints_are_also_applied_from_kubernetes(out, cfg):
    objects = out.k8s_objects()
    for pool in cfg.node_pools:
        ds = objects[f"DaemonSet-kube-system-swan-node-labeler-{pool.name}.yaml"]["spec"]["template"]["spec"]
        group = "default-worker" if pool is cfg.node_pools[0] else pool.name
        assert ds["nodeSelector"] == {"magnum.openstack.org/nodegroup": group}
        assert ds["tolerations"] == [{"operator": "Exists"}]
        init = {c["name"]: c["args"] for c in ds["initContainers"]}
        assert init["label"][:3] == ["label", "node", "$(NODE_NAME)"]
        assert set(init["label"][3:-1]) == {f"{k}={v}" for k, v in pool_labels(pool).items()}
        if pool.gpu:
            assert f"{GPU_TAINT_KEY}=present:NoSchedule" in init["taint"]
        else:
            assert "taint" not in init and not pool_taints(pool)
    role = objects["ClusterRole-cluster-swan-node-labeler.yaml"]
    assert role["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "patch"]}]


def test_platform_provider_gets_the_cluster_kubeconfig_as_a_secret(out):
    provider = out.one("pulumi:providers:kubernetes", "openstack-k8s")
    assert provider["inputs"]["kubeconfig"] == "[secret]"
    assert provider["parent"] == "swan:infra:OpenStack::openstack"
    assert out.outputs["kubeconfig"] == "[secret]"


def test_outputs_tell_event_stacks_where_to_add_node_groups(out, cfg):
    """What an event's MagnumClusterRef, provider and labeler need (stacks.infra.openstack.outputs.Outputs)."""
    outputs = out.outputs
    assert outputs["cloud"] == "openstack"
    assert outputs["clusterId"] == "cluster-id"
    assert outputs["region"] == cfg.openstack.region
    assert outputs["nodeLabelerImage"] == cfg.openstack.node_labeler_image  # event groups need labelling too
    assert outputs["namespaces"]["users"] == cfg.security.user_namespace  # the event's quota and ConfigMap


def test_every_kubernetes_object_passes_strict_schema(out, cfg):
    assert schema_failures(out, cfg.kubernetes_version) == {}


def test_user_pods_cannot_reach_the_metadata_service(out, cfg):
    policies = user_pod_policies(out, cfg.security.user_namespace)
    assert policies  # the platform's policies are there
    for labels in (security.USER_POD, {**security.USER_POD, security.SPARK_DRIVER_LABEL: "true"}):
        for port in (80, 443):
            assert not egress_allowed(policies, labels, "169.254.169.254", port)
            assert not egress_allowed(policies, labels, "fe80::a9fe:a9fe", port)  # Nova's IPv6 metadata
        assert egress_allowed(policies, labels, "137.138.1.1", 443)  # the internet stays open
    # nothing cloud-specific adds a policy that could re-open it: every policy is the platform's
    policies_anywhere = {(r["type"], r["name"]) for r in out.resources if r["type"].endswith(":NetworkPolicy")}
    assert policies_anywhere <= set(platform_resources(out.resources))


def _check(project, stack: str, swan: dict) -> tuple[int, str]:
    project.write_config(stack, swan)
    result = CliRunner().invoke(app, ["check", stack])
    return result.exit_code, result.stderr


@pytest.mark.parametrize("change, expected", [
    (lambda s: s["openstack"].update(adminCidrs=["0.0.0.0/0"]),
     "swan:openstack.adminCidrs[0]: '0.0.0.0/0' opens the port to the whole internet"),
    (lambda s: s["openstack"].update(apiCidrs=["137.138.0.0/16", "::/0"]),
     "swan:openstack.apiCidrs[1]: '::/0' opens the port to the whole internet"),
    (lambda s: s["nodePools"][1].update(count=0, minCount=None),
     "swan:nodePools[1].count: Magnum node groups cannot have fewer than 1 node"),
    (lambda s: s["nodePools"][2].update(minCount=0),
     "swan:nodePools[2].minCount: Magnum node groups cannot scale below 1 node"),
    (lambda s: s.pop("openstack"),
     "swan:openstack: required with cloud: openstack"),
    (lambda s: s["nodePools"].reverse(),
     "swan:nodePools[0].gpu: the first pool becomes Magnum's default worker group and must be a CPU pool"),
    (lambda s: s["openstack"]["magnumLabels"].update(master_lb_allowed_cidrs="0.0.0.0/0"),
     "swan:openstack.magnumLabels: label 'master_lb_allowed_cidrs' is set by SWAN from apiCidrs"),
    (lambda s: s["security"].update(metadataAddress="169.254.169.253"),
     "swan:security.metadataAddress: the metadata service of openstack is 169.254.169.254"),
])
def test_bad_cloud_config_is_reported_with_its_key_and_exit_2(project, change, expected):
    swan = project.read_swan(STACK)
    change(swan)
    swan["nodePools"] = [{k: v for k, v in p.items() if v is not None} for p in swan["nodePools"]]
    code, stderr = _check(project, STACK, swan)
    assert code == 2
    assert f"config/Pulumi.{STACK}.yaml: {expected}" in stderr, stderr


def test_openstack_section_on_another_cloud_is_rejected(project):
    swan = project.read_swan("kind")
    swan["openstack"] = project.read_swan(STACK)["openstack"]
    code, stderr = _check(project, "kind", swan)
    assert code == 2
    assert "config/Pulumi.kind.yaml: swan:openstack: only valid with cloud: openstack" in stderr


def test_bastion_rules_only_admit_ssh_from_admins(cfg):
    rules = openstack_rules.bastion_rules(cfg.openstack)
    ingress = [r for r in rules if r["direction"] == "ingress"]
    assert [(r["protocol"], r["port_range_min"], r["remote_ip_prefix"]) for r in ingress] == [
        ("tcp", 22, cidr) for cidr in cfg.openstack.admin_cidrs]
