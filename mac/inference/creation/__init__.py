"""``mac.inference.creation``: ``InferenceBuilder``, re-exported from ``joey.runtimes.byop``."""

from joey.runtimes.byop import InferenceBuilder

__all__ = ["InferenceBuilder"]
