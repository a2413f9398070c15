"""An event stack reads where to add its nodes from the environment's stack outputs, through the
environment's model in stacks/stack_outputs.py, not from the environment's stack file.

The offline render answers the event's StackReference with the outputs the environment's own render
exports; here those outputs are changed (as a deployed environment may differ from its file, and as the
engine hands numbers back as floats) and the event must follow them. Outputs outside the contract are
read through a stand-in reference.
"""
from __future__ import annotations

import asyncio
import base64
import dataclasses

import pulumi
import pytest

import stacks.render
from stacks.config.loader import load_stack
from stacks.render import manifest, run_program
from stacks.infra.oci.outputs import Outputs as OciOutputs
from stacks.infra.openstack.outputs import Outputs as OpenStackOutputs
from stacks.stack_outputs import stack_reference_reader

NODE_POOL = "oci:ContainerEngine/nodePool:NodePool"
NODE_GROUP = "openstack:containerinfra/nodeGroup:NodeGroup"


@pytest.fixture
def environment_outputs(monkeypatch):
    """environment_outputs(changes, drop=()): render an event whose environments export their rendered
    outputs with `changes` applied and the outputs in `drop` missing."""

    def render(event: str, changes: dict, drop: tuple[str, ...] = ()):
        original = stacks.render.run_program

        def referenced(name: str):
            rendered = original(name)
            outputs = {k: v for k, v in {**rendered.outputs, **changes}.items() if k not in drop}
            return dataclasses.replace(rendered, outputs=outputs)

        monkeypatch.setattr(stacks.render, "run_program", referenced)  # the references run_program renders
        try:
            return original(event)
        finally:
            monkeypatch.setattr(stacks.render, "run_program", original)

    return render


def _one(rendered, type_: str) -> dict:
    (found,) = [r.inputs for r in rendered.resources if r.type == type_]
    return found


def _objects(rendered) -> dict[str, dict]:
    return {obj["kind"]: obj for r in rendered.resources if (obj := manifest(r)) is not None}


def test_oke_pool_comes_from_the_environments_outputs_not_its_file(environment_outputs):
    env = load_stack("oci-pilot").oci
    changed = {"nodeImageId": "ocid1.image.oc1.eu-frankfurt-1.deployedcpu",
               "gpuNodeImageId": "ocid1.image.oc1.eu-frankfurt-1.deployedgpu",
               "bootVolumeGb": 150.0,  # numbers come back from the engine as floats
               "podsCidr": "10.250.0.0/16", "sshPublicKey": "ssh-ed25519 AAAAdeployed operator",
               "clusterId": "ocid1.cluster.deployed", "nodeSubnetId": "ocid1.subnet.deployed",
               "kubernetesVersion": "v1.31.9", "region": "eu-amsterdam-1",
               "namespaces": {"hub": "swan", "users": "sessions"}}
    assert changed["gpuNodeImageId"] != env.gpu_node_image_id and changed["region"] != env.region
    rendered = environment_outputs("event-llm-hackathon", changed)
    pool = _one(rendered, NODE_POOL)
    assert pool["nodeSourceDetails"]["imageId"] == changed["gpuNodeImageId"]  # a GPU shape
    assert pool["nodeSourceDetails"]["bootVolumeSizeInGbs"] == "150"  # an int again, not "150.0"
    assert pool["sshPublicKey"] == changed["sshPublicKey"]
    assert pool["clusterId"] == changed["clusterId"] and pool["kubernetesVersion"] == changed["kubernetesVersion"]
    assert {p["subnetId"] for p in pool["nodeConfigDetails"]["placementConfigs"]} == {changed["nodeSubnetId"]}
    assert "10.250.0.0/16" in base64.b64decode(pool["nodeMetadata"]["user_data"]).decode()
    assert _one(rendered, "pulumi:providers:oci")["region"] == "eu-amsterdam-1"
    objects = _objects(rendered)
    assert objects["ResourceQuota"]["metadata"]["namespace"] == "sessions"
    assert objects["ConfigMap"]["metadata"]["namespace"] == "sessions"


