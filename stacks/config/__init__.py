"""Typed stack configuration: the `swan:` keys of config/Pulumi.<stack>.yaml, validated up front."""
from stacks.config.model import EnvironmentConfig
from stacks.config.loader import load_stack, stack_names, config_dir

__all__ = ["EnvironmentConfig", "load_stack", "stack_names", "config_dir"]
