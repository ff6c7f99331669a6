"""MLflow models (runtime ``mlflow``): a pyfunc directory, a zip of one, or a ``models:/`` URI.

The model runs through ``mlflow.pyfunc`` in its own environment. Its signature, when the
``MLmodel`` file has one, fills the Arrow schemas; its ``requirements.txt`` becomes the step's
pip list once relaxed (no ``+local`` tags, no pins on what joey already installs). Flavors
that have an ONNX converter (sklearn, xgboost, pytorch, keras) can be converted like the
plain framework files (``joey.runtimes.mlflow_onnx``); anything else (a custom ``PythonModel``)
runs as the pyfunc.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from joey.runtimes.archive import canonical_name, requirement_name
from joey.runtimes.base import REPLICA_PACKAGES, InferenceData, Runtime, RuntimeConfig, SchemaConfig
from joey.spec import TensorField

__all__ = [
    "MlflowConfig",
    "MlflowRuntime",
    "arrow_schemas_from_signature",
    "default_schemas",
    "mlflow_schema_to_arrow",
    "model_folder",
    "model_requirements",
    "relax_requirements",
    "requirements_of",
    "resolve_model_uri",
    "resolve_uri",
    "to_onnx",
]

TORCH_PIN = "torch==2.13.0"
"""The only torch joey installs (a CPU wheel); a model's own torch pin is replaced by it."""
DEFAULT_OUTPUT = "predictions"
"""An unnamed result's column: MLflow's REST answer ``{"predictions": ...}`` and Wallaroo's."""


class MlflowConfig(SchemaConfig):
    """The model's inputs and outputs: given by the user, or read from the MLmodel signature."""


# --- finding the model --------------------------------------------------------------------


def model_folder(artifact: Path) -> Path:
    """The folder holding ``MLmodel``: the artifact itself, a zip of it unpacked, or the one
    sub-folder that has it (a zip or folder of one model folder)."""
    from joey.runtimes.archive import unpack

    folder = unpack(artifact)
    if (folder / "MLmodel").is_file():
        return folder
    found = sorted(p.parent for p in folder.glob("*/MLmodel"))
    if len(found) != 1:
        what = "no" if not found else f"{len(found)}"
        raise ValueError(f"{artifact.name}: {what} MLmodel file at the top or one folder down; "
                         "upload the folder mlflow.<flavor>.save_model wrote")
    return found[0]


def resolve_model_uri(uri: str, tracking_uri: str | None, destination: Path | None = None) -> Path:
    """A local model folder for a path, or for an MLflow URI (``models:/name/1``,
    ``models:/name@alias``, ``models:/name/latest``, ``models:/m-<id>``, ``runs:/…``) looked
    up in ``tracking_uri`` (also the registry; None: mlflow's own default).

    URIs are downloaded (copied for a local store) into ``destination`` or a new temp folder,
    so that joey keeps its own copy: ``mlflow.register_model(<dir>)`` only records the dir.
    """
    if "://" not in uri and not uri.startswith(("models:", "runs:")):
        path = Path(uri).expanduser()
        if not path.exists():
            raise ValueError(f"MLflow model {uri!r}: no such file or folder")
        return model_folder(path)
    from mlflow.artifacts import download_artifacts

    target = destination or Path(tempfile.mkdtemp(prefix="joey-mlflow-"))
    try:
        source = _registry_source(uri, tracking_uri) if uri.startswith("models:") else uri
        local = download_artifacts(artifact_uri=source, dst_path=str(target),
                                   tracking_uri=tracking_uri, registry_uri=tracking_uri)
        return model_folder(Path(local))
    except Exception as exc:
        if destination is None:
            shutil.rmtree(target, ignore_errors=True)
        where = tracking_uri or "mlflow's default tracking URI"
        raise ValueError(f"MLflow model {uri!r} does not resolve in {where}: "
                         f"{type(exc).__name__}: {exc}") from exc


