"""``mac.config.inference``: ``CustomInferenceConfig``, re-exported from ``joey.runtimes.byop``."""

from joey.runtimes.byop import CustomInferenceConfig

__all__ = ["CustomInferenceConfig"]
