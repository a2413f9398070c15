"""OpenStack: a Magnum cluster on its own network behind a router; node groups grow for course events
(see stacks.infra.clouds for the modules every cloud package has)."""
