"""Wallaroo's ``wallaroo.engine_config``: the architecture and accelerator a model asks for.

``upload_model(..., arch=..., accel=...)`` records them on the model version;
``DeploymentConfigBuilder().arch(...)``/``.accel(...)`` take them for a deployment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar


class Architecture(StrEnum):
    """CPU architecture a model is built for (Wallaroo's values)."""

    X86 = "x86"
    ARM = "arm"
    Power10 = "power10"


class Acceleration(StrEnum):
    """Accelerator a model is built for (Wallaroo's values; ``_None`` is no accelerator)."""

    _None = "none"
    CUDA = "cuda"
    Jetson = "jetson"
    OpenVINO = "openvino"
    QAIC = "qaic"
    ROCM = "rocm"

    def with_config(self, config: Any) -> AccelerationWithConfig:
        """The accelerator with its device settings (Wallaroo's QAIC ``QaicConfig``)."""
        return AccelerationWithConfig(self, config)


@dataclass(frozen=True)
class AccelerationWithConfig:
    """An accelerator plus its device settings, as ``Acceleration.with_config`` returns."""

    accel: Acceleration
    config: Any = field(default=None)

    def __str__(self) -> str:
        return self.accel.value


SERVED_ACCELERATIONS = (Acceleration._None, Acceleration.CUDA)
"""What joey can serve: plain CPUs, and CUDA on a Ray cluster with GPUs."""


_E = TypeVar("_E", bound=StrEnum)


def _member(kind: type[_E], value: object, field: str) -> _E:
    try:
        return kind(str(value))
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise ValueError(f"{field} takes one of {choices}, got {value!r}") from None


def architecture(value: Architecture | str | None) -> Architecture:
    """``value`` as an ``Architecture``; ``None`` is x86, as Wallaroo's default."""
    return Architecture.X86 if value is None else _member(Architecture, value, "arch")


def acceleration(value: Acceleration | AccelerationWithConfig | str | None) -> Acceleration:
    """``value`` as an ``Acceleration``; ``None`` is no accelerator, as Wallaroo's default."""
    if isinstance(value, AccelerationWithConfig):
        return value.accel
    return Acceleration._None if value is None else _member(Acceleration, value, "accel")


__all__ = ["Acceleration", "AccelerationWithConfig", "Architecture"]
