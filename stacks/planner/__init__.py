"""GPU capacity planner: MIG geometry, the exact packer and mig-parted configs (no Pulumi here)."""
