"""Static hosts and VM groups of a stack become an inventory the roles accept, and a Pulumi resource."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from stacks.config.loader import load_stack
from stacks.errors import InputError
from stacks.infra.ansible_playbook import AnsiblePlaybookProvider
from stacks.infra.nodes import inventory
from stacks.nodes.from_config import node_hosts, role_vars
from stacks.nodes.runner import content_digest
from stacks.render import render

ROLES = Path(__file__).resolve().parents[2] / "roles"


@pytest.fixture(scope="module")
def cfg():
    return load_stack("openstack-prod")


def role_spec(role: str) -> dict:
    return yaml.safe_load((ROLES / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]


def test_every_host_gets_variables_its_roles_accept(cfg):
    """What `pulumi up` hands to ansible-runner passes each role's own argument_specs."""
    inv = inventory(cfg, {"batch": ["10.100.0.31", "10.100.0.32"]})["all"]
    assert set(inv["hosts"]) == {"gpu-static-01", "batch-0", "batch-1"}
    for host, host_vars in inv["hosts"].items():
        roles = ["common"] + [g for g, members in inv["children"].items() if host in members["hosts"]]
        for role in roles:
            spec = role_spec(role)
            values = {k: v for k, v in {**inv["vars"], **host_vars}.items() if k in spec}
            errors = ArgumentSpecValidator(spec).validate(values).error_messages
            assert not errors, (host, role, errors)


def test_roles_follow_the_config(cfg):
    hosts = {h["name"]: h for h in node_hosts(cfg, {"batch": ["10.100.0.31", "10.100.0.32"]})}
    gpu = hosts["gpu-static-01"]
    assert gpu["address"] == "10.100.3.21"
    assert "nvidia_gpu" in gpu["groups"] and "eos_client" in gpu["groups"]  # a GPU brings the GPU role
    assert gpu["vars"]["nvidia_gpu_mig_config_selected"] == "a100-40gb-7x1g.5gb"
    assert hosts["batch-1"] == {**hosts["batch-1"], "address": "10.100.0.32", "user": "debian"}
    assert "nvidia_gpu" not in hosts["batch-0"]["groups"]
    variables = role_vars(cfg)
    assert variables["cvmfs_client_repositories"] == cfg.storage.cvmfs.repositories
    assert variables["cvmfs_client_http_proxy"] == cfg.storage.cvmfs.http_proxy
    assert variables["k8s_node_join_address"] == cfg.nodes.join.address
    assert variables["k8s_node_join_token"] == "[secret]"  # offline; decrypted under `pulumi up`
    assert variables["nvidia_gpu_mig_config"]["mig-configs"]["a100-40gb-7x1g.5gb"]


def test_render_declares_vms_and_a_secret_playbook_run(tmp_path, cfg):
    out, _ = render("openstack-prod", tmp_path / "os")
    resources = json.loads((out / "resources.json").read_text())
    instances = [r for r in resources if r["type"] == "openstack:compute/instance:Instance"
                 and r["inputs"].get("metadata", {}).get("swan-node-group") == "batch"]
    assert len(instances) == 2
    assert all(i["inputs"]["flavorName"] == "m2.xlarge" for i in instances)
    rules = [r["inputs"] for r in resources if r["type"] == "openstack:networking/secGroupRule:SecGroupRule"]
    assert not [r for r in rules if r.get("portRangeMin") == 22 and r.get("remoteIpPrefix", "").endswith("/0")]
    (playbook,) = [r for r in resources if r["type"] == "pulumi-python:dynamic/ansible:Playbook"]
    # carries the join token and the keytab: secret as a whole, so every leaf is masked
    leaves = []

    def collect(value):
        if isinstance(value, dict):
            [collect(v) for v in value.values()]
        elif isinstance(value, list):
            [collect(v) for v in value]
        else:
            leaves.append(value)

    collect(playbook["inputs"]["inventory"])
    assert leaves and set(leaves) == {"[secret]"}
    assert playbook["inputs"]["fingerprint"] == content_digest("site")
    outputs = json.loads((out / "outputs.json").read_text())
    assert outputs["nodeHosts"] == ["gpu-static-01", "batch-0", "batch-1"]


def test_playbook_reruns_on_change_and_is_never_replaced():
    provider = AnsiblePlaybookProvider()
    old = {"playbook": "site", "inventory": {"all": {}}, "fingerprint": "a"}
    assert not provider.diff("site", old, dict(old)).changes
    for key, value in (("fingerprint", "b"), ("inventory", {"all": {"hosts": {"n1": {}}}})):
        diff = provider.diff("site", old, {**old, key: value})
        assert diff.changes and not diff.replaces


def test_vm_groups_outside_openstack_are_refused(project):
    from typer.testing import CliRunner

    from stacks.cli.main import app

    swan = project.read_swan("kind")
    swan["nodes"] = {"vmGroups": [{"name": "batch", "flavor": "m1", "image": "debian", "roles": ["node_exporter"]}]}
    project.write_config("bad", swan)
    result = CliRunner().invoke(app, ["check", "bad"])
    assert result.exit_code == 2
    assert "config/Pulumi.bad.yaml: swan:nodes.vmGroups: vmGroups are OpenStack instances; this stack has cloud: kind" \
        in result.stderr


def test_k8s_node_hosts_need_join_settings(project):
    from typer.testing import CliRunner

    from stacks.cli.main import app

    swan = project.read_swan("kind")
    swan["nodes"] = {"static": [{"name": "box", "address": "192.0.2.7"}]}
    project.write_config("bad", swan)
    result = CliRunner().invoke(app, ["check", "bad"])
    assert result.exit_code == 2
    assert "config/Pulumi.bad.yaml: swan:nodes: join (address, token, caCertHash) is required" in result.stderr


def test_the_keytab_reaches_the_hosts_as_the_file_not_as_its_base64():
    """The stack holds the keytab base64-encoded (the Kubernetes Secret takes it so); the eos_client
    role writes the file from text, so the hosts must get the decoded keytab."""
    from stacks.nodes.from_config import keytab_text

    keytab = "0 u:daemon g:daemon n:swan N:1 c:1 e:0 f:0 k:" + "ab" * 32 + "\n"
    assert keytab_text(base64.b64encode(keytab.encode()).decode()) == keytab
    assert keytab_text("[secret]") == "[secret]"  # offline renders hold the placeholder
    with pytest.raises(InputError, match="swan:storage.eos.keytab: must be the keytab file base64-encoded"):
        keytab_text(keytab)
