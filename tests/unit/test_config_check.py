"""`swan check`: every bad stack config is reported as `file: swan:key: message`, exit 2, no traceback."""
from __future__ import annotations

import copy

import pytest
from typer.testing import CliRunner

from stacks.cli.main import app

runner = CliRunner()


def check(*stacks: str):
    return runner.invoke(app, ["check", *stacks])


def kind_with(project, change) -> dict:
    swan = copy.deepcopy(project.read_swan("kind"))
    change(swan)
    return swan


def _set(path: str, value):
    """A change that sets a dotted path (list indexes as numbers) in the swan: keys."""
    def change(swan: dict) -> None:
        *parents, last = path.split(".")
        node = swan
        for key in parents:
            node = node[int(key)] if key.isdigit() else node.setdefault(key, {})
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return change


def _delete(key: str):
    return lambda swan: swan.pop(key)


BAD_VALUES = [
    # (what is wrong, change to the kind stack, expected line after "config/Pulumi.bad.yaml: ")
    ("unknown cloud", _set("cloud", "gcp"), "swan:cloud: Input should be 'kind', 'openstack' or 'oci'"),
    ("unknown top-level key", _set("hubb", {"host": "x"}), "swan:hubb: unknown key"),
    ("unknown nested key", _set("hub.sesions", []), "swan:hub.sesions: unknown key"),
    ("bad memory quantity", _set("hub.sessions.0.memory", "16GG"),
     "swan:hub.sessions[0].memory: '16GG' is not a Kubernetes quantity"),
    ("wrong type", _set("nodePools.0.count", "two"), "swan:nodePools[0].count: Input should be a valid integer"),
    ("plain-text secret", _set("hub.auth", {"type": "oidc", "issuer": "https://auth.example.org/realms/x",
                                            "clientId": "swan", "clientSecret": "hunter2",
                                            "callbackUrl": "https://swan.example.org/hub/oauth_callback"}),
     "swan:hub.auth.clientSecret: must be a Pulumi secret"),
    ("missing required section", _delete("hub"), "swan:hub: required key is missing"),
    ("ACME without e-mail", _set("hub.tls", {"enabled": True, "issuer": "letsencrypt"}),
     "swan:hub.tls: tls.email is required for a Let's Encrypt issuer"),
    ("duplicate session names", _set("hub.sessions.1.name", "small"), "swan:hub.sessions: session names must be unique"),
    ("autoscaling bounds", _set("nodePools.0", {"name": "users", "count": 2, "minCount": 3, "maxCount": 2}),
     "swan:nodePools[0]: minCount 3 is larger than maxCount 2"),
    ("bad duration", _set("hub.culling.timeout", "4 hours"), "swan:hub.culling.timeout: '4 hours' is not a duration"),
    ("bad host name", _set("hub.host", "SWAN_host"), "swan:hub.host: 'SWAN_host' is not a valid DNS host name"),
    ("unknown GPU model", _set("nodePools.0.gpu", {"model": "A200"}), "swan:nodePools[0].gpu.model: Input should be"),
    ("unknown MIG layout", _set("nodePools.0.gpu", {"model": "A100-40GB", "migConfig": "all-1g.5gb"}),
     "swan:nodePools[0].gpu: migConfig 'all-1g.5gb' is not a layout of A100-40GB"),
    ("kind cluster on a cloud", _set("cloud", "oci"), "swan:kindCluster: only valid with cloud: kind (this stack has cloud: oci)"),
    ("unknown stack kind", _set("kind", "party"), "swan:kind: unknown stack kind 'party'"),
    ("negative quota", _set("security.quota.pods", 0), "swan:security.quota.pods: Input should be greater than or equal to 1"),
]


@pytest.mark.parametrize("case, change, expected", BAD_VALUES, ids=[c[0] for c in BAD_VALUES])
def test_bad_value_is_named_with_file_and_key(project, case, change, expected):
    project.write_config("bad", kind_with(project, change))
    result = check("bad")
    assert result.exit_code == 2, result.output
    assert f"config/Pulumi.bad.yaml: {expected}" in result.stderr
    assert "Traceback" not in result.output


BAD_FILES = [
    ("YAML syntax error", "config:\n  swan:cloud: [kind\n", "config/Pulumi.bad.yaml: line 3 column 1: YAML syntax error"),
    ("empty file", "", "config/Pulumi.bad.yaml: the file is empty"),
    ("config not a mapping", "config:\n  - swan:cloud\n", "config/Pulumi.bad.yaml: config: missing or not a mapping"),
    ("key without namespace", "config:\n  cloud: kind\n", "config/Pulumi.bad.yaml: cloud: config keys need a namespace"),
]


@pytest.mark.parametrize("case, text, expected", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_broken_file_is_reported(project, case, text, expected):
    project.write("bad", text)
    result = check("bad")
    assert result.exit_code == 2
    assert expected in result.stderr
    assert "Traceback" not in result.output


def test_every_problem_of_a_file_is_listed_at_once(project):
    swan = kind_with(project, _set("cloud", "gcp"))
    _set("hub.sessions.0.memory", "16GG")(swan)
    _set("spark.enabled", "maybe")(swan)
    project.write_config("bad", swan)
    lines = check("bad").stderr.strip().splitlines()
    assert [line.split(": ")[1] for line in lines] == [
        "swan:cloud", "swan:hub.sessions[0].memory", "swan:spark.enabled"]


def test_check_without_names_covers_every_stack_and_keeps_going(project):
    project.write_config("bad", kind_with(project, _set("hub.sessions.0.cores", -1)))
    result = check()
    assert result.exit_code == 2
    assert "config/Pulumi.bad.yaml: swan:hub.sessions[0].cores: Input should be greater than 0" in result.stderr
    assert "│ kind " in result.stdout and "ok" in result.stdout  # the good stack is still reported


def test_fixture_stacks_are_valid(project):
    result = check()
    assert result.exit_code == 0, result.output


def test_unknown_stack_names_the_file(project):
    result = check("nope")
    assert result.exit_code == 2
    assert "config/Pulumi.nope.yaml: no such stack config" in result.stderr


def test_secure_values_are_accepted(project):
    project.write_config("oidc", kind_with(project, _set("hub.auth", {
        "type": "oidc", "issuer": "https://auth.example.org/realms/x", "clientId": "swan",
        "clientSecret": {"secure": "v1:c2VjcmV0Y2lwaGVydGV4dA=="},
        "callbackUrl": "https://swan.example.org/hub/oauth_callback"})))
    result = check("oidc")
    assert result.exit_code == 0, result.output


def test_unquoted_version_number_is_accepted_as_text(project):
    swan = kind_with(project, _set("kubernetesVersion", 1.31))
    project.write_config("num", swan)
    assert check("num").exit_code == 0
