"""Wallaroo's ``wallaroo.object``: the errors its code catches, as joey's own classes."""

from joey.errors import (
    DeploymentError,
    EntityNotFoundError,
    InvalidNameError,
    ModelUploadError,
    RequiredAttributeMissing,
)

__all__ = [
    "DeploymentError",
    "EntityNotFoundError",
    "InvalidNameError",
    "ModelUploadError",
    "RequiredAttributeMissing",
]
