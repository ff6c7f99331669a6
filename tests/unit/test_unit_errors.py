"""Every public joey error survives pickling, carries its status and maps back from its body."""

from __future__ import annotations

import pickle

import pytest
from ray import cloudpickle

import joey.errors as errors
from joey.errors import (
    AuthenticationError,
    ConflictError,
    DeploymentError,
    EntityNotFoundError,
    FrameworkNotInstalledError,
    InferenceError,
    InferenceTimeoutError,
    InvalidInputError,
    InvalidNameError,
    InvalidRequestError,
    JoeyError,
    MethodNotAllowedError,
    ModelConfigError,
    ModelError,
    ModelUploadError,
    NotSupportedRemotelyError,
    OverCapacityError,
    PermissionDeniedError,
    PipelineConfigError,
    PipelineNotDeployedError,
    QuotaExceededError,
    RayConnectionError,
    RequiredAttributeMissing,
    UnknownPathError,
    UnsupportedMediaTypeError,
    ValidationFailedError,
    error_from_body,
)

# One realistic instance per public class, built the way joey code raises it.
EXAMPLES: dict[str, JoeyError] = {
    "JoeyError": JoeyError("something went wrong"),
    "InvalidNameError": InvalidNameError("pipeline", "Bad_Name"),
    "EntityNotFoundError": EntityNotFoundError("model", "ccfraud", "in workspace 'ws'"),
    "ModelUploadError": ModelUploadError("ccfraud.onnx is not a valid ONNX file"),
    "ModelConfigError": ModelConfigError("tensor_fields has 2 names for 1 input"),
    "FrameworkNotInstalledError": FrameworkNotInstalledError("onnx", "onnx"),
    "PipelineConfigError": PipelineConfigError("a pipeline needs at least one step"),
    "DeploymentError": DeploymentError("ccfraud-pipe", "RuntimeError: cannot load model"),
    "InferenceError": InferenceError("replica died"),
    "InvalidInputError": InvalidInputError("tensor", "float32[29]", "list<item: string>"),
    "UnsupportedMediaTypeError": UnsupportedMediaTypeError(
        "text/plain", ("application/json; format=pandas-records", "application/vnd.apache.arrow.file")
    ),
    "ModelError": ModelError("ccfraud", "ValueError: shapes do not align"),
    "UnknownPathError": UnknownPathError("/infer/ws/ccfraud/docs"),
    "MethodNotAllowedError": MethodNotAllowedError("GET"),
    "OverCapacityError": OverCapacityError("step-0-ccfraud queue is full", 2),
    "InferenceTimeoutError": InferenceTimeoutError(15.0),
    "PipelineNotDeployedError": PipelineNotDeployedError("ccfraud-pipe"),
    "RayConnectionError": RayConnectionError("127.0.0.1:6390", "no answer within 10s"),
    "RequiredAttributeMissing": RequiredAttributeMissing("ModelVersion", "sha"),
    "ValidationFailedError": ValidationFailedError("fraud", "ComputeError: list index out of bounds"),
    "AuthenticationError": AuthenticationError(),
    "InvalidRequestError": InvalidRequestError("role: expected one of ['OWNER', 'COLLABORATOR'], got 'BOSS'"),
    "ConflictError": ConflictError("workspace_name: workspace 'ws' already exists"),
    "PermissionDeniedError": PermissionDeniedError("add users", "only an owner of workspace 'ws' may"),
    "NotSupportedRemotelyError": NotSupportedRemotelyError("Pipeline.export_logs"),
    "QuotaExceededError": QuotaExceededError("max_deployed_pipelines", 2, 2, "2 deployed", "preset community"),
}

PUBLIC_CLASSES = [name for name in errors.__all__ if name != "error_from_body"]


def test_examples_cover_every_public_error_class() -> None:
    assert sorted(EXAMPLES) == sorted(PUBLIC_CLASSES)
    for name, error in EXAMPLES.items():
        assert type(error) is getattr(errors, name)


@pytest.mark.parametrize("name", PUBLIC_CLASSES)
def test_every_public_class_is_a_joey_error(name: str) -> None:
    cls = getattr(errors, name)
    assert isinstance(cls, type)
    assert issubclass(cls, JoeyError)
    assert issubclass(cls, Exception)


@pytest.mark.parametrize("dumps,loads", [(pickle.dumps, pickle.loads), (cloudpickle.dumps, cloudpickle.loads)],
                         ids=["pickle", "cloudpickle"])
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_round_trips_through_pickle(name: str, dumps, loads) -> None:
    error = EXAMPLES[name]
    copy = loads(dumps(error))
    assert type(copy) is type(error)
    assert copy.args == error.args
    assert str(copy) == str(error)
    assert copy.status == error.status
    assert copy.to_body() == error.to_body()


@pytest.mark.parametrize(
    "cls,status",
    [
        (InvalidInputError, 400),
        (UnsupportedMediaTypeError, 415),
        (UnknownPathError, 404),
        (MethodNotAllowedError, 405),
        (ModelError, 500),
        (OverCapacityError, 503),
        (EntityNotFoundError, 404),
        (InvalidNameError, 400),
        (InferenceTimeoutError, 504),
        (PipelineNotDeployedError, 409),
        (AuthenticationError, 401),
        (PermissionDeniedError, 403),
        (InvalidRequestError, 400),
        (ConflictError, 409),
        (QuotaExceededError, 403),
        (NotSupportedRemotelyError, 501),
        (JoeyError, 500),
    ],
)
def test_status(cls: type[JoeyError], status: int) -> None:
    assert cls.status == status
    assert EXAMPLES[cls.__name__].status == status


