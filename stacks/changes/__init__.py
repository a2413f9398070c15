"""What a change of the stack config does to a deployed environment: `swan diff` between two renders,
the replacements it implies (`replacement_rules.json`), and `swan check --against`'s guard. Pure:
reads render folders, imports no pulumi."""
