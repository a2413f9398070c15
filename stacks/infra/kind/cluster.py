"""kind infrastructure: a `KindCluster` dynamic resource around the kind CLI, and its provider."""
from __future__ import annotations

import shutil
import subprocess
import tempfile

import pulumi
import pulumi_kubernetes as k8s
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, ResourceProvider

from stacks.config.model import EnvironmentConfig
from stacks.infra.base import Infra
from stacks.infra.kind import cluster_config as kind_cluster
from stacks.infra.kind.config import KindCluster


def _run_kind(command: list[str]) -> str:
    """Run one kind command; the only place that touches the kind CLI."""
    if shutil.which(command[0]) is None:
        raise RuntimeError("the `kind` CLI is not on PATH: install kind and Docker to deploy the kind stack "
                           "(`swan render kind` needs neither)")
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


class KindClusterProvider(ResourceProvider):
    """create/delete through the kind CLI; any change of the config replaces the cluster."""

    def create(self, props: dict) -> CreateResult:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as config_file:
            config_file.write(props["config"])
            config_file.flush()
            _run_kind(kind_cluster.create_command(props["name"], config_file.name))
        kubeconfig = _run_kind(kind_cluster.kubeconfig_command(props["name"]))
        return CreateResult(id_=props["name"], outs={**props, "kubeconfig": kubeconfig})

    def read(self, id_: str, props: dict) -> ReadResult:
        return ReadResult(id_, {**props, "kubeconfig": _run_kind(kind_cluster.kubeconfig_command(id_))})

    def diff(self, id_: str, olds: dict, news: dict) -> DiffResult:
        replaces = kind_cluster.replace_keys(olds, news)
        return DiffResult(changes=bool(replaces), replaces=replaces, delete_before_replace=True)

    def delete(self, id_: str, props: dict) -> None:
        _run_kind(kind_cluster.delete_command(id_))


class KindClusterResource(pulumi.dynamic.Resource, module="kind", name="Cluster"):
    """A local kind cluster; `kubeconfig` is a secret output."""

    kubeconfig: pulumi.Output[str]

    def __init__(self, name: str, cluster_name: str, config: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__(
            KindClusterProvider(), name, {"name": cluster_name, "config": config, "kubeconfig": None},
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["kubeconfig"])),
        )


class KindInfra(pulumi.ComponentResource):
    def __init__(self, name: str, cfg: EnvironmentConfig, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swan:infra:Kind", name, None, opts)
        kc = cfg.kind_cluster or KindCluster()
        self.cluster = KindClusterResource(
            "cluster", kc.name, kind_cluster.kind_config_yaml(cfg), pulumi.ResourceOptions(parent=self))
        self.kubeconfig = pulumi.Output.secret(self.cluster.kubeconfig)
        self.provider = k8s.Provider("kind", kubeconfig=self.kubeconfig, enable_server_side_apply=True,
                                     opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"clusterName": kc.name})


def build(cfg: EnvironmentConfig) -> Infra:
    infra = KindInfra("kind", cfg)
    kc = cfg.kind_cluster or KindCluster()
    return Infra(provider=infra.provider, kubeconfig=infra.kubeconfig, outputs={"cluster_name": kc.name})
