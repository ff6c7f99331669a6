"""The audit log: every control-plane action, who, what, when, on which object."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import joey
from joey.errors import ModelUploadError
from joey.testing.onnx_models import mlp

pytestmark = pytest.mark.ray


def test_every_control_plane_action_is_recorded(client, settings, tmp_path: Path) -> None:
    started = datetime.now(UTC) - timedelta(seconds=1)
    workspace = client.create_workspace("audited")
    client.set_current_workspace(workspace)
    model = client.upload_model("ccfraud", mlp(tmp_path / "m.onnx"))
    model.configure(tensor_fields=["tensor"])
    (tmp_path / "bad.onnx").write_bytes(b"not onnx")
    with pytest.raises(ModelUploadError):
        client.upload_model("broken", tmp_path / "bad.onnx")
    pipeline = client.build_pipeline("audited-pipe").add_model_step(model).deploy()
    pipeline.undeploy()

    events = client.list_audit_events(workspace_name="audited")
    assert [e["action"] for e in events] == [
        "workspace.create", "model.upload", "model.configure", "model.upload.failed",
        "pipeline.version.create", "pipeline.deploy", "pipeline.undeploy"]
    assert {e["actor"] for e in events} == {getpass.getuser()}
    assert all(e["workspace_id"] == workspace.id() for e in events)
    upload = events[1]
    assert (upload["object_kind"], upload["object_id"], upload["object_name"]) == ("model_version", model.id(), "ccfraud")
    assert upload["details"]["sha"] == model.sha() and upload["details"]["version"] == model.version()
    assert events[2]["details"]["tensor_fields"] == ["tensor"]
    failed = events[3]
    assert failed["object_name"] == "broken" and failed["details"]["file"] == "bad.onnx"
    assert "bad.onnx" in failed["details"]["error"]
    version = pipeline.versions()[0].name()
    assert events[4]["details"]["version"] == version and events[5]["details"]["version"] == version
    # filters, and kept across processes (a new client on the same JOEY_HOME)
    again = joey.Client(settings=settings)
    assert [e["action"] for e in again.list_audit_events(action="pipeline.deploy")] == ["pipeline.deploy"]
    assert again.list_audit_events(start=started, end=datetime.now(UTC) + timedelta(seconds=1),
                                   workspace_id=workspace.id()) == events
    assert again.list_audit_events(end=started) == []
    assert "<td>pipeline.undeploy</td>" in events._repr_html_()
