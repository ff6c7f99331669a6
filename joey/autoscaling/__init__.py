"""Deployment configuration (Wallaroo's builder) and its mapping onto Ray Serve options."""

from joey.autoscaling.config import DeploymentConfig, DeploymentConfigBuilder, SidekickConfig
from joey.autoscaling.placement import place
from joey.autoscaling.serve_options import (
    engine_options,
    ingress_options,
    memory_bytes,
    step_options,
)

__all__ = [
    "DeploymentConfig",
    "DeploymentConfigBuilder",
    "SidekickConfig",
    "engine_options",
    "ingress_options",
    "memory_bytes",
    "place",
    "step_options",
]
