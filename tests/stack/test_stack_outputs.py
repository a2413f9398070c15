"""The stack-output contract (stacks/stack_outputs.py): every stack's rendered `outputs.json` is what
its model declares, and the environments' cluster expectations are what their pools make allocatable,
in the `verify` output and in the nightly CronJob alike.

The producers validate each output against its field when they export it (`stack_outputs.export`), so
a render that breaks the contract fails already; these tests read what `swan render` wrote.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from stacks.config.loader import load_stack, stack_names
from stacks.config.model import NodePool
from gpu_support import allocatable_per_gpu
from stacks.render_checks import load_render
from stacks.stack_outputs import (environment_outputs, EventOutputs, Expectations, StackOutputs, output_name,
                                  parse_field, pool_expectation, pool_gpu_resources)
from stacks.verify.cluster import CheckFailed, POOL_LABEL, gpu_allocatable, load_expectations


STACKS = stack_names()
ENVIRONMENTS = [s for s in STACKS if not s.startswith("event-")]
EVENTS = [s for s in STACKS if s.startswith("event-")]
SECRET = "[secret]"


def outputs_of(folder: Path) -> dict:
    import json

    return json.loads((folder / "outputs.json").read_text())


def check_against(model: type[StackOutputs], outputs: dict) -> None:
    """Every output is a field of the model and parses as it; required ones are there; the secret ones
    (and only those) are masked in the render."""
    fields = {output_name(model, name): name for name in model.model_fields}
    assert sorted(set(outputs) - set(fields)) == [], "outputs outside the contract"
    required = {output_name(model, n) for n, f in model.model_fields.items() if f.is_required()}
    assert sorted(required - set(outputs)) == [], "required outputs missing"
    for name, value in outputs.items():
        if name in model.secret_outputs():
            assert value == SECRET, f"{name} must be exported as a secret"
        else:
            assert value != SECRET, f"{name} became secret (a secret leaf inside makes the whole output secret)"
            parse_field(model, fields[name], value)
    # the whole set at once, with a stand-in for the masked secrets
    stand_ins = {"kubeconfig": "apiVersion: v1", "nodeInventory": {"all": {}}}
    model.model_validate({**outputs, **{k: stand_ins[k] for k in outputs if outputs[k] == SECRET}})


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_environment_outputs_follow_the_contract(renders, stack):
    cfg = load_stack(stack)
    outputs = outputs_of(renders(stack))
    assert outputs["cloud"] == cfg.cloud
    check_against(environment_outputs(cfg.cloud), outputs)
    # `swan verify STACK` takes these; none of them is a secret any more, so the render shows them
    verify = outputs["verify"]
    assert verify["hub_url"] == outputs["hubUrl"]
    assert "kubeconfig" not in verify and "inventory" not in verify  # outputs of their own (secrets)
    assert set(verify["profiles"]) == set(verify["session_options"])
    assert ("nodeInventory" in outputs) == bool(cfg.nodes.machines)


@pytest.mark.parametrize("stack", EVENTS)
def test_event_outputs_follow_the_contract(renders, stack):
    outputs = outputs_of(renders(stack))
    check_against(EventOutputs, outputs)
    parsed = EventOutputs.model_validate(outputs)
    assert parsed.plan.window == parsed.window
    for environment, document in outputs["verifyExpectations"].items():
        assert environment in load_stack(stack).event.environments
        assert all(pool.event for pool in load_expectations(document, environment).pools)


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_expectations_are_what_swan_verify_loads_and_the_cronjob_mounts(renders, stack):
    """The `verify` output's expectations pass `load_expectations`, and the CronJob's `--expect` file is
    the same document, in the ConfigMap it mounts."""
    folder = renders(stack)
    cfg = load_stack(stack)
    document = outputs_of(folder)["verify"]["expectations"]
    expectations = load_expectations(document, f"{stack}:verify.expectations")
    assert [p.name for p in expectations.pools] == [p.name for p in cfg.node_pools]
    k8s = folder / "k8s"
    job = yaml.safe_load((k8s / f"CronJob-{cfg.security.hub_namespace}-swan-verify.yaml").read_text())
    container = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    args = container["args"]
    expect = args[args.index("--expect") + 1]
    (mount,) = [m for m in container["volumeMounts"] if expect.startswith(m["mountPath"] + "/")]
    (volume,) = [v for v in job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"]
                 if v["name"] == mount["name"]]
    config_map = yaml.safe_load((k8s / f"ConfigMap-{cfg.security.hub_namespace}-"
                                        f"{volume['configMap']['name']}.yaml").read_text())
    mounted = yaml.safe_load(config_map["data"][expect.rsplit("/", 1)[1]])
    assert mounted == document
    assert Expectations.model_validate(mounted) == Expectations.model_validate(document)


def _cronjob_params(folder: Path, namespace: str) -> dict:
    """The CronJob's arguments through the real `swan verify` parser (unknown options would raise)."""
    import typer

    from stacks.cli.main import app

    job = yaml.safe_load((folder / "k8s" / f"CronJob-{namespace}-swan-verify.yaml").read_text())
    args = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    command = typer.main.get_command(app)
    context = command.make_context("swan", list(args[1:]))
    verify = command.get_command(context, "verify")
    return verify.make_context("verify", list(args[2:]), parent=context).params


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_the_cronjob_runs_the_cluster_checks_against_the_environments_expectations(renders, stack):
    cfg = load_stack(stack)
    params = _cronjob_params(renders(stack), cfg.security.hub_namespace)
    assert params["expect"] == "/etc/swan-verify/expect.yaml"
    assert "cluster" in params["only"].split(",")


