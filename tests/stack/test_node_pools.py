"""Node pools: one component per cloud (`OkeNodePool`, `MagnumNodeGroup`), used by environment and
event stacks alike, so a pool of the same shape comes out the same from either, with the same
provider configuration; and there is exactly one place in the program that creates them."""
from __future__ import annotations

import ast
from contextlib import contextmanager
from pathlib import Path

import pytest

import stacks.render
from stacks.config.loader import load_stack
from stacks.events import objects
from stacks.events.plan import plan_event
from stacks.render import run_program

REPO = Path(__file__).resolve().parents[2]
NODE_POOL = "oci:ContainerEngine/nodePool:NodePool"
NODE_GROUP = "openstack:containerinfra/nodeGroup:NodeGroup"
COMPONENT = {NODE_POOL: "swan:infra:OkeNodePool", NODE_GROUP: "swan:infra:MagnumNodeGroup"}
# (environment, event on it, the pool resource type, the provider type, credentials in stack config)
CLOUDS = {
    "oci": ("oci-pilot", "event-llm-hackathon", NODE_POOL, "pulumi:providers:oci",
            {"oci:tenancyOcid": "ocid1.tenancy.oc1..aaaaexample", "oci:userOcid": "ocid1.user.oc1..aaaaexample",
             "oci:fingerprint": "12:34:56", "oci:privateKey": "-----BEGIN PRIVATE KEY-----"}),
    "openstack": ("openstack-prod", "event-ml-workshop", NODE_GROUP, "pulumi:providers:openstack",
                  {"openstack:authUrl": "https://keystone.example.org/v3",
                   "openstack:applicationCredentialId": "swan-app-credential",
                   "openstack:applicationCredentialSecret": "s3cr3t"}),
}
SECRET_KEYS = {"oci:privateKey", "openstack:applicationCredentialSecret"}


@contextmanager
def provider_config(extra: dict[str, str]):
    """Every stack run under the mock engine also gets `extra` as stack config (as `pulumi up`
    passes `oci:*` / `openstack:*` keys to the program), secret keys marked secret."""
    original = stacks.render.to_engine_config

    def with_extra(raw):
        config, secret_keys = original(raw)
        return {**config, **extra}, [*secret_keys, *(k for k in extra if k in SECRET_KEYS)]

    stacks.render.to_engine_config = with_extra
    try:
        yield
    finally:
        stacks.render.to_engine_config = original


def _pools(rendered, type_: str) -> dict[str, dict]:
    return {r.inputs["name"]: r.inputs for r in rendered.resources if r.type == type_}


@pytest.mark.parametrize("cloud", sorted(CLOUDS))
def test_an_event_pool_is_created_as_the_environment_creates_the_same_pool(project, cloud):
    """The event's GPU pool, declared also as a pool of the environment itself: both stacks
    render the very same pool resource, and their providers carry the same credentials."""
    env, event, pool_type, provider_type, credentials = CLOUDS[cloud]
    cfg = load_stack(event)
    (group,) = plan_event(cfg, stack=event).nodes
    pool = objects.node_pool(cfg.event, group)
    swan = project.read_swan(env)
    swan["nodePools"].append(pool.model_dump(by_alias=True, exclude_none=True))  # after the default group
    project.write_config(env, swan)

    with provider_config(credentials):
        from_env, from_event = run_program(env), run_program(event)

    env_pool, event_pool = _pools(from_env, pool_type)[pool.name], _pools(from_event, pool_type)[pool.name]
    assert event_pool == env_pool
    assert {k for k, v in event_pool.items() if v is not None} >= {"clusterId", "name"}
    (env_provider,) = [r.inputs for r in from_env.resources if r.type == provider_type]
    (event_provider,) = [r.inputs for r in from_event.resources if r.type == provider_type]
    assert event_provider == env_provider
    secret = next(k for k in credentials if k in SECRET_KEYS).split(":")[1]
    assert env_provider[secret] == "[secret]"  # the credential arrives, and stays secret
    assert set(env_provider) >= {k.split(":")[1] for k in credentials}


@pytest.mark.parametrize("stack", ["oci-pilot", "openstack-prod", "event-llm-hackathon", "event-ml-workshop",
                                   "event-physics-course"])
def test_every_pool_is_made_by_its_cloud_component(stack):
    rendered = run_program(stack)
    pools = [r for r in rendered.resources if r.type in COMPONENT]
    assert pools
    for resource in pools:
        assert resource.parent == f"{COMPONENT[resource.type]}::{resource.name}", (stack, resource.name)


