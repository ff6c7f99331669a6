"""Wallaroo's ``register_model_image(name, image).configure("mlflow", input_schema=...,
output_schema=...)``, mapped onto joey's MLflow upload.

Wallaroo registers an MLflow model as a container image and learns its schemas from
``configure``. joey runs MLflow models natively: the "image" is an MLflow model folder or a
``models:/`` URI, and ``configure`` uploads it (schemas from the call, else the model's
signature). A container image reference is refused with the way to go instead.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from joey.errors import ModelConfigError, ModelUploadError
from joey.framework import Framework

Uploader = Callable[..., Any]


def _is_model_source(image: str) -> bool:
    """An MLflow registry URI or a local folder (anything else reads as a container image)."""
    return image.startswith(("models:/", "runs:/")) or Path(image).exists()


class ModelImage:
    """A registered image waiting for ``configure("mlflow", ...)``, which uploads it."""

    def __init__(self, name: str, image: str, upload: Uploader) -> None:
        self._name = name
        self._image = image
        self._upload = upload

    def name(self) -> str:
        return self._name

    def image_path(self) -> str:
        return self._image

    def configure(self, runtime: str = "mlflow", input_schema: pa.Schema | None = None,
                  output_schema: pa.Schema | None = None, **settings: Any) -> Any:
        """Upload the model as ``Framework.MLFLOW``; further settings go to the version's
        ``configure`` (``tensor_fields``, ``dynamic_batching_config``, ...)."""
        if str(runtime) != "mlflow":
            raise ModelConfigError(f"a registered model image runs on runtime 'mlflow', not {runtime!r}")
        version = self._upload(self._name, self._image, framework=Framework.MLFLOW,
                               input_schema=input_schema, output_schema=output_schema)
        return version.configure(**settings) if settings else version

    def __repr__(self) -> str:
        return repr({"name": self._name, "image_path": self._image, "runtime": "mlflow"})


def register_model_image(name: str, image: str | Path, upload: Uploader) -> ModelImage:
    """A ``ModelImage`` for an MLflow model folder or ``models:/`` URI."""
    text = str(image)
    if not _is_model_source(text):
        raise ModelUploadError(
            f"{text!r} looks like a container image; joey runs MLflow models natively: pass an "
            "MLflow model folder or a models:/name/version URI, or use "
            "upload_model(name, path, framework=Framework.MLFLOW)")
    return ModelImage(name, text, upload)
