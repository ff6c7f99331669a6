"""The ``mac`` package installed with joey: Wallaroo's BYOP interfaces, importable in a user's
own notebook, the very classes joey's replicas load the code with, validated as Wallaroo's."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from joey.runtimes import byop

# Wallaroo's byop example, as a notebook builds and tests it before uploading.
NOTEBOOK = '''
import sys
from typing import Dict

import numpy as np
import pandas as pd

from mac.config.inference import CustomInferenceConfig
from mac.inference import Inference
from mac.inference.creation import InferenceBuilder
from mac.types import InferenceData, PythonStep


def complex_algorithm(x):
    return x + 10 + 3.14 * 42 / 12


class BYOPInference(Inference):
    @property
    def expected_model_types(self):
        return {Dict}

    @Inference.model.setter
    def model(self, model):
        self._raise_error_if_model_is_wrong_type(model)
        self._model = model

    def _predict(self, input_data: InferenceData) -> InferenceData:
        df = pd.DataFrame({k: v.tolist() for k, v in input_data.items()})
        results = [complex_algorithm(row["input_number"]) for _, row in df.iterrows()]
        return {"result": np.array(results, dtype=np.int64),
                "id": np.array(input_data["id"].tolist(), dtype=np.int64)}


class BYOPInferenceBuilder(InferenceBuilder):
    @property
    def inference(self):
        return BYOPInference

    def create(self, config: CustomInferenceConfig) -> BYOPInference:
        inference = self.inference()
        inference.model = self._load_models(config.model_path)
        return inference

    def _load_models(self, model_path):
        return {"dummy_model": "wallaroo"}


config = CustomInferenceConfig(framework="custom", model_path=sys.argv[1],
                               modules_to_include={"*.py"})
inference = BYOPInferenceBuilder().create(config)
input_df = pd.DataFrame({"input_number": [1, 2, 3], "id": [7, 8, 9]})
result = inference.predict(input_data={col: input_df[col].to_numpy() for col in input_df.columns})
print(result["result"].tolist(), result["id"].tolist())
step: PythonStep = inference.predict
heavy = ("ray", "sqlalchemy", "joey.platform", "joey.cluster")
print(sorted(n for n in sys.modules if any(n == h or n.startswith(h + ".") for h in heavy)))
'''


def test_a_notebook_builds_and_runs_its_inference_with_mac_alone(tmp_path: Path) -> None:
    model = tmp_path / "byop"
    model.mkdir()
    (model / "byop.py").write_text("# the model's code\n")
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(NOTEBOOK), str(model)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    printed = done.stdout.splitlines()
    assert printed[0] == "[21, 22, 23] [7, 8, 9]"
    assert printed[1] == "[]"  # mac imports neither Ray nor the control plane


def test_mac_names_are_joeys_classes() -> None:
    import mac.config.inference
    import mac.exceptions
    import mac.inference
    import mac.inference.creation
    import mac.types

    assert mac.inference.Inference is byop.Inference
    assert mac.inference.creation.InferenceBuilder is byop.InferenceBuilder
    assert mac.config.inference.CustomInferenceConfig is byop.CustomInferenceConfig
    assert mac.types.InferenceData is byop.InferenceData
    assert mac.types.PythonStep is byop.PythonStep
    assert mac.exceptions.ModelNotAssignedError is byop.ModelNotAssignedError
    assert mac.inference.ModelNotAssignedError is byop.ModelNotAssignedError


def test_custom_inference_config_defaults_and_coercion(tmp_path: Path) -> None:
    from mac.config.inference import CustomInferenceConfig

    config = CustomInferenceConfig(framework="custom", model_path=str(tmp_path))
    assert config.model_path == tmp_path
    assert config.modules_to_include == {Path("*.py")}


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("framework", "keras", "should be 'custom'"),
        ("model_path", Path("missing-folder"), "existing directory"),
        ("modules_to_include", {"*.txt"}, "only match .py files"),
    ],
    ids=["framework", "model-path", "modules"],
)
def test_custom_inference_config_refuses_what_wallaroo_refuses(
    field: str, value: object, says: str, tmp_path: Path
) -> None:
    from mac.config.inference import CustomInferenceConfig

    arguments: dict[str, object] = {"framework": "custom", "model_path": tmp_path,
                                    "modules_to_include": {"*.py"}}
    arguments[field] = tmp_path / value if isinstance(value, Path) else value
    with pytest.raises(ValidationError, match=says) as caught:
        CustomInferenceConfig(**arguments)
    assert [error["loc"] for error in caught.value.errors()] == [(field,)]


class _Echo(byop.Inference):
    @property
    def expected_model_types(self) -> set[object]:
        return {int}

    def _predict(self, input_data: byop.InferenceData) -> byop.InferenceData:
        return {"echo": input_data["x"] * self.model}


def test_predict_without_a_model_raises_model_not_assigned() -> None:
    from mac.exceptions import ModelNotAssignedError

    inference = _Echo()
    with pytest.raises(ModelNotAssignedError, match="not assigned"):
        inference.predict({"x": np.arange(3)})
    inference.model = 2
    np.testing.assert_array_equal(inference.predict({"x": np.arange(3)})["echo"], [0, 2, 4])
    with pytest.raises(TypeError, match="not of type"):
        inference.model = "two"


def test_expected_model_types_is_abstract() -> None:
    from mac.inference import Inference

    class NoTypes(Inference):
        def _predict(self, input_data: byop.InferenceData) -> byop.InferenceData:
            return input_data

    with pytest.raises(TypeError, match="expected_model_types"):
        NoTypes()  # type: ignore[abstract]
