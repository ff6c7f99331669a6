"""joey: upload models, chain them into pipelines, serve them on Ray Serve.

The public SDK is re-exported here lazily, so ``import joey`` imports no framework,
no Ray and no database driver until a name is used.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Client",
    "DeploymentConfig",
    "DeploymentConfigBuilder",
    "DeploymentError",
    "DynamicBatchingConfig",
    "EntityNotFoundError",
    "Framework",
    "FrameworkNotInstalledError",
    "InferenceError",
    "InferenceTimeoutError",
    "InvalidInputError",
    "InvalidNameError",
    "JoeyError",
    "ModelConfigError",
    "ModelError",
    "ModelUploadError",
    "NotSupportedRemotelyError",
    "OverCapacityError",
    "PipelineConfigError",
    "PipelineNotDeployedError",
    "QuotaExceededError",
    "Settings",
    "UnsupportedMediaTypeError",
]

_WHERE = {
    "Client": "joey.platform.client",
    "DeploymentConfig": "joey.autoscaling.config",
    "DeploymentConfigBuilder": "joey.autoscaling.config",
    "DynamicBatchingConfig": "joey.dynamic_batching_config",
    "Framework": "joey.framework",
    "Settings": "joey.config",
}


# Wallaroo's module paths, reachable as attributes once ``joey`` is imported
# (``wallaroo.engine_config.Architecture.ARM`` after ``import joey as wallaroo``).
_ALIAS_MODULES = frozenset({
    "deployment_config", "dynamic_batching_config", "engine_config", "framework", "object",
    "pipeline", "pipeline_version",
})


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("joey")
    if name in _ALIAS_MODULES:
        return importlib.import_module(f"joey.{name}")
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    if name in __all__:
        return getattr(importlib.import_module("joey.errors"), name)
    raise AttributeError(f"module 'joey' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
