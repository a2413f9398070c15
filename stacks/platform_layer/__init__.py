"""Platform layer: the cloud-agnostic SWAN service on any Kubernetes provider.

Named `platform_layer` rather than `platform` so it never shadows the standard library module
when Pulumi puts `stacks/` itself on sys.path.
"""
from stacks.platform_layer.swan_platform import SwanPlatform, SwanPlatformArgs

__all__ = ["SwanPlatform", "SwanPlatformArgs"]
