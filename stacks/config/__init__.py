"""Typed stack configuration: the `swan:` keys of config/Pulumi.<stack>.yaml, validated up front.

Import the modules themselves (`stacks.config.model`, `stacks.config.loader`): the package imports
nothing, so a cloud's section model (stacks/infra/<cloud>/config.py) can build on `stacks.config.types`
while `stacks.config.model` takes the sections from the cloud registry.
"""