def _registry_source(uri: str, tracking_uri: str | None) -> str:
    """Where a ``models:/`` URI's files are, asked of ``tracking_uri``'s registry.

    (``download_artifacts`` resolves ``models:/`` in the process-wide registry, ignoring its
    ``registry_uri`` argument, in mlflow 3.17.)
    """
    from mlflow import MlflowClient
    from mlflow.store.artifact.utils.models import get_model_name_and_version

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    found = get_model_name_and_version(client, uri)
    if len(found) == 1:  # models:/m-<id>: a logged model, not a registered version
        return str(client.get_logged_model(found[0]).artifact_location)
    name, version = found
    return str(client.get_model_version_download_uri(name, str(version)))


# --- signature -> Arrow ---------------------------------------------------------------------


def _arrow_type(mlflow_type: Any, column: str) -> pa.DataType:
    """One ColSpec type as Arrow: scalars, ``Array`` as list, ``Object`` as struct, ``Map``."""
    from mlflow.types.schema import Array, DataType, Map, Object

    scalars = {
        DataType.boolean: pa.bool_(), DataType.integer: pa.int32(), DataType.long: pa.int64(),
        DataType.float: pa.float32(), DataType.double: pa.float64(),
        DataType.string: pa.string(), DataType.binary: pa.binary(),
        DataType.datetime: pa.timestamp("ns"),
    }
    if isinstance(mlflow_type, DataType) and mlflow_type in scalars:
        return scalars[mlflow_type]
    if isinstance(mlflow_type, Array):
        return pa.list_(_arrow_type(mlflow_type.dtype, column))
    if isinstance(mlflow_type, Object):
        return pa.struct([(p.name, _arrow_type(p.dtype, column)) for p in mlflow_type.properties])
    if isinstance(mlflow_type, Map):
        return pa.map_(pa.string(), _arrow_type(mlflow_type.value_type, column))
    raise ValueError(f"signature column {column!r}: no Arrow type for {mlflow_type!r}; "
                     "give input_schema and output_schema")


def mlflow_schema_to_arrow(schema: Any, default_name: str) -> pa.Schema:
    """An ``mlflow.types.Schema`` as Arrow; unnamed specs are ``default_name`` (or
    ``default_name_1``, ``_2``… when several). A tensor's non-batch dims become nested
    ``fixed_size_list`` (``-1`` a plain list); ``required`` columns are ``not null``."""
    from mlflow.types.schema import TensorSpec

    specs = schema.inputs
    fields = []
    for index, spec in enumerate(specs):
        name = spec.name or (default_name if len(specs) == 1 else f"{default_name}_{index + 1}")
        if isinstance(spec, TensorSpec):
            arrow_type = pa.from_numpy_dtype(spec.type)
            for dim in reversed(spec.shape[1:]):  # the first dim is the batch
                arrow_type = pa.list_(arrow_type, dim) if dim > 0 else pa.list_(arrow_type)
            fields.append(pa.field(name, arrow_type))
        else:
            fields.append(pa.field(name, _arrow_type(spec.type, name), nullable=not spec.required))
    return pa.schema(fields)


def _signature(model_dir: Path) -> Any:
    """The MLmodel's signature (or None), read without loading the model."""
    from mlflow.models import Model

    return Model.load(str(model_dir / "MLmodel")).signature


def arrow_schemas_from_signature(model_dir: Path) -> tuple[pa.Schema, pa.Schema] | None:
    """(input schema, output schema) from the MLmodel signature; None when it has none (or
    no outputs): then the user's schemas are required, as in Wallaroo."""
    signature = _signature(model_folder(model_dir))
    if signature is None or signature.inputs is None or signature.outputs is None:
        return None
    return (mlflow_schema_to_arrow(signature.inputs, "inputs"),
            mlflow_schema_to_arrow(signature.outputs, DEFAULT_OUTPUT))


# --- requirements ---------------------------------------------------------------------------


def installed_mlflow_version() -> str:
    """The mlflow version this process has (joey installs ``mlflow-skinny``)."""
    for distribution in ("mlflow-skinny", "mlflow"):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    raise ValueError("mlflow is not installed: install joey's 'mlflow' extra")


def _without_local(specifier: Any) -> str:
    """``==2.13.0+cpu`` -> ``==2.13.0``: no public index serves local versions."""
    parts = []
    for spec in specifier:
        version = spec.version.split("+", 1)[0]
        parts.append(f"{spec.operator}{version}")
    return ",".join(sorted(parts))


