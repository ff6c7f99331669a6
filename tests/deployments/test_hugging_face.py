"""Hugging Face models of all 16 Wallaroo tasks, deployed in their isolated environments.

Tiny random-weight models are built in tmp_path by the environment's own transformers (no
downloads); joey's answer is compared with the same pipeline called directly there.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import joey
from joey.errors import InvalidInputError, ModelUploadError
from joey.runtimes.hf_tasks import TRANSFORMERS_LINES, hf_task
from joey.testing.hf_models import rows

pytestmark = pytest.mark.ray

TASKS_ON_5 = [
    "hugging-face-feature-extraction", "hugging-face-text-classification",
    "hugging-face-sentiment-analysis", "hugging-face-zero-shot-classification",
    "hugging-face-image-classification", "hugging-face-image-segmentation",
    "hugging-face-image-to-text", "hugging-face-object-detection",
    "hugging-face-zero-shot-image-classification", "hugging-face-zero-shot-object-detection",
    "hugging-face-stable-diffusion-text-2-img", "hugging-face-text-generation",
    "hugging-face-automatic-speech-recognition",
]
TASKS_ON_4 = ["hugging-face-question-answering", "hugging-face-summarization",
              "hugging-face-translation", "hugging-face-text-generation"]


def _python(envs: Path, line: str) -> Path:
    from joey.runtimes.environments import ensure_environment

    return ensure_environment(TRANSFORMERS_LINES[line], envs)


def _run(python: Path, *args: str) -> Any:
    done = subprocess.run([str(python), "-m", "joey.testing.hf_models", *args], capture_output=True,
                          text=True, timeout=900, check=False,
                          env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def hf_models(ray_serve, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    """line -> task -> the zip of a tiny saved pipeline, built by that line's transformers."""
    envs = ray_serve.home / "envs"
    built: dict[str, dict[str, Path]] = {}
    for line, tasks in (("5", TASKS_ON_5), ("4", TASKS_ON_4)):
        out = tmp_path_factory.mktemp(f"hf{line}")
        zips = _run(_python(envs, line), "build", str(out), *tasks)
        built[line] = {task: Path(path) for task, path in zips.items()}
    return built


def _reference(envs: Path, line: str, model_zip: Path, task: str, request: list[dict[str, Any]],
               tmp_path: Path) -> list[dict[str, Any]]:
    rows_file = tmp_path / "rows.json"
    rows_file.write_text(json.dumps(request))
    return _run(_python(envs, line), "reference", str(model_zip), task, str(rows_file))  # type: ignore[no-any-return]


