"""Wallaroo's ``wallaroo.pipeline_version``: the SDK ``PipelineVersion`` class."""

from joey.platform.pipeline import PipelineVersion

__all__ = ["PipelineVersion"]