def relax_requirements(lines: Iterable[str], base_packages: Iterable[str],
                       mlflow_version: str) -> list[str]:
    """A model's pip requirements made installable next to joey.

    Drops comments, blanks and option lines (``-r``, ``-c``, ``--index-url``); strips
    ``+local`` tags; ``mlflow`` becomes ``mlflow-skinny==<mlflow_version>`` (the full
    package pins ``pyarrow<26``); any ``torch`` becomes ``torch==2.13.0``; packages in
    ``base_packages`` keep their name without a pin (the base env's version wins).
    Duplicates keep the first.
    """
    from packaging.requirements import InvalidRequirement, Requirement

    base = {canonical_name(name) for name in base_packages}
    kept: dict[str, str] = {}
    for raw in lines:
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            kept.setdefault(line, line)  # pip will say what is wrong with it
            continue
        name = canonical_name(requirement.name)
        marker = f"; {requirement.marker}" if requirement.marker else ""
        extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
        if name in ("mlflow", "mlflow-skinny"):
            name, text = "mlflow-skinny", f"mlflow-skinny=={mlflow_version}"
        elif name == "torch":
            text = TORCH_PIN
        elif requirement.url:
            text = line
        elif name in base:
            text = f"{requirement.name}{extras}{marker}"
        else:
            text = f"{requirement.name}{extras}{_without_local(requirement.specifier)}{marker}"
        kept.setdefault(name, text)
    return list(kept.values())


def model_requirements(model_dir: Path, base_packages: Iterable[str]) -> list[str]:
    """The model's ``requirements.txt`` (what ``mlflow.pyfunc.get_model_dependencies``
    returns, read directly: no network, no conda), relaxed by ``relax_requirements``."""
    path = model_folder(model_dir) / "requirements.txt"
    if not path.is_file():
        return []
    return relax_requirements(path.read_text().splitlines(), base_packages,
                              installed_mlflow_version())


# --- the runtime ----------------------------------------------------------------------------


def _column(values: np.ndarray, field: TensorField) -> Any:
    """One DataFrame column: scalars as they are, list-valued fields one array per row."""
    if field.shape:
        return list(values)
    return values


def _as_array(values: Any, field: TensorField) -> np.ndarray:
    """One result column as ``field`` wants it: per-row lists stacked, (n, 1) squeezed, cast.

    Values that do not fit one dense array of the field's dtype (ragged lists, nulls) stay
    one Python value per row when the field is per-row (``field.arrow``), else raise.
    """
    import pandas as pd

    if isinstance(values, pd.DataFrame | pd.Series):
        values = values.to_numpy()
    array = np.asarray(values) if not isinstance(values, list) else _rows(values)
    try:
        if array.dtype == object and field.shape and len(array):
            array = np.stack([np.asarray(row) for row in array])
        if not field.shape and array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        if field.dtype == "string":
            return np.asarray([v if v is None else str(v) for v in array.tolist()], dtype=object)
        return array.astype(field.dtype)
    except (TypeError, ValueError) as exc:
        if field.arrow is None:
            raise ValueError(f"the MLflow model's {field.name!r} is not {field.describe()}: {exc}") from exc
        return _rows(list(array))


def _rows(values: list[Any]) -> np.ndarray:
    """A list as a 1-D object array, one entry per row (``np.asarray`` would nest lists)."""
    try:
        array = np.asarray(values)
    except ValueError:  # ragged
        array = np.empty(0)
    if array.dtype != object and array.ndim >= 1:
        return array
    rows = np.empty(len(values), dtype=object)
    rows[:] = values
    return rows


