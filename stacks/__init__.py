"""swan-iac: the SWAN service as code (Pulumi program, planner, node roles, verification)."""
