"""Pulumi entry point (Pulumi.yaml has `main: stacks/`)."""
from stacks.program import run

run()