class MlflowRuntime(Runtime):
    """An MLflow pyfunc model, called with a DataFrame (or a tensor, as its signature says)."""

    name = "mlflow"
    config_type = MlflowConfig
    probe_at_upload = True

    def __init__(self) -> None:
        self.model: Any = None
        self.folder: Path | None = None
        self._tensor_input = False

    def load(self, artifact: Path, config: RuntimeConfig) -> None:
        import mlflow.pyfunc

        self.keep_schema(config)
        self.folder = model_folder(artifact)
        self.model = mlflow.pyfunc.load_model(str(self.folder))
        self._tensor_input = self._takes_tensors(self.model.metadata.signature)

    def _takes_tensors(self, signature: Any) -> bool:
        """Tensors (not a DataFrame) when the signature is tensor-based, or, without one,
        for a single list-valued numeric input (what sklearn/xgboost/torch models want)."""
        if signature is not None and signature.inputs is not None:
            return bool(signature.inputs.is_tensor_spec())
        only = self._inputs[0] if len(self._inputs) == 1 else None
        return only is not None and bool(only.shape) and only.dtype != "string"

    def model_input(self, data: InferenceData) -> Any:
        """The pyfunc's input: one ndarray for a single unnamed tensor, a dict of ndarrays for
        named tensors, else a DataFrame with one column per input field."""
        import pandas as pd

        if self._tensor_input:
            signature = self.model.metadata.signature
            named = signature is not None and signature.inputs.has_input_names()
            if len(self._inputs) == 1 and not named:
                return data[self._inputs[0].name]
            return {f.name: data[f.name] for f in self._inputs}
        return pd.DataFrame({f.name: _column(data[f.name], f) for f in self._inputs})

    def predict(self, data: InferenceData) -> InferenceData:
        return self.outputs_from(self.model.predict(self.model_input(data)))

    def outputs_from(self, result: Any) -> InferenceData:
        """Name the pyfunc's answer: a DataFrame's columns or a dict's keys by output name;
        one unnamed result (ndarray, Series, list) is the single output field."""
        import pandas as pd

        outputs = self._outputs
        if isinstance(result, pd.DataFrame):
            if all(f.name in result.columns for f in outputs):
                return {f.name: _as_array(result[f.name], f) for f in outputs}
            if len(outputs) == 1:  # unnamed columns (a torch model's 0..k-1): the one output
                return {outputs[0].name: _as_array(result, outputs[0])}
            missing = [f.name for f in outputs if f.name not in result.columns]
            raise ValueError(f"the MLflow model's answer has no column {missing[0]!r} "
                             f"(it has {[str(c) for c in result.columns]})")
        if isinstance(result, dict):
            missing = [f.name for f in outputs if f.name not in result]
            if missing:
                raise ValueError(f"the MLflow model's answer has no key {missing[0]!r} "
                                 f"(it has {sorted(map(str, result))})")
            return {f.name: _as_array(result[f.name], f) for f in outputs}
        if len(outputs) != 1:
            raise ValueError(f"the MLflow model returned one unnamed {type(result).__name__}; "
                             f"outputs {[f.name for f in outputs]} need a DataFrame or dict "
                             "with those names")
        return {outputs[0].name: _as_array(result, outputs[0])}


# --- the framework record's hooks (joey.runtimes.registry) ----------------------------------


def default_schemas(artifact: Path, _framework: str) -> tuple[pa.Schema, pa.Schema] | None:
    """The MLmodel signature's schemas; None when the user must give them."""
    return arrow_schemas_from_signature(artifact)


def requirements_of(artifact: Path, _framework: str) -> list[str]:
    """The model's own requirements, relaxed, for its isolated environment: an MLflow model
    always runs in one (with mlflow-skinny), so its dependencies never touch the platform's."""
    requirements = model_requirements(model_folder(artifact), REPLICA_PACKAGES)
    names = {requirement_name(line) for line in requirements}
    if "mlflow-skinny" not in names:
        requirements.append(f"mlflow-skinny=={installed_mlflow_version()}")
    if "pandas" not in names:  # mlflow.pyfunc imports it; mlflow-skinny does not install it
        requirements.append("pandas")
    return requirements


def to_onnx(runtime: Runtime, artifact: Path, inputs: tuple[TensorField, ...]) -> Any:
    from joey.runtimes.mlflow_onnx import flavor_to_onnx

    """``flavor_to_onnx`` on the loaded runtime's folder (the artifact's, unpacked once)."""
    folder = getattr(runtime, "folder", None) or artifact
    return flavor_to_onnx(Path(folder), inputs)[1]


def resolve_uri(uri: str, tracking_uri: str | None = None) -> Path:
    """``resolve_model_uri`` with mlflow's default tracking URI (``MLFLOW_TRACKING_URI``)."""
    return resolve_model_uri(uri, tracking_uri)
