"""What a real `pulumi up` meets on the clouds (README "Known cloud behaviours"), asserted on renders.

Each test names the upstream behaviour it guards. The resource options (replace_on_changes,
delete_before_replace) are those resources.json records from the registrations Pulumi's mock engine
receives, the same requests the real engine gets. Charts are templated by the real helm with
the pinned charts, so the gpu-operator's ClusterPolicy and ingress-nginx's Service are the chart's own.
"""
from __future__ import annotations

import ipaddress

import pytest
import yaml
from typer.testing import CliRunner

from stacks.cli.main import app
from stacks.config.loader import load_stack
from stacks.infra.clouds import CLOUDS
from stacks.infra.openstack import rules as openstack_rules
from stacks.infra.openstack.config import HEAT_DNS_SERVICE_IP

from stack_support import render_stack

TEMPLATE = "openstack:containerinfra/clusterTemplate:ClusterTemplate"
CLUSTER = "openstack:containerinfra/cluster:Cluster"
NODE_GROUP = "openstack:containerinfra/nodeGroup:NodeGroup"
SECGROUP_RULE = "openstack:networking/secGroupRule:SecGroupRule"
OCI_LB_ANNOTATIONS = {"oci.oraclecloud.com/security-rule-management-mode": "None",
                      "service.beta.kubernetes.io/oci-load-balancer-security-list-management-mode": "None"}


def _render(stack: str, tmp_path_factory):
    """The render and, per (type, name), the options resources.json records (stacks.render.resource_options)."""
    out = render_stack(stack, tmp_path_factory.mktemp("render") / stack)
    return out, {(r["type"], r["name"]): r.get("options", {}) for r in out.resources}


@pytest.fixture(scope="module")
def openstack(tmp_path_factory):
    return _render("openstack-prod", tmp_path_factory)


@pytest.fixture(scope="module")
def oci(tmp_path_factory):
    return _render("oci-pilot", tmp_path_factory)


def _chart_object(out, release: str, file_prefix: str) -> dict:
    """The one object of the release's real chart whose file (<Kind>-<namespace>-<name>.yaml) starts so
    (or is so named, ending in .yaml)."""
    pattern = file_prefix if file_prefix.endswith(".yaml") else f"{file_prefix}*.yaml"
    (path,) = sorted((out.folder / "charts" / release).glob(pattern))
    return yaml.safe_load(path.read_text())


# -- OpenStack (Magnum) ----------------------------------------------------------------------------

def test_pod_and_service_ranges_are_set_and_apart_from_the_subnet(openstack):
    """Magnum's heat driver defaults calico_ipv4pool to 10.100.0.0/16, which holds the default subnet."""
    out, _ = openstack
    cfg = load_stack("openstack-prod").openstack
    labels = out.one(TEMPLATE, "cluster-template")["inputs"]["labels"]
    pods, services = labels["calico_ipv4pool"], labels["service_cluster_ip_range"]
    assert (pods, services) == (cfg.pod_cidr, cfg.service_cidr)
    subnet = out.one("openstack:networking/subnet:Subnet", "subnet")["inputs"]["cidr"]
    ranges = [ipaddress.ip_network(r) for r in (pods, services, subnet)]
    assert not any(a.overlaps(b) for i, a in enumerate(ranges) for b in ranges[i + 1:])
    assert ipaddress.ip_address(HEAT_DNS_SERVICE_IP) in ipaddress.ip_network(services)  # cluster DNS


def test_bastion_reaches_the_metadata_service_for_its_key(openstack):
    """Its group deletes the default egress: without this rule cloud-init never gets the keypair."""
    out, _ = openstack
    rules = [r["inputs"] for r in out.of_type(SECGROUP_RULE) if r["inputs"]["securityGroupId"] == "secgroup-id"]
    metadata = [r for r in rules if r["direction"] == "egress" and r["remoteIpPrefix"] == "169.254.169.254/32"]
    assert [(r["protocol"], r["portRangeMin"], r["portRangeMax"]) for r in metadata] == [("tcp", 80, 80)]


def test_a_changed_template_is_a_new_template_and_a_new_cluster(openstack):
    """Magnum refuses updates of a template in use (but a rename); the heat driver refuses cluster upgrades."""
    out, options = openstack
    template = out.one(TEMPLATE, "cluster-template")["inputs"]
    cfg = load_stack("openstack-prod")
    assert template["name"] == openstack_rules.template_name(cfg)
    assert options[(TEMPLATE, "cluster-template")]["replaceOnChanges"] == ["*"]
    assert options[(CLUSTER, "cluster")]["replaceOnChanges"] == ["clusterTemplateId"]


