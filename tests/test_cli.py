"""The ``joey`` command: click's CliRunner against an embedded store for most commands, the real
console script in fresh processes for ``up``/``deploy``/``infer``/``down`` (a Ray head each)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np
import pyarrow as pa
import pytest
import yaml
from click.testing import CliRunner, Result
from support.waiting import free_port, wait_until

from joey.cli import cli
from joey.cli.files import read_schema, read_table, write_table
from joey.config import Settings
from joey.testing.onnx_models import mlp, run_onnx

JOEY = Path(sys.executable).with_name("joey")
# What the test session (tests/conftest.py, the Makefile) or a user's shell may set.
RAY_VARIABLES = ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_ADDRESS", "JOEY_RAY_ADDRESS")


# -- CliRunner against an embedded store ------------------------------------------------------


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "joey-home"


@pytest.fixture
def run(home: Path) -> Any:
    """``run(*args, code=0)``: the command's Result, after checking its exit code (and that a
    failure ended with a message, not a traceback)."""
    runner = CliRunner()

    def invoke(*args: str, code: int = 0, env: dict[str, str | None] | None = None) -> Result:
        result = runner.invoke(cli, list(args), env={"JOEY_HOME": str(home), "JOEY_RAY_ADDRESS": None,
                                                     **(env or {})})
        detail = f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(detail) from result.exception
        assert result.exit_code == code, detail
        assert "Traceback" not in result.stderr, detail
        return result

    return invoke


def _commands(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))


COMMANDS = [path for path, _ in _commands(cli)]
LEAVES = [path for path, command in _commands(cli) if not isinstance(command, click.Group)]


def test_the_command_tree_has_every_command() -> None:
    assert set(LEAVES) >= {
        ("up",), ("down",), ("models", "upload"), ("models", "list"), ("pipelines", "deploy"),
        ("pipelines", "undeploy"), ("pipelines", "status"), ("pipelines", "list"), ("infer",),
        ("logs",), ("kuberay", "render"),
    }


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "joey")
def test_help_on_every_command(run: Any, path: tuple[str, ...]) -> None:
    result = run(*path, "--help")

    assert result.stdout.startswith(f"Usage: {' '.join(('joey', *path))}")


@pytest.mark.parametrize("path", LEAVES, ids=" ".join)
def test_every_command_takes_json(path: tuple[str, ...]) -> None:
    command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    assert "--json" in {option for param in command.params for option in param.opts}


def test_console_script() -> None:
    done = subprocess.run([str(JOEY), "--help"], capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    assert "pipelines" in done.stdout and "kuberay" in done.stdout


@pytest.fixture
def onnx_model(tmp_path: Path) -> Path:
    return mlp(tmp_path / "mlp.onnx", n_in=4, n_out=2)


def _json(result: Result) -> Any:
    return json.loads(result.stdout)


def test_models_upload_and_list(run: Any, onnx_model: Path) -> None:
    first = _json(run("models", "upload", "fraud", str(onnx_model), "--json"))
    text = run("models", "upload", "fraud", str(onnx_model)).stdout
    listed = _json(run("models", "list", "--json"))

    assert first["name"] == "fraud" and first["workspace"] == "default"
    assert first["runtime"] == "onnx" and first["framework"] == "onnx" and first["status"] == "ready"
    assert "fraud" in text and "runtime onnx" in text
    assert listed["models"][0]["name"] == "fraud"
    assert len(listed["models"][0]["versions"]) == 2
    assert first["version"] in listed["models"][0]["versions"]


def test_upload_into_a_named_workspace_creates_it(run: Any, onnx_model: Path) -> None:
    run("models", "upload", "fraud", str(onnx_model), "--workspace", "team-a")

    assert _json(run("models", "list", "-w", "team-a", "--json"))["models"][0]["name"] == "fraud"
    assert _json(run("models", "list", "--json"))["models"] == []


def test_upload_takes_schemas_from_arrow_files(run: Any, home: Path, tmp_path: Path) -> None:
    from joey import Client
    from joey.testing.code_models import PYTHON_STEP_INPUT, python_step

    output = pa.schema([pa.field("tensor", pa.list_(pa.float32(), 29))])
    inputs_file = tmp_path / "inputs.arrow"
    with pa.ipc.new_file(inputs_file, PYTHON_STEP_INPUT):
        pass  # a schema and no rows
    outputs_file = tmp_path / "outputs.arrows"
    with pa.OSFile(str(outputs_file), "wb") as sink, pa.ipc.new_stream(sink, output):
        pass  # a stream works as well

    uploaded = _json(run("models", "upload", "step", str(python_step(tmp_path / "step.zip")),
                         "--framework", "python", "--input-schema", str(inputs_file),
                         "--output-schema", str(outputs_file), "--json"))

    assert uploaded["runtime"] == "python"
    config = Client(settings=Settings(home=home)).get_model("step").config()
    assert config.input_schema().names == ["raw"]
    assert config.input_schema().field("raw").type == PYTHON_STEP_INPUT.field("raw").type
    assert config.output_schema().field("tensor").type == output.field("tensor").type


def test_upload_without_the_schemas_its_framework_needs_fails(run: Any, tmp_path: Path) -> None:
    from joey.testing.code_models import python_step

    result = run("models", "upload", "step", str(python_step(tmp_path / "step.zip")), "--framework",
                 "python", code=1)

    assert "needs input_schema and output_schema" in result.stderr


@pytest.mark.parametrize("writer", ["file", "stream", "message"])
def test_read_schema(tmp_path: Path, writer: str) -> None:
    schema = pa.schema([pa.field("x", pa.list_(pa.float32(), 3)), pa.field("k", pa.string())])
    path = tmp_path / "schema.arrow"
    if writer == "message":
        path.write_bytes(schema.serialize().to_pybytes())
    else:
        with pa.OSFile(str(path), "wb") as sink:
            new = pa.ipc.new_file if writer == "file" else pa.ipc.new_stream
            with new(sink, schema) as out:
                out.write_table(pa.table({"x": [[1.0, 2.0, 3.0]], "k": ["a"]}, schema=schema))

    assert read_schema(path) == schema


def test_a_file_that_holds_no_schema_exits_1(run: Any, tmp_path: Path, onnx_model: Path) -> None:
    bad = tmp_path / "schema.arrow"
    bad.write_text("not arrow")

    result = run("models", "upload", "m", str(onnx_model), "--input-schema", str(bad), code=1)

    assert str(bad) in result.stderr and "not an Arrow IPC file" in result.stderr


@pytest.mark.parametrize("suffix", [".json", ".arrow", ".parquet"])
def test_tables_round_trip_through_files(tmp_path: Path, suffix: str) -> None:
    table = pa.table({"x": pa.array([[1.0, 2.5], [3.0, 4.0]], pa.list_(pa.float64())),
                      "k": ["a", "b"]})
    path = tmp_path / f"rows{suffix}"

    write_table(table, path)

    assert read_table(path).to_pylist() == table.to_pylist()


def test_an_arrow_stream_file_reads_too(tmp_path: Path) -> None:
    table = pa.table({"x": [1, 2]})
    path = tmp_path / "rows.arrow"
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as out:
        out.write_table(table)

    assert read_table(path).equals(table)


@pytest.fixture
def saved_pipeline(home: Path, onnx_model: Path) -> str:
    """A pipeline with one saved version, never deployed (built with the SDK, no Ray)."""
    from joey import Client

    sdk = Client(settings=Settings(home=home), interactive=False)
    model = sdk.upload_model("fraud", onnx_model)
    sdk.build_pipeline("scorer").add_model_step(model).create_version()
    return "scorer"


def test_pipeline_list_and_status_without_ray(run: Any, saved_pipeline: str) -> None:
    listed = _json(run("pipelines", "list", "--json"))
    status = _json(run("pipelines", "status", f"default/{saved_pipeline}", "--json"))
    text = run("pipelines", "status", saved_pipeline).stdout

    assert listed["pipelines"][0]["name"] == saved_pipeline
    assert listed["pipelines"][0]["status"] == "Unavailable"
    assert listed["pipelines"][0]["steps"] == ["fraud"]
    assert status["status"] == "Unavailable" and status["workspace"] == "default"
    assert text.strip() == f"default/{saved_pipeline}: Unavailable"


def test_logs_of_a_pipeline_that_never_answered(run: Any, saved_pipeline: str, tmp_path: Path) -> None:
    assert _json(run("logs", saved_pipeline)) == []
    written = _json(run("logs", saved_pipeline, "-o", str(tmp_path / "log.parquet"), "--json"))
    assert written["rows"] == 0


def test_kuberay_render(run: Any, saved_pipeline: str, tmp_path: Path) -> None:
    out = tmp_path / "rayservice.yaml"

    written = _json(run("kuberay", "render", f"default/{saved_pipeline}", "-o", str(out),
                        "--image", "example.com/joey:1", "--json"))
    manifest = yaml.safe_load(out.read_text())
    on_stdout = yaml.safe_load(run("kuberay", "render", saved_pipeline).stdout)
    as_json = _json(run("kuberay", "render", saved_pipeline, "--json"))

    assert written["output"] == str(out) and written["kind"] == "RayService"
    assert manifest["kind"] == "RayService" and manifest["apiVersion"] == "ray.io/v1"
    assert "example.com/joey:1" in out.read_text()
    assert "default-scorer" in manifest["spec"]["serveConfigV2"]
    assert on_stdout["kind"] == as_json["kind"] == "RayService"


# -- errors -------------------------------------------------------------------------------------


def test_an_unknown_pipeline_exits_1(run: Any) -> None:
    for args in (["pipelines", "status", "nope"], ["logs", "nope"], ["kuberay", "render", "nope"],
                 ["pipelines", "deploy", "nope"], ["pipelines", "undeploy", "nope"]):
        result = run(*args, code=1)
        assert result.stderr.strip() == "Error: pipeline 'nope' does not exist in workspace 'default'"


def test_an_unknown_workspace_or_model_exits_1(run: Any, saved_pipeline: str) -> None:
    assert "workspace 'elsewhere' does not exist" in run("logs", f"elsewhere/{saved_pipeline}", code=1).stderr
    assert "model 'nope' does not exist" in run("pipelines", "deploy", "p", "-m", "nope", code=1).stderr
    assert "model 'fraud' does not exist with the version v0" in run(
        "pipelines", "deploy", "p", "-m", "fraud:v0", code=1).stderr


def test_bad_input_files_exit_1(run: Any, saved_pipeline: str, tmp_path: Path) -> None:
    broken = tmp_path / "rows.json"
    broken.write_text("[{not json")
    not_records = tmp_path / "object.json"
    not_records.write_text('{"x": [1, 2]}')
    unknown = tmp_path / "rows.csv"
    unknown.write_text("x\n1\n")
    garbage = tmp_path / "rows.parquet"
    garbage.write_bytes(b"not parquet")
    not_arrow = tmp_path / "rows.arrow"
    not_arrow.write_bytes(b"not arrow")

    for path, message in ((broken, "unparsable JSON"), (not_records, "array of row objects"),
                          (unknown, "unknown file type '.csv'"), (garbage, "not a readable Parquet"),
                          (not_arrow, "expected an Arrow IPC stream, got unreadable bytes")):
        result = run("infer", saved_pipeline, str(path), code=1)
        assert str(path) in result.stderr and message in result.stderr, result.stderr


def test_usage_errors_exit_2(run: Any, tmp_path: Path) -> None:
    assert "does not exist" in run("infer", "p", str(tmp_path / "missing.json"), code=2).stderr
    assert "WORKSPACE/PIPELINE" in run("logs", "a/b/c", code=2).stderr
    assert "--workspace says" in run("logs", "a/p", "--workspace", "b", code=2).stderr
    assert "Invalid value for '--replicas'" in run("pipelines", "deploy", "p", "--replicas", "0", code=2).stderr
    run("pipelines", "frobnicate", code=2)


def test_a_bad_setting_exits_1(run: Any) -> None:
    result = run("pipelines", "list", code=1, env={"JOEY_HTTP_PORT": "eighty"})

    assert "bad JOEY_* setting" in result.stderr and "http_port" in result.stderr


def test_commands_that_need_ray_say_how_to_get_one(run: Any, saved_pipeline: str, tmp_path: Path) -> None:
    rows = tmp_path / "rows.json"
    rows.write_text('[{"dense_input": [1, 2, 3, 4]}]')

    for args in (["pipelines", "deploy", saved_pipeline], ["pipelines", "undeploy", saved_pipeline],
                 ["infer", saved_pipeline, str(rows)]):
        result = run(*args, code=1)
        assert result.stderr.strip() == ("Error: no Ray to deploy to: run `joey up` or set "
                                         "JOEY_RAY_ADDRESS"), args


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _write_record(home: Path, pid: int, tmp_path: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    haproxy = tmp_path / "haproxy"
    haproxy.mkdir()
    record = home / "ray-head.json"
    record.write_text(json.dumps({
        "pid": pid, "gcs_address": f"127.0.0.1:{free_port()}", "dashboard_url": "http://127.0.0.1:1",
        "http_host": "127.0.0.1", "http_port": free_port(), "log": str(home / "ray-head.log"),
        "haproxy_dir": str(haproxy), "auth_mode": "disabled", "num_cpus": 1,
        "started_at": "2026-01-01T00:00:00+00:00", "state": "running"}))
    return record


def test_a_head_that_died_is_reported_and_down_clears_it(run: Any, home: Path, saved_pipeline: str,
                                                         tmp_path: Path) -> None:
    pid = _dead_pid()
    record = _write_record(home, pid, tmp_path)
    gcs_address = json.loads(record.read_text())["gcs_address"]

    deploy = run("pipelines", "deploy", saved_pipeline, code=1)
    down = _json(run("down", "--json"))

    assert f"the Ray head `joey up` started (pid {pid}" in deploy.stderr and "is gone" in deploy.stderr
    assert down == {"stopped": False, "running": False, "pid": pid, "gcs_address": gcs_address,
                    "outlived_and_killed": 0}
    assert not record.exists() and not (tmp_path / "haproxy").exists()
    assert "no Ray head started by `joey up`" in run("down").stdout


def test_down_without_a_head(run: Any) -> None:
    assert _json(run("down", "--json")) == {"stopped": False, "running": False}


def test_up_refuses_a_taken_http_port(run: Any, home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = run("up", code=1, env={"JOEY_HTTP_PORT": str(port)})

    assert f"127.0.0.1:{port}" in result.stderr and "in use" in result.stderr
    assert not (home / "ray-head.json").exists()


def test_haproxy_env_keeps_its_files_in_the_folder_given(tmp_path: Path) -> None:
    from joey.cluster.serve_env import haproxy_env

    folder = tmp_path / "hp"
    env = haproxy_env(Settings(home=tmp_path), folder)
    if not env:
        pytest.skip("HAProxy is not installed")

    assert Path(env["RAY_SERVE_HAPROXY_BINARY_PATH"]).parent == folder
    assert Path(env["RAY_SERVE_HAPROXY_CONFIG_FILE_LOC"]).parent == folder
    assert Path(env["RAY_SERVE_HAPROXY_SOCKET_PATH"]).parent == folder


# -- the real command, with a Ray head of its own -----------------------------------------------


@dataclass
class Shell:
    """A fresh environment for the console script: its own JOEY_HOME, Serve port and Ray temp dir."""

    env: dict[str, str]
    home: Path

    def run(self, *args: str, code: int = 0, timeout_s: float = 240) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(JOEY), *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout_s)
        assert done.returncode == code, f"joey {' '.join(args)}: exit {done.returncode}\n" \
                                        f"stdout: {done.stdout[-3000:]}\nstderr: {done.stderr[-5000:]}"
        return done

    def json(self, *args: str, timeout_s: float = 240) -> Any:
        return json.loads(self.run(*args, "--json", timeout_s=timeout_s).stdout)


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[Shell]:
    # Short: Ray's unix sockets live under it and their paths must stay under 108 bytes.
    ray_tmpdir = Path(tempfile.mkdtemp(prefix="jr-", dir="/tmp"))
    env = {k: v for k, v in os.environ.items() if k not in RAY_VARIABLES}
    env.update({"JOEY_HOME": str(tmp_path / "joey-home"), "JOEY_HTTP_PORT": str(free_port()),
                "RAY_TMPDIR": str(ray_tmpdir)})
    fresh = Shell(env, tmp_path / "joey-home")
    try:
        yield fresh
    finally:
        subprocess.run([str(JOEY), "down"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(ray_tmpdir, ignore_errors=True)


def _session(leader: int) -> set[int]:
    """Live (not zombie) processes of the session ``leader`` leads."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[3] == str(leader) and fields[0] not in ("Z", "X"):
                found.add(int(entry.name))
    return found


