"""The SDK's control plane: workspaces, models, versions, pipelines, persistence."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.service_process import ADMIN_EMAIL, ADMIN_PASSWORD, start_service, stop_service

import joey
from joey.config import Settings
from joey.errors import EntityNotFoundError, InvalidNameError, ModelConfigError, ModelUploadError
from joey.testing.onnx_models import mlp, multi_io


@pytest.fixture(params=["embedded", "remote"])
def connect(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Python that makes the Client under test, in this process or another: embedded over a
    fresh JOEY_HOME, or remote, signed in to a fresh service as its admin. The same tests run
    in both modes, so the two never drift. Nothing here deploys, so neither needs Ray."""
    if request.param == "embedded":
        yield f"joey.Client(settings=Settings(home={str(tmp_path / 'home')!r}))"
        return
    service = start_service(tmp_path / "service-home")
    try:
        yield (f"joey.Client(api_endpoint={service.url!r}, auth_type='user_password', "
               f"settings=Settings(user={ADMIN_EMAIL!r}, password={ADMIN_PASSWORD!r}))")
    finally:
        stop_service(service)


@pytest.fixture
def offline(connect: str) -> Any:
    return eval(connect, {"joey": joey, "Settings": Settings})


def test_workspaces(offline: joey.Client) -> None:
    assert offline.get_current_workspace().name() == "default"
    with pytest.raises(EntityNotFoundError, match="create_if_not_exist"):
        offline.get_workspace("nope")
    made = offline.get_workspace("team-a", create_if_not_exist=True)
    assert offline.get_workspace("team-a") == made
    other = offline.create_workspace("team-b")
    assert offline.set_current_workspace(other) == other
    assert offline.get_current_workspace().name() == "team-b"
    assert {w.name() for w in offline.list_workspaces()} == {"default", "team-a", "team-b"}
    with pytest.raises(joey.JoeyError, match="already exists"):
        offline.create_workspace("team-b")
    assert "'name': 'team-b'" in repr(other)


@pytest.mark.parametrize("bad", ["Upper", "under_score", "1starts-with-digit", "dot.ted", "", "x" * 64])
def test_names_follow_the_rule(offline: joey.Client, bad: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidNameError, match="lowercase letters, digits and '-'"):
        offline.create_workspace(bad)
    with pytest.raises(InvalidNameError):
        offline.build_pipeline(bad)
    with pytest.raises(InvalidNameError):
        offline.upload_model(bad, mlp(tmp_path / "m.onnx"))


def test_upload_versions_and_sha(offline: joey.Client, tmp_path: Path) -> None:
    first_file = mlp(tmp_path / "a.onnx", seed=1)
    second_file = mlp(tmp_path / "b.onnx", seed=2)
    first = offline.upload_model("ccfraud", first_file, framework=joey.Framework.ONNX)
    second = offline.upload_model("ccfraud", second_file)
    assert first.sha() == hashlib.sha256(first_file.read_bytes()).hexdigest()
    assert second.sha() == hashlib.sha256(second_file.read_bytes()).hexdigest()
    assert first.version() != second.version()
    assert first.config().runtime() == "onnx"
    assert first.status() == "ready"
    assert offline.get_model("ccfraud") == second
    assert offline.get_model("ccfraud", version=first.version()) == first
    [model] = offline.list_models()
    assert model.name() == "ccfraud"
    assert [v.version() for v in model.versions()] == [second.version(), first.version()]
    assert repr(model).startswith("{'name': 'ccfraud', 'versions': 2")
    assert "Ready" in first.get_upload_logs()
    schema = first.config().input_schema()
    assert schema.field("dense_input").type.list_size == 29