def _constructed(tree: ast.AST) -> set[str]:
    """Dotted names of what the module calls, e.g. `containerengine.NodePool`, `pulumi_oci.Provider`."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            parts, func = [], node.func
            while isinstance(func, ast.Attribute):
                parts.append(func.attr)
                func = func.value
            if isinstance(func, ast.Name):
                found.add(".".join([func.id, *reversed(parts)]))
    return found


def test_one_place_creates_each_clouds_pools_and_providers():
    """A pool setting or provider credential can be changed in one file only: nothing else in the
    program constructs OKE node pools, Magnum node groups or the clouds' providers."""
    where: dict[str, set[str]] = {}
    for path in sorted((REPO / "stacks").rglob("*.py")):
        for name in _constructed(ast.parse(path.read_text(), str(path))):
            last = name.split(".")[-2:]
            if last in (["containerengine", "NodePool"], ["containerinfra", "NodeGroup"]) or (
                    last[-1] == "Provider" and last[0] in ("pulumi_oci", "openstack", "pulumi_openstack")):
                where.setdefault(" ".join(last), set()).add(str(path.relative_to(REPO)))
    assert where == {
        "containerengine NodePool": {"stacks/infra/oci/pool.py"},
        "containerinfra NodeGroup": {"stacks/infra/openstack/pool.py"},
        "pulumi_oci Provider": {"stacks/infra/oci/pool.py"},
        "openstack Provider": {"stacks/infra/openstack/pool.py"},
    }


@contextmanager
def recording_registrations():
    """(type, name) -> (urn, parent urn, alias specs) of every registration under the mock engine."""
    from pulumi.runtime import mocks

    seen: dict[tuple[str, str], tuple[str, str, list]] = {}
    original = mocks.MockMonitor.RegisterResource

    def register(self, request):
        response = original(self, request)
        seen[(request.type, request.name)] = (response.urn, request.parent, [a.spec for a in request.aliases])
        return response

    mocks.MockMonitor.RegisterResource = register
    try:
        yield seen
    finally:
        mocks.MockMonitor.RegisterResource = original


# What each pool resource's URN was before the components existed (the pool a child of OciInfra,
# OpenStackInfra or the event's Nodes), as the Pulumi engine writes URNs (the whole parent type chain).
URNS_BEFORE = {
    "oci-pilot": "urn:pulumi:oci-pilot::swan::swan:infra:Oci$oci:ContainerEngine/nodePool:NodePool::nodepool-cpu",
    "openstack-prod": "urn:pulumi:openstack-prod::swan::swan:infra:OpenStack"
                      "$openstack:containerinfra/nodeGroup:NodeGroup::nodegroup-gpu-t4",
    "event-llm-hackathon": "urn:pulumi:event-llm-hackathon::swan::swan:event:CourseEvent$swan:event:Nodes"
                           "$oci:ContainerEngine/nodePool:NodePool::oci-pilot-event-llm-hackathon-nodepool",
    "event-ml-workshop": "urn:pulumi:event-ml-workshop::swan::swan:event:CourseEvent$swan:event:Nodes"
                         "$openstack:containerinfra/nodeGroup:NodeGroup::openstack-prod-event-ml-workshop-nodegroup",
}


@pytest.mark.parametrize("stack", sorted(URNS_BEFORE))
def test_pools_keep_their_urns_from_before_the_component_through_an_alias(stack):
    """Each pool resource now sits under its component; its alias (same name and type, the
    component's own parent as parent) is the URN it had before, so `pulumi up` adopts existing
    pools instead of replacing them."""
    with recording_registrations() as seen:
        run_program(stack)
    by_urn = {urn: key for key, (urn, _, _) in seen.items()}

    def engine_urn(parent_urn: str, type_: str, name: str) -> str:
        """The URN the engine gives `type_::name` under the resource registered as `parent_urn`."""
        chain, key = [type_], by_urn.get(parent_urn)
        while key is not None and key[0] != "pulumi:pulumi:Stack":
            chain.insert(0, key[0])
            key = by_urn.get(seen[key][1])
        return f"urn:pulumi:{stack}::swan::{'$'.join(chain)}::{name}"

    resolved = {}
    for (type_, name), (_, parent, aliases) in seen.items():
        if type_ not in COMPONENT:
            continue
        assert by_urn[parent] == (COMPONENT[type_], name)  # under its component now
        (alias,) = aliases
        assert (alias.parentUrn, alias.name, alias.type) == (seen[by_urn[parent]][1], "", "")
        resolved[name] = engine_urn(alias.parentUrn, type_, name)
        assert resolved[name] != engine_urn(parent, type_, name)
    assert URNS_BEFORE[stack] in resolved.values()
