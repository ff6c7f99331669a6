"""A BYOP model's requirements.txt is installed into its own environment, not the platform's."""

from __future__ import annotations

import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import joey
from joey.testing.code_models import byop_zip

pytestmark = pytest.mark.ray

PINNED = "1.16.0"

SOURCE = '''
from importlib import metadata
import numpy as np
from mac.inference import Inference
from mac.inference.creation import InferenceBuilder


class VersionInference(Inference):
    @property
    def expected_model_types(self):
        return {str}

    def _predict(self, input_data):
        import six
        rows = len(input_data["x"])
        version = metadata.version("six")
        return {"doubled": np.asarray(input_data["x"]) * 2,
                "six_version": np.array([version] * rows, dtype=object),
                "six_module": np.array([six.__version__] * rows, dtype=object)}


class VersionBuilder(InferenceBuilder):
    @property
    def inference(self):
        return VersionInference()

    def create(self, config):
        inference = self.inference
        inference.model = "six"
        return inference
'''


def test_byop_sees_its_pinned_version_inside_the_replica(client, tmp_path: Path) -> None:
    assert metadata.version("six") != PINNED, "the test needs the platform to carry another six"
    artifact = byop_zip(tmp_path / "versioned.zip", source=SOURCE, requirements=f"six=={PINNED}\n")
    schemas = {
        "input_schema": pa.schema([pa.field("x", pa.float64())]),
        "output_schema": pa.schema([pa.field("doubled", pa.float64()), pa.field("six_version", pa.string()),
                                    pa.field("six_module", pa.string())]),
    }
    model = client.upload_model("versioned", artifact, framework=joey.Framework.CUSTOM, **schemas)
    assert any("Isolated environment" in line for line in model.get_upload_logs())
    pipeline = client.build_pipeline("versioned").add_model_step(model).deploy()
    result = pipeline.infer(pa.table({"x": pa.array([1.0, 2.5])}))
    assert result.column("out.six_version").to_pylist() == [PINNED, PINNED]
    assert result.column("out.six_module").to_pylist() == [PINNED, PINNED]
    np.testing.assert_array_equal(result.column("out.doubled").to_numpy(), [2.0, 5.0])
    pipeline.undeploy()
    # the environment is kept: a second upload of the same requirements builds nothing
    started = time.monotonic()
    again = client.upload_model("versioned", artifact, framework=joey.Framework.CUSTOM, **schemas)
    assert time.monotonic() - started < 30
    assert not any("Building isolated environment" in line for line in again.get_upload_logs())
