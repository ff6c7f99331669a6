"""Runtimes: one module per framework behind ``Runtime``, one record per framework in
``registry``.

Imports are lazy, so ``import joey`` never imports a framework; a missing framework
raises ``FrameworkNotInstalledError`` naming the extra to install.
"""

from __future__ import annotations

from joey.runtimes.base import InferenceData, Runtime, RuntimeConfig, SchemaConfig
from joey.runtimes.registry import (
    FRAMEWORKS,
    NATIVE_RUNTIMES,
    SCHEMA_RUNTIMES,
    FrameworkRecord,
    record_for,
    runtime_class,
    runtime_for,
    runtime_key,
)

__all__ = [
    "FRAMEWORKS",
    "NATIVE_RUNTIMES",
    "SCHEMA_RUNTIMES",
    "FrameworkRecord",
    "InferenceData",
    "Runtime",
    "RuntimeConfig",
    "SchemaConfig",
    "record_for",
    "runtime_class",
    "runtime_for",
    "runtime_key",
]