def test_model_errors(offline: joey.Client, tmp_path: Path) -> None:
    with pytest.raises(EntityNotFoundError, match="'no-such-model' does not exist"):
        offline.get_model("no-such-model")
    offline.upload_model("present", mlp(tmp_path / "m.onnx"))
    with pytest.raises(EntityNotFoundError, match="with the version no-such-version"):
        offline.get_model("present", version="no-such-version")
    with pytest.raises(ModelUploadError, match="no model file"):
        offline.upload_model("missing", tmp_path / "missing.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    with pytest.raises(ModelUploadError, match=r"cannot load 'garbage\.onnx'"):
        offline.upload_model("garbage", garbage)
    unknown = tmp_path / "model.bin"
    unknown.write_bytes(b"x")
    with pytest.raises(ModelUploadError, match=r"Framework\.ONNX"):
        offline.upload_model("unknown", unknown)


def test_configure(offline: joey.Client, tmp_path: Path) -> None:
    model = offline.upload_model("multi", multi_io(tmp_path / "m.onnx"))
    with pytest.raises(ModelConfigError, match=r"one name per model input \['input_1', 'input_2'\]"):
        model.configure(tensor_fields=["only-one"])
    with pytest.raises(ModelConfigError, match="cannot run on runtime 'tensorflow'; runtimes that can run it: onnx"):
        model.configure(runtime="tensorflow")
    configured = model.configure("onnx", tensor_fields=["a", "b"])
    assert configured.config().tensor_fields() == ["a", "b"]
    assert offline.get_model("multi").config().tensor_fields() == ["a", "b"]


def test_pipeline_editing_and_versions(offline: joey.Client, tmp_path: Path) -> None:
    a = offline.upload_model("a", mlp(tmp_path / "a.onnx"))
    b = offline.upload_model("b", mlp(tmp_path / "b.onnx"))
    pipeline = offline.build_pipeline("edit-me")
    pipeline.add_model_step(a).add_model_step(b).add_model_step(a)
    assert [s["ModelInference"]["models"][0]["name"] for s in pipeline.steps()] == ["a", "b", "a"]
    pipeline.replace_with_model_step(1, a).remove_step(2)
    assert [s["ModelInference"]["models"][0]["name"] for s in pipeline.steps()] == ["a", "a"]
    with pytest.raises(IndexError):
        pipeline.remove_step(5)
    first = pipeline.create_version()
    second = pipeline.clear().add_model_step(b).create_version()
    assert [v.name() for v in pipeline.versions()] == [second.name(), first.name()]
    assert offline.build_pipeline("edit-me").steps() == pipeline.steps()
    old = offline.get_pipeline("edit-me", version=first.name())
    assert len(old.steps()) == 2
    with pytest.raises(EntityNotFoundError, match="not-there"):
        offline.get_pipeline("not-there")
    assert [p.name() for p in offline.list_pipelines()] == ["edit-me"]
    assert pipeline.status()["status"] == "Unavailable"
    assert pipeline.url().endswith("/infer/default/edit-me")


def test_state_survives_the_process(offline: joey.Client, connect: str, tmp_path: Path) -> None:
    workspace = offline.get_workspace("kept", create_if_not_exist=True)
    offline.set_current_workspace(workspace)
    model = offline.upload_model("kept-model", mlp(tmp_path / "m.onnx")).configure(tensor_fields=["tensor"])
    offline.build_pipeline("kept-pipe").add_model_step(model).create_version()
    script = f"""
import joey
from joey.config import Settings
c = {connect}
c.set_current_workspace(c.get_workspace("kept"))
m = c.get_model("kept-model")
p = c.get_pipeline("kept-pipe")
print(m.sha(), m.version(), m.config().tensor_fields(), len(p.steps()), len(p.versions()))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split() == [model.sha(), model.version(), "['tensor']", "1", "1"]


def test_quotas_read_alike(offline: joey.Client) -> None:
    quotas = offline.get_quotas()
    assert set(quotas) == {"preset", "source", "policy", "usage"}
    assert quotas["preset"] == "unlimited" and quotas["source"] == "JOEY_QUOTAS"
    assert all(limit is None for limit in quotas["policy"].values())
    assert quotas["usage"]["deployed_pipelines"] == 0