@pytest.mark.ray
def test_up_upload_deploy_infer_status_undeploy_down(shell: Shell, tmp_path: Path) -> None:
    model = mlp(tmp_path / "mlp.onnx", n_in=4, n_out=2)
    x = np.random.default_rng(7).normal(size=(3, 4)).astype(np.float32)
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps([{"dense_input": row.tolist()} for row in x]))

    head = shell.json("up", "--num-cpus", "2", "--dashboard-port", str(free_port()))
    again = shell.json("up")
    processes = _session(head["pid"])
    uploaded = shell.json("models", "upload", "fraud", str(model))
    deployed = shell.json("pipelines", "deploy", "scorer", "--model", "fraud", "--replicas", "1")
    answer = json.loads(shell.run("infer", "default/scorer", str(rows)).stdout)
    status = shell.json("pipelines", "status", "scorer")
    listed = shell.json("pipelines", "list")
    wait_until(lambda: len(json.loads(shell.run("logs", "scorer").stdout)) >= len(x), timeout=60,
               interval=1.0)
    undeployed = shell.json("pipelines", "undeploy", "scorer")
    after = shell.json("pipelines", "status", "scorer")
    down = shell.json("down")

    assert head["started"] is True and head["state"] == "running"
    assert head["gcs_address"].startswith("127.0.0.1:") and head["http_port"] == int(shell.env["JOEY_HTTP_PORT"])
    assert again["started"] is False and again["pid"] == head["pid"]
    assert len(processes) > 5  # GCS, raylet, dashboard, Serve's actors, HAProxy, ...
    assert uploaded["runtime"] == "onnx"
    assert deployed["status"] == "Running" and deployed["url"].endswith("/infer/default/scorer")
    expected = run_onnx(model, {"dense_input": x})["dense_1"]
    assert np.allclose(np.array([r["out.dense_1"] for r in answer], dtype=np.float32), expected, rtol=1e-6)
    assert [r["in.dense_input"] for r in answer] == [row.tolist() for row in x]
    assert status["status"] == "Running"
    assert listed["pipelines"][0]["status"] == "Running"
    assert undeployed["status"] == after["status"] == "Unavailable"
    assert down["stopped"] is True and down["pid"] == head["pid"]
    assert not (shell.home / "ray-head.json").exists()
    assert not Path(head["haproxy_dir"]).exists()
    assert not _session(head["pid"]) & processes, "processes of the head outlived `joey down`"
