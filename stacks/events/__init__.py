"""Course events: capacity plans, the event stacks' Pulumi program, and the events timeline."""
