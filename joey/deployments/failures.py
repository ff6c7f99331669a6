"""Exceptions from Ray and Serve as joey errors, so every answer is typed."""

from __future__ import annotations

from ray.exceptions import RayTaskError
from ray.serve.exceptions import BackPressureError

from joey.errors import InferenceError, JoeyError, OverCapacityError


def as_joey_error(exc: BaseException) -> JoeyError:
    """The joey error behind ``exc``: unwraps Ray's task errors, maps backpressure to 503."""
    cause: BaseException = exc
    while isinstance(cause, RayTaskError) and cause.cause is not None:
        cause = cause.cause
    if isinstance(cause, JoeyError):
        if isinstance(cause, RayTaskError):  # a RayTaskError(JoeyError) without its cause
            return InferenceError(str(cause))
        return cause
    if isinstance(cause, BackPressureError):
        return OverCapacityError(str(cause), 1)
    return InferenceError(f"{type(cause).__name__}: {cause}")
