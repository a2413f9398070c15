"""The `swan:kindCluster` section: a local kind cluster for development. Pure: no pulumi."""
from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator
from pydantic_core import InitErrorDetails

from stacks.config.types import Model, Name


class KindCluster(Model):
    """A local kind cluster for development (Docker and the kind CLI on the operator's machine)."""

    name: Name = "swan"
    """Name of the kind cluster."""
    node_image: str = "kindest/node:v1.31.2"
    """kind node image of every node; it sets the cluster's Kubernetes version."""
    http_port: int = Field(80, ge=1, le=65535)
    """Host port mapped to port 80 of the control-plane node, where ingress-nginx listens."""
    https_port: int = Field(443, ge=1, le=65535)
    """Host port mapped to port 443 of the control-plane node (not the same as httpPort)."""
    cvmfs_host_path: str = Field("/var/cvmfs", pattern=r"^/\S*$")
    """Host folder mounted into every kind node at /var/cvmfs with
    bidirectional propagation, as the CVMFS CSI node plugin needs."""

    @model_validator(mode="after")
    def _two_ports(self) -> "KindCluster":
        if self.http_port == self.https_port:
            raise ValueError(f"httpPort and httpsPort are both {self.http_port}; the host cannot bind one port twice")
        return self


Section = KindCluster


def problems(cfg: Any) -> list[InitErrorDetails]:
    """Nothing ties a kind cluster to the rest of the environment: its workers come from `nodePools`."""
    return []
