"""``mac.types``: ``InferenceData`` and ``PythonStep``, re-exported from ``joey.runtimes.byop``."""

from joey.runtimes.byop import InferenceData, PythonStep

__all__ = ["InferenceData", "PythonStep"]
