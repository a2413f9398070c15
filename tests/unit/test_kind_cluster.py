"""The kind cluster resource: config file, command lines and when a change recreates the cluster."""
from __future__ import annotations

import yaml

from stacks.config.loader import load_stack
from stacks.infra.kind import cluster_config as kind_cluster
from stacks.infra.kind.cluster import KindClusterProvider


def test_command_lines():
    assert kind_cluster.create_command("swan", "/tmp/kind.yaml") == [
        "kind", "create", "cluster", "--name", "swan", "--config", "/tmp/kind.yaml", "--wait", "5m"]
    assert kind_cluster.delete_command("swan") == ["kind", "delete", "cluster", "--name", "swan"]
    assert kind_cluster.kubeconfig_command("swan") == ["kind", "get", "kubeconfig", "--name", "swan"]


def test_config_file_is_kinds_own_format_and_follows_the_pools():
    cfg = load_stack("kind")
    config = yaml.safe_load(kind_cluster.kind_config_yaml(cfg))
    assert (config["kind"], config["apiVersion"], config["name"]) == ("Cluster", "kind.x-k8s.io/v1alpha4", "swan")
    workers = [n for n in config["nodes"] if n["role"] == "worker"]
    assert len(workers) == 2 and all(n["labels"]["swan.cern.ch/node-pool"] == "users" for n in workers)
    assert all(n["image"] == cfg.kind_cluster.node_image for n in config["nodes"])


def test_any_config_change_replaces_the_cluster_and_nothing_else_does():
    provider = KindClusterProvider()
    olds = {"name": "swan", "config": "a", "kubeconfig": "old"}
    assert not provider.diff("swan", olds, {**olds, "kubeconfig": None}).changes
    diff = provider.diff("swan", olds, {**olds, "config": "b"})
    assert diff.changes and diff.replaces == ["config"] and diff.delete_before_replace


def test_missing_kind_cli_is_a_clear_error(monkeypatch):
    import pytest

    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(RuntimeError, match="the `kind` CLI is not on PATH"):
        KindClusterProvider().delete("swan", {})
