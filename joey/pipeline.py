"""Wallaroo's ``wallaroo.pipeline``: the SDK ``Pipeline`` class."""

from joey.platform.pipeline import Pipeline

__all__ = ["Pipeline"]