def test_magnum_group_and_labeler_come_from_the_environments_outputs(environment_outputs):
    changed = {"clusterId": "deployed-cluster", "region": "meyrin", "nodeLabelerImage": "mirror.example/kubectl:1",
               "namespaces": {"hub": "swan", "users": "sessions"}}
    rendered = environment_outputs("event-ml-workshop", changed)
    assert _one(rendered, NODE_GROUP)["clusterId"] == "deployed-cluster"
    assert _one(rendered, "pulumi:providers:openstack")["region"] == "meyrin"
    (labeler,) = [r.inputs["spec"]["template"]["spec"] for r in rendered.resources
                  if r.type == "kubernetes:apps/v1:DaemonSet" and r.inputs["metadata"]["namespace"] == "kube-system"]
    assert {c["image"] for c in labeler["initContainers"]} == {"mirror.example/kubectl:1"}
    assert _objects(rendered)["ResourceQuota"]["metadata"]["namespace"] == "sessions"


def test_the_environments_kubeconfig_stays_secret_in_the_event(environment_outputs):
    rendered = environment_outputs("event-ml-workshop", {"kubeconfig": "apiVersion: v1\nkind: Config\n"})
    (provider,) = [r.inputs for r in rendered.resources if r.type == "pulumi:providers:kubernetes"]
    assert provider["kubeconfig"] == "[secret]"  # secret although the stand-in reference did not say so


class StandInReference:
    """A StackReference's two readers over given outputs, as the SDK defines them: `require_output` fails
    on a missing output, `get_output` gives None."""

    def __init__(self, outputs: dict):
        self.outputs = outputs

    def require_output(self, name):
        return pulumi.Output.from_input(name).apply(lambda n: self.outputs[n])

    def get_output(self, name):
        return pulumi.Output.from_input(name).apply(lambda n: self.outputs.get(n))


def read(outputs: dict, field: str, model=OciOutputs):
    """(value, secret) of the environment's output `field` as the event reads it.

    (A whole program stopped by a bad output would leave the SDK's coroutines behind for a later test.)"""
    async def resolve():
        output = stack_reference_reader(model, StandInReference(outputs))(field)
        return await output.future(), await output.is_secret()

    return asyncio.run(resolve())


def test_outputs_are_parsed_by_their_field():
    assert read({"bootVolumeGb": 150.0}, "boot_volume_gb") == (150, False)  # the engine's float, an int again
    assert read({"availabilityDomains": ["AD-1"]}, "availability_domains") == (["AD-1"], False)
    users = read({"namespaces": {"hub": "swan", "users": "swan-users"}}, "namespaces")[0].users
    assert users == "swan-users"
    assert read({"kubeconfig": "apiVersion: v1"}, "kubeconfig") == ("apiVersion: v1", True)  # always secret
    assert read({}, "ssh_public_key") == (None, False)  # optional: absent reads as unset
    assert read({}, "region", OpenStackOutputs) == (None, False)


def test_an_output_outside_the_contract_fails_the_event_naming_it():
    with pytest.raises(ValueError, match="stack output bootVolumeGb of the referenced stack"):
        read({"bootVolumeGb": "plenty"}, "boot_volume_gb")
    with pytest.raises(ValueError, match="stack output namespaces of the referenced stack"):
        read({"namespaces": {"hub": "swan"}}, "namespaces")


def test_an_environment_deployed_before_the_output_existed_fails_the_event():
    """An environment whose deployment predates an output the event needs (`pulumi up` it first)."""
    with pytest.raises(KeyError, match="bootVolumeGb"):
        read({"clusterId": "c"}, "boot_volume_gb")


def test_unchanged_outputs_render_the_event_as_its_environment_file_would():
    """The outputs carry what the environment's file says: same pool as planned from the file."""
    rendered = run_program("event-llm-hackathon")
    env = load_stack("oci-pilot").oci
    pool = _one(rendered, NODE_POOL)
    assert pool["nodeSourceDetails"]["imageId"] == env.gpu_node_image_id
    assert pool["nodeSourceDetails"]["bootVolumeSizeInGbs"] == str(env.boot_volume_gb)
    assert _one(rendered, "pulumi:providers:oci")["region"] == env.region
