"""Zips from Wallaroo's own tutorials load as they are: the demand-curve preprocessing zip
holds only ``preprocess_dc_byop/preprocessor.py``, no ``requirements.txt``."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from joey.runtimes.byop import ByopValidationError, find_builder, unpack
from joey.testing.code_models import BYOP_SOURCE, byop_zip

PREPROCESSOR = '''
from typing import Any, Set

import numpy as np
import pandas as pd

from mac.config.inference import CustomInferenceConfig
from mac.inference import Inference
from mac.inference.creation import InferenceBuilder
from mac.types import InferenceData


class Preprocessor(Inference):
    @property
    def expected_model_types(self) -> Set[Any]:
        return {int}

    @Inference.model.setter
    def model(self, model) -> None:
        self._raise_error_if_model_is_wrong_type(model)
        self._model = model

    def _predict(self, input_data: InferenceData) -> InferenceData:
        df = pd.DataFrame(input_data)
        df.cust_known = np.where(df.cust_known, 1, 0)
        df["UnitPriceXcust_known"] = df.UnitPrice * df.cust_known
        return {"tensor": df.loc[:, ["UnitPrice", "cust_known", "UnitPriceXcust_known"]].to_numpy()}


class PreprocessorBuilder(InferenceBuilder):
    @property
    def inference(self) -> Preprocessor:
        return Preprocessor()

    def create(self, config: CustomInferenceConfig) -> Preprocessor:
        inference = self.inference
        inference.model = 1
        return inference
'''

PRE_INPUT = pa.schema([
    pa.field("Date", pa.string()),
    pa.field("cust_known", pa.bool_()),
    pa.field("StockCode", pa.int32()),
    pa.field("UnitPrice", pa.float32()),
    pa.field("UnitsSold", pa.int32()),
])
PRE_OUTPUT = pa.schema([pa.field("tensor", pa.list_(pa.float64()))])


def demand_curve_zip(path: Path) -> Path:
    """Shaped like Wallaroo's ``preprocess_dc_byop.zip``: one folder, one ``.py``, nothing else."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("preprocess_dc_byop/preprocessor.py", PREPROCESSOR)
    return path


@pytest.mark.ray
def test_demand_curve_preprocessor_uploads_and_serves(client, tmp_path: Path) -> None:
    import joey

    artifact = demand_curve_zip(tmp_path / "preprocess_dc_byop.zip")
    model = client.upload_model("preprocess-dc", artifact, framework=joey.Framework.CUSTOM,
                                input_schema=PRE_INPUT, output_schema=PRE_OUTPUT)
    assert model.status() == "ready"
    logs = model.get_upload_logs()
    assert ("Warning: no requirements.txt in preprocess_dc_byop.zip; treated as empty "
            "(Wallaroo requires one, even empty)") in logs
    pipeline = client.build_pipeline("demand-curve").add_model_step(model).deploy()
    try:
        frame = pd.DataFrame({
            "Date": ["2010-12-01", "2010-12-02"], "cust_known": [True, False],
            "StockCode": np.array([85123, 71053], np.int32),
            "UnitPrice": np.array([2.55, 3.39], np.float32),
            "UnitsSold": np.array([6, 8], np.int32),
        })
        result = pipeline.infer(frame)
        price = frame["UnitPrice"].to_numpy().astype(np.float64)
        known = np.array([1.0, 0.0])
        expected = np.stack([price, known, price * known], axis=1)
        np.testing.assert_array_equal(np.array(result["out.tensor"].tolist()), expected)
    finally:
        pipeline.undeploy()


def test_a_zip_without_requirements_loads(tmp_path: Path) -> None:
    folder = unpack(demand_curve_zip(tmp_path / "pre.zip"))
    assert folder.name == "preprocess_dc_byop"
    assert find_builder(folder).__name__ == "PreprocessorBuilder"


SCALE = BYOP_SOURCE.format(input="x")
TWO_BUILDERS = SCALE + "\nclass Another(ScaleInferenceBuilder):\n    pass\n"


@pytest.mark.parametrize(
    ("source", "rule"),
    [
        (SCALE.split("class ScaleInferenceBuilder")[0], "no InferenceBuilder subclass"),
        (TWO_BUILDERS, "exactly one InferenceBuilder"),
    ],
    ids=["no-builder", "two-builders"],
)
def test_the_other_rules_still_hold_without_requirements(source: str, rule: str,
                                                         tmp_path: Path) -> None:
    folder = unpack(byop_zip(tmp_path / "m.zip", source=source, requirements=None))
    with pytest.raises(ByopValidationError, match=rule):
        find_builder(folder)


def test_only_the_model_folders_requirements_count(tmp_path: Path) -> None:
    from joey.runtimes.archive import requirements_of

    nested = tmp_path / "nested.zip"
    with zipfile.ZipFile(nested, "w") as archive:
        archive.writestr("model.py", SCALE)
        archive.writestr("artifacts/requirements.txt", "six==1.16.0\n")
    assert requirements_of(nested, "custom") is None  # a requirements.txt under artifacts/ is not the model's
    folder = tmp_path / "folder.zip"
    with zipfile.ZipFile(folder, "w") as archive:
        archive.writestr("byop/model.py", SCALE)
        archive.writestr("byop/requirements.txt", "# none\n")
        archive.writestr("byop/artifacts/requirements.txt", "six==1.16.0\n")
    assert requirements_of(folder, "custom") == []
    plain = byop_zip(tmp_path / "plain.zip", requirements="six==1.16.0\n")
    assert requirements_of(plain, "custom") == ["six==1.16.0"]
