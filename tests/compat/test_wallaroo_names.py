"""Wallaroo's module paths, names and values exist under ``joey`` (no Ray needed)."""

from __future__ import annotations

import importlib
import stat
import subprocess
import sys
import warnings
from importlib.metadata import version
from pathlib import Path

import pytest
from pydantic import ValidationError

import joey
from joey.config import Settings
from joey.platform.compat import IgnoredArgumentWarning, ignored_argument
from joey.platform.listing import Listing

# module path -> names Wallaroo's tutorials import from it (counts in the issue)
WALLAROO_IMPORTS = {
    "joey.framework": ["Framework", "CustomConfig"],
    "joey.object": ["EntityNotFoundError", "RequiredAttributeMissing"],
    "joey.deployment_config": ["DeploymentConfigBuilder"],
    "joey.engine_config": ["Architecture", "Acceleration"],
    "joey.pipeline": ["Pipeline"],
    "joey.pipeline_version": ["PipelineVersion"],
    "joey.dynamic_batching_config": ["DynamicBatchingConfig"],
}


@pytest.mark.parametrize("module", sorted(WALLAROO_IMPORTS))
def test_wallaroo_module_paths_import(module: str) -> None:
    imported = importlib.import_module(module)
    for name in WALLAROO_IMPORTS[module]:
        assert getattr(imported, name).__name__ == name


def test_alias_modules_re_export_joeys_own_classes() -> None:
    import joey.errors
    import joey.object
    import joey.pipeline
    import joey.platform.pipeline

    assert joey.pipeline.Pipeline is joey.platform.pipeline.Pipeline
    assert joey.object.EntityNotFoundError is joey.errors.EntityNotFoundError
    assert joey.object.RequiredAttributeMissing is joey.errors.RequiredAttributeMissing


def test_alias_modules_are_attributes_of_joey_without_importing_them() -> None:
    code = ("import joey as wallaroo\n"
            "print(wallaroo.engine_config.Architecture.ARM.value, wallaroo.framework.Framework.ONNX.value,\n"
            "      wallaroo.__version__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["arm", "onnx", version("joey")]


def test_version_comes_from_the_installed_distribution() -> None:
    assert joey.__version__ == version("joey")
    assert "__version__" not in joey.__all__


def test_engine_config_values_are_wallaroos() -> None:
    from joey.engine_config import Acceleration, Architecture

    assert {a.name: a.value for a in Architecture} == {"X86": "x86", "ARM": "arm", "Power10": "power10"}
    assert {a.name: a.value for a in Acceleration} == {
        "_None": "none", "CUDA": "cuda", "Jetson": "jetson", "OpenVINO": "openvino", "QAIC": "qaic",
        "ROCM": "rocm",
    }
    with_config = Acceleration.QAIC.with_config({"num_cores": 4})
    assert with_config.accel is Acceleration.QAIC and with_config.config == {"num_cores": 4}


def test_custom_config_validates() -> None:
    from joey.framework import CustomConfig

    assert CustomConfig(model_path="./byop/").framework == "custom"
    with pytest.raises(ValidationError, match="framework"):
        CustomConfig(framework="keras")  # type: ignore[arg-type]


def test_listing_prints_as_a_list_and_renders_as_a_table() -> None:
    items = Listing([{"name": "a<b", "n": 1}, {"name": "c", "n": 2}], dict)
    assert items == [{"name": "a<b", "n": 1}, {"name": "c", "n": 2}]
    assert repr(items) == repr([{"name": "a<b", "n": 1}, {"name": "c", "n": 2}])
    html = items._repr_html_()
    assert html.startswith("<table><tr><th>name</th><th>n</th></tr>")
    assert "<td>a&lt;b</td><td>1</td>" in html and "<td>c</td><td>2</td>" in html


def test_ignored_argument_warns_once() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            ignored_argument("test_site", "some_argument", "because")
    assert [str(w.message) for w in caught] == [
        "test_site: some_argument= is accepted for Wallaroo code and ignored: because"
    ]
    assert caught[0].category is IgnoredArgumentWarning


def test_client_takes_wallaroos_arguments_in_wallaroos_order(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    with pytest.warns(IgnoredArgumentWarning, match="auth_type"):
        client = joey.Client(None, 30, "sso", None, False, settings=settings)
    assert client.settings.request_timeout_s == 30
    assert client._context.interactive is False


def test_auth_header_is_a_stable_private_bearer_token(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", http_port=8123)
    wl = joey.Client(settings=settings)
    header = wl.auth.auth_header()
    assert list(header) == ["Authorization"]
    scheme, token = header["Authorization"].split(" ")
    assert scheme == "Bearer" and len(token) >= 32
    assert joey.Client(settings=settings).auth.auth_header() == header  # same JOEY_HOME, same token
    assert joey.Client(settings=Settings(home=tmp_path / "other")).auth.auth_header() != header
    mode = (settings.home / "embedded-token").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600
    assert wl.api_endpoint == "http://127.0.0.1:8123"


def test_interactive_false_silences_progress(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from joey.testing.onnx_models import mlp

    path = mlp(tmp_path / "m.onnx")
    joey.Client(settings=Settings(home=tmp_path / "a")).upload_model("m", path)
    assert "Waiting for model loading" in capsys.readouterr().out
    quiet = joey.Client(interactive=False, settings=Settings(home=tmp_path / "b")).upload_model("m", path)
    assert capsys.readouterr().out == ""
    assert "Waiting for model loading" in quiet.get_upload_logs()[0]  # the log keeps every line
