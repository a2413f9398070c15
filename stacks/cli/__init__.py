"""The `swan` command line: thin commands over the pure cores and the Pulumi program."""
