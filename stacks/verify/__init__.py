"""Nightly verification: pure check logic (model, runner, reports) and thin glue per target.

`hub` talks to JupyterHub over HTTP, `cluster` to the Kubernetes API through an injectable
reader, `nodes` hands over to the testinfra suites of `stacks.nodes`. Nothing here imports
Pulumi; the CLI in `stacks.cli.verify` wires the pieces together.
"""