def _assert_close(got: Any, expected: Any, where: str, pixels: bool = False) -> None:
    if pixels:  # diffusers' pixels differ by at most 1 between thread counts (HUGGING_FACE.md)
        assert np.abs(np.asarray(got, np.int64) - np.asarray(expected, np.int64)).max() <= 1, where
        return
    if isinstance(expected, dict):
        assert isinstance(got, dict), where
        for key, value in expected.items():
            _assert_close(got[key], value, f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(got, list | tuple | np.ndarray) and len(got) == len(expected), (where, got, expected)
        for index, (a, b) in enumerate(zip(got, expected, strict=True)):
            _assert_close(a, b, f"{where}[{index}]")
    elif isinstance(expected, float):
        assert got == pytest.approx(expected, rel=1e-3, abs=1e-4), (where, got, expected)
    else:
        assert got == expected, (where, got, expected)


def _table(request: list[dict[str, Any]]) -> pa.Table:
    """Rows as a table; a column a row leaves out is null there."""
    names = list(dict.fromkeys(name for row in request for name in row))
    return pa.table({name: [row.get(name) for row in request] for name in names})


def _infer_and_compare(client, settings, line: str, task: str, model_zip: Path, tmp_path: Path,
                       request: list[dict[str, Any]] | None = None) -> joey.Pipeline:
    request = request or rows(task)
    short = task.removeprefix("hugging-face-")[:40]
    model = client.upload_model(f"hf-{short}", model_zip, framework=task)
    assert model.config().runtime() == "flight"
    assert model.get_upload_logs()[-1] == "Ready"
    pipeline = client.build_pipeline(f"hf-{short}").add_model_step(model).deploy()
    table = _table(request)
    result = pipeline.infer(table)
    expected = _reference(settings.resolved_envs_dir, line, model_zip, task, request, tmp_path)
    outputs = [f.name for f in hf_task(task).outputs]
    got = {name: result.column(f"out.{name}").to_pylist() for name in outputs}
    for index, want in enumerate(expected):
        for name, value in want.items():
            _assert_close(got[name][index], value, f"{task} row {index} {name}",
                          pixels=hf_task(task).diffusers)
    return pipeline


@pytest.mark.parametrize("task", TASKS_ON_5)
def test_every_task_on_transformers_5_equals_the_pipeline_called_directly(
        client, settings, hf_models, task: str, tmp_path: Path) -> None:
    pipeline = _infer_and_compare(client, settings, "5", task, hf_models["5"][task], tmp_path)
    model = client.get_model(f"hf-{task.removeprefix('hugging-face-')[:40]}")
    assert "transformers==5.24.0" in model._row.config["requirements"]  # the line it was saved with
    pipeline.undeploy()


@pytest.mark.parametrize("task", TASKS_ON_4)
def test_tasks_transformers_5_removed_run_on_4(client, settings, hf_models, task: str,
                                                tmp_path: Path) -> None:
    pipeline = _infer_and_compare(client, settings, "4", task, hf_models["4"][task], tmp_path)
    model = client.get_model(f"hf-{task.removeprefix('hugging-face-')[:40]}")
    assert "transformers==4.57.6" in model._row.config["requirements"]
    pipeline.undeploy()


def test_a_row_with_the_whole_schema_and_generate_columns(client, settings, hf_models,
                                                          tmp_path: Path) -> None:
    """text-generation's schema carries return_text and return_full_text, which the pipeline
    refuses together; extra columns (not in the schema) go to generate."""
    task = "hugging-face-text-generation"
    whole = {"inputs": "this is a", "return_tensors": False, "return_text": True,
             "return_full_text": True, "clean_up_tokenization_spaces": False, "prefix": "",
             "do_sample": False, "num_beams": 1, "max_new_tokens": 5}
    plain = {"inputs": "this is a", "do_sample": False, "num_beams": 1, "max_new_tokens": 5}
    model = client.upload_model("hf-gen", hf_models["5"][task], framework=task)
    pipeline = client.build_pipeline("hf-gen").add_model_step(model).deploy()
    got = pipeline.infer(_table([whole])).column("out.generated_text").to_pylist()
    expected = _reference(settings.resolved_envs_dir, "5", hf_models["5"][task], task, [plain], tmp_path)
    assert got == [expected[0]["generated_text"]]
    shorter = pipeline.infer(_table([{**plain, "max_new_tokens": 1}])).column("out.generated_text")
    assert len(shorter.to_pylist()[0][0]) < len(got[0][0])  # max_new_tokens reached generate
    with pytest.raises(InvalidInputError, match="return_tensors"):
        pipeline.infer(_table([{**plain, "return_tensors": True}]))
    pipeline.undeploy()


def test_http_json_rows_and_bad_columns_are_400s_naming_them(client, hf_models) -> None:
    import httpx

    task = "hugging-face-zero-shot-image-classification"
    model = client.upload_model("hf-clip", hf_models["5"][task], framework=task)
    pipeline = client.build_pipeline("hf-clip").add_model_step(model).deploy()
    request = rows(task)
    sdk = pipeline.infer(_table(request))
    answer = httpx.post(pipeline.url(), json=request, timeout=60)
    assert answer.status_code == 200, answer.text
    records = answer.json()
    assert [r["out"]["label"] for r in records] == sdk.column("out.label").to_pylist()
    extra = httpx.post(pipeline.url(), json=[{**request[0], "top_k": 1}], timeout=60)
    assert extra.status_code == 400 and "top_k" in extra.json()["error"], extra.text
    missing = httpx.post(pipeline.url(), json=[{"inputs": request[0]["inputs"]}], timeout=60)
    assert missing.status_code == 400 and "candidate_labels" in missing.json()["error"], missing.text
    assert pipeline.infer(_table(request[:1])).num_rows == 1  # the service stayed up
    pipeline.undeploy()


def test_uploads_that_are_not_the_named_task_fail_naming_the_problem(client, hf_models,
                                                                     tmp_path: Path) -> None:
    text_model = hf_models["5"]["hugging-face-text-classification"]
    with pytest.raises(ModelUploadError, match="recorded with status 'error'") as raised:
        client.upload_model("hf-wrong-task", text_model, framework="hugging-face-image-classification")
    failed = client.get_model("hf-wrong-task")
    assert failed.status() == "error"
    assert any("validation failed" in line for line in failed.get_upload_logs())
    assert "image" in str(raised.value).lower()

    with pytest.raises(ModelUploadError, match="unknown framework 'hugging-face-no-such-task'"):
        client.upload_model("hf-unknown", text_model, framework="hugging-face-no-such-task")

    import zipfile

    not_saved = tmp_path / "notes.zip"
    with zipfile.ZipFile(not_saved, "w") as archive:
        archive.writestr("notes/README.md", "not a model")
        archive.writestr("__MACOSX/notes/._README.md", "")
    with pytest.raises(ModelUploadError, match=r"config\.json or model_index\.json"):
        client.upload_model("hf-not-saved", not_saved, framework="hugging-face-text-classification")
    assert client.get_model("hf-not-saved").status() == "error"
