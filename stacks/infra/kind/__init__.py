"""kind: a local cluster for development; its worker nodes are fixed when it is created (see stacks.infra.clouds)."""
