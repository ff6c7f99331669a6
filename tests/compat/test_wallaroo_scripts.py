"""Wallaroo-style scripts (tests/compat/scripts) run end to end on real Serve with
``import joey as wallaroo``, in a folder laid out as Wallaroo's tutorials are."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from joey.config import Settings
from joey.testing import framework_models as fm
from joey.testing.onnx_models import mlp, run_onnx

pytestmark = pytest.mark.ray

SCRIPTS = Path(__file__).parent / "scripts"


def _fixed(values: np.ndarray) -> pa.FixedSizeListArray:
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])


def _write_arrow(path: Path, table: pa.Table) -> None:
    with pa.ipc.new_file(path, table.schema) as writer:
        writer.write_table(table)


def run_script(name: str, folder: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Run a script as a user would in ``folder``, on the session's Ray, with a fresh JOEY_HOME."""
    monkeypatch.setenv("JOEY_HOME", str(settings.home))
    monkeypatch.setenv("JOEY_HTTP_PORT", str(settings.http_port))
    monkeypatch.chdir(folder)
    namespace = runpy.run_path(str(SCRIPTS / name), run_name="__main__")
    results: dict[str, Any] = namespace["RESULTS"]
    return results


@pytest.fixture
def tutorial(tmp_path: Path) -> Path:
    folder = tmp_path / "tutorial"
    (folder / "models").mkdir(parents=True)
    (folder / "data").mkdir()
    return folder


@pytest.mark.usefixtures("client")  # deletes the Serve apps afterwards
def test_wallaroo_101_runs_unchanged(settings: Settings, tutorial: Path,
                                     monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    model_path = mlp(tutorial / "models" / "ccfraud.onnx")
    x = np.random.default_rng(11).normal(size=(1000, 29)).astype(np.float32)
    expected = run_onnx(model_path, {"dense_input": x})["dense_1"]
    pd.DataFrame({"tensor": x[:1].astype(np.float64).tolist()}).to_json(
        tutorial / "data" / "smoke_test.df.json", orient="records")
    _write_arrow(tutorial / "data" / "cc_data_1k.arrow", pa.table({"tensor": _fixed(x)}))

    results = run_script("wallaroo_101.py", tutorial, settings, monkeypatch)
    printed = capsys.readouterr().out

    # __version__, api_endpoint, and deploy/undeploy progress as Wallaroo prints it
    from importlib.metadata import version

    assert version("joey") in printed
    assert f"http://127.0.0.1:{settings.http_port}" in printed
    assert "Waiting for deployment - this will take up to" in printed
    assert "Waiting for undeployment - this will take up to" in printed
    assert printed.count(" ok\n") >= 2
    # status() in Wallaroo's shape
    status = results["status"]
    assert status["status"] == "Running"
    assert {"status", "details", "engines", "engine_lbs", "sidekicks"} <= set(status)
    (engine,) = status["engines"]
    assert engine["status"] == "Running"
    assert engine["pipeline_statuses"]["pipelines"][0]["id"] == "ccfraudpipeline"
    (model_status,) = engine["model_statuses"]["models"]
    assert model_status["name"] == "ccfraudmodel" and len(model_status["sha"]) == 64
    assert len(status["engine_lbs"]) == 1 and status["sidekicks"] == []
    assert results["status_after"] == "Unavailable"
    # the same numbers by SDK, HTTP Arrow (with the bearer header) and HTTP JSON
    sdk = results["sdk_result"]
    np.testing.assert_allclose(sdk.loc[0, "out.dense_1"], expected[0], rtol=1e-6)
    arrow = results["http_arrow"]
    assert arrow.num_rows == 1000
    got = np.array([row["dense_1"] for row in arrow.column("out").to_pylist()], dtype=np.float32)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    np.testing.assert_allclose(results["http_json"][0]["out"]["dense_1"], expected[0], rtol=1e-6)
    # list_models(workspace_id=...) and list_pipelines(...) print as lists, render as tables
    models = results["models"]
    assert isinstance(models, list) and [m.name() for m in models] == ["ccfraudmodel"]
    assert repr(models).startswith("[{'name': 'ccfraudmodel'")
    assert "<table>" in models._repr_html_() and "<td>ccfraudmodel</td>" in models._repr_html_()
    assert results["pipelines_before"] == []
    after = results["pipelines_after"]
    assert [p.name() for p in after] == ["ccfraudpipeline"]
    html = after._repr_html_()
    assert "<th>deployed</th>" in html and "<td>False</td>" in html and "<td>ccfraudmodel</td>" in html


def test_configure_tensorflow_runs_the_model_in_tensorflow(client, settings: Settings, tutorial: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    trained = fm.tensorflow_savedmodel(tutorial / "models")
    trained.path.rename(tutorial / "models" / "savedmodel.zip")
    _write_arrow(tutorial / "data" / "inputs.arrow", pa.table({"text_input": _fixed(trained.x["text_input"])}))

    results = run_script("runtime_choice.py", tutorial, settings, monkeypatch)

    model = results["model"]
    assert model.config().runtime() == "tensorflow"
    assert model.config().conversion()["kept"] is True  # upload converted it; the user's choice won
    assert any("runtime set to 'tensorflow' by configure()" in line for line in model.get_upload_logs())
    # the deployment ran the uploaded SavedModel zip in TensorFlow, not the converted ONNX file
    store = client._context.store
    pipeline_row = store.get_pipeline(client.get_workspace("tf-workspace").id(), "tf-pipeline")
    (deployment,) = store.list_deployments(pipeline_row.id)
    (step,) = json.loads(deployment.spec_json)["steps"]
    assert step["model"]["runtime"] == "tensorflow"
    assert model.sha() in step["model"]["artifact_uri"]  # the uploaded zip's content address
    result = results["result"]
    for name, values in trained.expected.items():
        got = np.asarray(result.column(f"out.{name}").to_pylist(), dtype=np.float32)
        np.testing.assert_allclose(got, values, rtol=1e-6, atol=1e-7)