def test_inference_errors_come_from_the_engine_others_from_the_platform() -> None:
    for name in ("InvalidInputError", "UnsupportedMediaTypeError", "ModelError", "OverCapacityError",
                 "InferenceTimeoutError", "InferenceError"):
        assert isinstance(EXAMPLES[name], InferenceError)
        assert EXAMPLES[name].to_body()["source"] == "engine"
    for name in ("EntityNotFoundError", "InvalidNameError", "DeploymentError", "PipelineNotDeployedError"):
        assert not isinstance(EXAMPLES[name], InferenceError)
        assert EXAMPLES[name].to_body()["source"] == "platform"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_to_body_follows_the_http_contract(name: str) -> None:
    error = EXAMPLES[name]
    body = error.to_body()
    assert {"code", "status", "error", "source"} <= set(body)
    assert body["code"] == error.status
    assert isinstance(body["code"], int)
    assert body["status"] == "error"
    assert body["error"] == str(error)
    assert body["error"]  # never an empty message
    assert body["source"] in ("engine", "platform")


def test_invalid_input_message_names_column_expected_and_actual() -> None:
    error = InvalidInputError("tensor", "float32[29]", "list<item: string>")
    assert error.column == "tensor"
    assert error.expected == "float32[29]"
    assert error.actual == "list<item: string>"
    text = str(error)
    assert "'tensor'" in text
    assert "float32[29]" in text
    assert "list<item: string>" in text


def test_invalid_input_without_a_column_names_the_body() -> None:
    error = InvalidInputError(None, "a non-empty body", "0 bytes")
    assert error.column is None
    assert "request body" in str(error)
    assert "0 bytes" in str(error)


def test_structured_fields() -> None:
    assert EXAMPLES["InvalidNameError"].name == "Bad_Name"  # type: ignore[attr-defined]
    assert EXAMPLES["InvalidNameError"].kind == "pipeline"  # type: ignore[attr-defined]
    assert EXAMPLES["EntityNotFoundError"].name == "ccfraud"  # type: ignore[attr-defined]
    assert "does not exist" in str(EXAMPLES["EntityNotFoundError"])
    assert EXAMPLES["ModelError"].model == "ccfraud"  # type: ignore[attr-defined]
    assert EXAMPLES["OverCapacityError"].retry_after_s == 2  # type: ignore[attr-defined]
    assert OverCapacityError("full").retry_after_s == 1
    assert "joey[onnx]" in str(EXAMPLES["FrameworkNotInstalledError"])
    assert "text/plain" in str(EXAMPLES["UnsupportedMediaTypeError"])
    # The reference's timeout message, verbatim.
    assert str(EXAMPLES["InferenceTimeoutError"]) == (
        "Inference did not return within 15.0s. Adjust the timeout if necessary."
    )


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_error_from_body_rebuilds_class_and_message(name: str) -> None:
    error = EXAMPLES[name]
    rebuilt = error_from_body(error.to_body())
    assert type(rebuilt) is type(error)
    assert str(rebuilt) == str(error)
    assert rebuilt.status == error.status
    assert rebuilt.to_body()["error"] == error.to_body()["error"]


def test_quota_exceeded_names_limit_use_and_allowed_and_keeps_them_through_a_body() -> None:
    error = EXAMPLES["QuotaExceededError"]
    assert str(error) == "quota 'max_deployed_pipelines' exceeded: 2 deployed, 2 allowed (preset community)"
    rebuilt = error_from_body(error.to_body())
    for copy in (error, rebuilt, pickle.loads(pickle.dumps(rebuilt))):
        assert isinstance(copy, QuotaExceededError)
        assert (copy.limit, copy.current, copy.allowed) == ("max_deployed_pipelines", 2, 2)
        assert str(copy) == str(error)
    cores = QuotaExceededError("max_cpu_cores", 0.5, 1.0, "0.5 cores reserved, pipeline 'big' asks 2",
                               "JOEY_QUOTAS")
    assert str(cores) == ("quota 'max_cpu_cores' exceeded: 0.5 cores reserved, pipeline 'big' asks 2, "
                          "1 allowed (JOEY_QUOTAS)")


def test_error_from_body_with_an_unknown_kind_falls_back_by_source() -> None:
    engine = error_from_body({"code": 500, "status": "error", "error": "Internal processing error",
                              "source": "engine"})
    assert type(engine) is InferenceError
    assert str(engine) == "Internal processing error"
    platform = error_from_body({"code": 401, "status": "error", "error": "Jwt is missing",
                                "source": "platform", "kind": "NoSuchError"})
    assert type(platform) is JoeyError
    assert str(platform) == "Jwt is missing"


@pytest.mark.parametrize("name", ["InvalidInputError", "ModelError", "EntityNotFoundError"])
def test_error_rebuilt_from_body_round_trips_through_pickle(name: str) -> None:
    rebuilt = error_from_body(EXAMPLES[name].to_body())
    copy = pickle.loads(pickle.dumps(rebuilt))
    assert type(copy) is type(rebuilt)
    assert str(copy) == str(rebuilt)