# The GPU resources each fixture environment's pools guarantee at their fewest nodes (minCount, else count).
GPU_RESOURCES = {
    "openstack-prod": {"cpu": {}, "gpu-t4": {"nvidia.com/gpu": 1},              # 1 node x 1 T4
                       "gpu-a100": {"nvidia.com/mig-1g.5gb": 28}},             # 1 node x 4 A100 x 7 slices
    "oci-pilot": {"cpu": {}, "gpu-a10": {"nvidia.com/gpu": 2},                  # 2 nodes x 1 A10
                  "gpu-a100": {"nvidia.com/gpu": 8}},                           # 1 node x 8 A100, MIG off
    "kind": {"users": {}},
    "t4-shared": {"cpu": {}, "gpu-t4": {"nvidia.com/gpu": 2},                   # 2 nodes x 1 T4
                  "gpu-t4-mps": {"nvidia.com/gpu": 16}},                        # 4 nodes x 1 T4 x 4 MPS clients
}
# openstack-prod's pools, plus 1 node x 1 T4 shared 4 ways by time-slicing
GPU_RESOURCES["everything-on"] = {**GPU_RESOURCES["openstack-prod"], "gpu-t4-shared": {"nvidia.com/gpu": 4}}


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_gpu_expectations_match_the_pools(renders, stack):
    cfg = load_stack(stack)
    pools = load_expectations(outputs_of(renders(stack))["verify"]["expectations"], stack).pools
    assert {p.name: p.gpu for p in pools} == GPU_RESOURCES[stack]
    for pool, expected in zip(cfg.node_pools, pools):
        nodes = pool.min_count if pool.min_count is not None and cfg.cloud != "kind" else pool.count
        if pool.gpu:  # per GPU: one whole GPU, `replicas` shared ones, or every device of the MIG layout
            resources = {r: n * pool.gpu.per_node * nodes for r, n in allocatable_per_gpu(pool.gpu).items()}
            assert expected.gpu == resources
            assert expected.taints == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
        assert expected.selector == {POOL_LABEL: pool.name} and not expected.event
        assert expected.labels[POOL_LABEL] == pool.name


def _nodes(cfg, drop: str | None = None) -> list[dict]:
    """The environment's nodes at their fewest, as the API lists them once the GPU operator ran (one
    node fewer in pool `drop`)."""
    nodes = []
    for pool in cfg.node_pools:
        count = pool.min_count if pool.min_count is not None else pool.count
        for i in range(count - (pool.name == drop)):
            allocatable = {}
            if pool.gpu:
                allocatable = {r: str(n * pool.gpu.per_node) for r, n in allocatable_per_gpu(pool.gpu).items()}
            nodes.append({"metadata": {"name": f"{pool.name}-{i}", "labels": {POOL_LABEL: pool.name}},
                          "status": {"allocatable": allocatable}})
    return nodes


@pytest.mark.parametrize("stack", ["openstack-prod", "oci-pilot", "t4-shared"])
def test_the_nightly_gpu_check_passes_on_the_pools_and_fails_one_gpu_node_short(renders, stack):
    """`cluster.gpu` runs for environment pools now (it was skipped: nothing declared them)."""
    cfg = load_stack(stack)
    pools = load_expectations(outputs_of(renders(stack))["verify"]["expectations"], stack).pools
    detail = gpu_allocatable(_nodes(cfg), pools)
    for pool in cfg.node_pools:
        assert (f"{pool.name}: " in detail) == bool(pool.gpu)
    for pool in (p for p in cfg.node_pools if p.gpu):
        with pytest.raises(CheckFailed, match=f"pool {pool.name}: "):
            gpu_allocatable(_nodes(cfg, drop=pool.name), pools)


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_every_workload_of_the_render_is_in_an_expected_namespace(renders, stack):
    """With no workload listed, `cluster.workloads` checks every DaemonSet and Deployment of the
    expectations' namespaces: those hold every one the program and its charts create. The TLS secret
    expected is the one the hub's Ingress serves."""
    folder = renders(stack)
    expectations = outputs_of(folder)["verify"]["expectations"]
    workloads = [o for o in load_render(folder) if o.kind in ("DaemonSet", "Deployment")]
    assert workloads
    assert sorted(o.path for o in workloads if o.namespace not in expectations["namespaces"]) == []
    ingresses = [o.obj for o in load_render(folder) if o.kind == "Ingress"]
    served = [{"namespace": i["metadata"]["namespace"], "name": t["secretName"]}
              for i in ingresses for t in i["spec"].get("tls", [])]
    assert expectations["tls_secrets"] == served


def test_the_tls_secret_name_is_the_hubs():
    from stacks.platform_layer import hub, verification

    assert verification.TLS_SECRET == hub.TLS_SECRET


@pytest.mark.parametrize("model, layout, per_node, nodes, expected", [
    ("A100-40GB", "a100-40gb-7x1g.5gb", 4, 2, {"nvidia.com/mig-1g.5gb": 56}),
    ("A100-40GB", "a100-40gb-1x3g.20gb-1x2g.10gb-2x1g.5gb", 2, 3,
     {"nvidia.com/mig-3g.20gb": 6, "nvidia.com/mig-2g.10gb": 6, "nvidia.com/mig-1g.5gb": 12}),
    ("H100-80GB", "all-disabled", 8, 1, {"nvidia.com/gpu": 8}),
    ("T4", "all-disabled", 1, 0, {}),  # a pool that may scale to zero guarantees nothing
])
def test_pool_gpu_resources_follow_the_mig_layout(model, layout, per_node, nodes, expected):
    pool = NodePool(name="p", count=max(nodes, 1), gpu={"model": model, "perNode": per_node, "migConfig": layout})
    assert pool_gpu_resources(pool, nodes) == expected
    assert pool_expectation(pool, nodes).gpu == expected
    assert pool_gpu_resources(NodePool(name="cpu", count=3), 3) == {}