def test_template_name_follows_its_content_only():
    cfg = load_stack("openstack-prod")
    name = openstack_rules.template_name(cfg)
    assert name.startswith(f"{cfg.openstack.cluster_name}-k8s{cfg.kubernetes_version}-")
    assert openstack_rules.template_name(load_stack("openstack-prod")) == name  # stable between runs
    labels = {**cfg.openstack.magnum_labels, "kube_tag": "v1.31.3"}
    changed = cfg.model_copy(update={"openstack": cfg.openstack.model_copy(update={"magnum_labels": labels})})
    assert openstack_rules.template_name(changed) != name
    # a GPU pool's change is a node group's business, not the template's
    pools = [*cfg.node_pools[:-1], cfg.node_pools[-1].model_copy(update={"count": cfg.node_pools[-1].count + 1})]
    assert openstack_rules.template_name(cfg.model_copy(update={"node_pools": pools})) == name


def test_node_groups_are_deleted_before_their_replacement(openstack, tmp_path_factory):
    """Labels, role and flavor force a new group, and Magnum refuses two groups of one name in a cluster."""
    out, options = openstack
    groups = [r["name"] for r in out.of_type(NODE_GROUP)]
    assert groups and all(options[(NODE_GROUP, g)]["deleteBeforeReplace"] for g in groups)
    event, event_options = _render("event-ml-workshop", tmp_path_factory)  # an event's group: same component
    event_groups = [r["name"] for r in event.of_type(NODE_GROUP)]
    assert event_groups and all(event_options[(NODE_GROUP, g)]["deleteBeforeReplace"] for g in event_groups)


def test_gpu_operator_leaves_the_driver_to_the_node_image_on_magnum(openstack):
    """NVIDIA publishes no driver container for Fedora CoreOS: the operator must not try to build one."""
    out, _ = openstack
    spec = _chart_object(out, "gpu-operator", "ClusterPolicy-")["spec"]
    assert spec["driver"]["enabled"] is False
    assert spec["toolkit"]["enabled"] is True and spec["devicePlugin"]["enabled"] is True
    assert "annotations" not in out.helm("ingress-nginx")["values"]["controller"]["service"]


# -- OCI (OKE) -------------------------------------------------------------------------------------

def test_gpu_operator_on_oracle_gpu_images_runs_only_its_device_plugin(oci):
    """Oracle's GPU images ship the driver and the container toolkit; the MIG and sharing configs are the
    operator's device plugin's, so that plugin runs (OKE's NvidiaGpuPlugin add-on stays off, README)."""
    out, _ = oci
    spec = _chart_object(out, "gpu-operator", "ClusterPolicy-")["spec"]
    assert spec["driver"]["enabled"] is False and spec["toolkit"]["enabled"] is False
    assert spec["devicePlugin"]["enabled"] is True
    assert spec["devicePlugin"]["config"]["name"] == "swan-device-plugin-config"


def test_oke_load_balancer_controller_leaves_the_security_lists_alone(oci):
    """The cloud controller manages security lists for a LoadBalancer Service unless its annotation says
    None; the annotation must reach the Service the real chart renders, not only the values."""
    out, _ = oci
    service = _chart_object(out, "ingress-nginx", "Service-ingress-nginx-ingress-nginx-controller.yaml")
    assert service["spec"]["type"] == "LoadBalancer"
    assert OCI_LB_ANNOTATIONS.items() <= service["metadata"]["annotations"].items()
    # and the lists Pulumi manages already admit what the load balancer needs: 80/443 in, NodePorts out
    lb = [r for r in out.of_type("oci:Core/securityList:SecurityList") if r["name"] == "security-lb"]
    ports = {rule["tcpOptions"]["min"] for rule in lb[0]["inputs"]["ingressSecurityRules"]}
    assert ports == {80, 443}


def test_only_oci_annotates_the_ingress_service():
    assert {name for name, cloud in CLOUDS.items() if cloud.load_balancer_annotations} == {"oci"}


# -- swan check ------------------------------------------------------------------------------------

def _check(project, stack: str, swan: dict) -> tuple[int, str]:
    project.write_config(stack, swan)
    result = CliRunner().invoke(app, ["check", stack])
    return result.exit_code, result.stderr


def test_check_warns_what_magnum_will_not_do(project):
    swan = project.read_swan("openstack-prod")
    code, stderr = _check(project, "openstack-prod", swan)
    assert code == 0, stderr
    text = " ".join(stderr.split())
    assert ("openstack-prod: nodePools gpu-t4, gpu-a100: minCount/maxCount are recorded on the Magnum node groups, "
            "but the autoscaler Magnum's heat driver starts scales only the default worker group") in text
    assert "kube_tag v1.31.2 is newer than Magnum's heat driver was tested with (v1.28)" in text
    assert "the k8s_node role runs `kubeadm join`, which a Magnum heat cluster does not accept" in text


def test_check_is_quiet_when_magnum_does_what_the_config_says(project):
    swan = project.read_swan("openstack-prod")
    swan["nodePools"] = [swan["nodePools"][0],
                         *[{k: v for k, v in p.items() if k not in ("minCount", "maxCount")}
                           for p in swan["nodePools"][1:]]]
    swan["openstack"]["magnumLabels"]["kube_tag"] = "v1.28.9-rancher1"
    swan.pop("nodes", None)
    code, stderr = _check(project, "openstack-prod", swan)
    assert code == 0 and "warning" not in stderr, stderr
