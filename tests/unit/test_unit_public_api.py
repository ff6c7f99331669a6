"""The public SDK surface is pinned, and ``import joey`` stays light."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import joey

PUBLIC_API = [
    "Client",
    "DeploymentConfig",
    "DeploymentConfigBuilder",
    "DeploymentError",
    "DynamicBatchingConfig",
    "EntityNotFoundError",
    "Framework",
    "FrameworkNotInstalledError",
    "InferenceError",
    "InferenceTimeoutError",
    "InvalidInputError",
    "InvalidNameError",
    "JoeyError",
    "ModelConfigError",
    "ModelError",
    "ModelUploadError",
    "NotSupportedRemotelyError",
    "OverCapacityError",
    "PipelineConfigError",
    "PipelineNotDeployedError",
    "QuotaExceededError",
    "Settings",
    "UnsupportedMediaTypeError",
]

HEAVY_MODULES = ["ray", "onnxruntime", "torch", "tensorflow", "sqlalchemy", "pandas"]


def test_all_is_pinned() -> None:
    assert joey.__all__ == PUBLIC_API


def test_all_is_sorted_and_unique() -> None:
    assert list(joey.__all__) == sorted(joey.__all__)
    assert len(set(joey.__all__)) == len(joey.__all__)


@pytest.mark.parametrize("name", PUBLIC_API)
def test_every_public_name_resolves(name: str) -> None:
    value = getattr(joey, name)
    assert value is not None
    assert getattr(value, "__name__", name) == name


def test_unknown_name_raises_attribute_error() -> None:
    with pytest.raises(AttributeError):
        _ = joey.NoSuchThing  # type: ignore[attr-defined]


def test_dir_lists_the_public_api() -> None:
    assert set(PUBLIC_API) <= set(dir(joey))


def test_public_errors_are_the_errors_module_classes() -> None:
    import joey.errors

    for name in PUBLIC_API:
        if name.endswith("Error"):
            assert getattr(joey, name) is getattr(joey.errors, name)


def test_import_joey_imports_no_framework_ray_database_or_pandas() -> None:
    code = (
        "import json, sys\n"
        "import joey\n"
        f"print(json.dumps([m for m in {HEAVY_MODULES!r} if m in sys.modules]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_the_subprocess_check_can_see_heavy_imports() -> None:
    # Guards the check above: the same probe does report a module that was imported.
    code = "import json, sys\nimport joey, sqlalchemy\nprint(json.dumps(['sqlalchemy' in sys.modules]))\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [True]


def test_framework_values_are_wallaroo_strings() -> None:
    from joey.framework import Framework

    assert Framework.ONNX == "onnx"
    assert str(Framework.ONNX) == "onnx"
    assert joey.Framework is Framework


def test_deployment_config_alias_module() -> None:
    import joey.deployment_config

    assert joey.deployment_config.DeploymentConfigBuilder is joey.DeploymentConfigBuilder
    assert joey.deployment_config.DeploymentConfig is joey.DeploymentConfig
