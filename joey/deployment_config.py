"""Alias module for code written as ``from wallaroo.deployment_config import ...``."""

from joey.autoscaling.config import DeploymentConfig, DeploymentConfigBuilder

__all__ = ["DeploymentConfig", "DeploymentConfigBuilder"]
