"""``python -m joey.runtimes.check KEY ARTIFACT CONFIG_JSON``: load a model, say why not.

Run inside a model's isolated environment at upload, so validation sees the model's own
requirements rather than the platform's. A runtime with ``probe_at_upload`` also answers
one generated row, and the answer must fit the declared output schema.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from joey.runtimes.base import Runtime
from joey.runtimes.registry import runtime_class
from joey.spec import TensorField
from joey.tables.tensors import tensor_to_column


def probe(runtime: Runtime, outputs: tuple[TensorField, ...], rows: int = 1) -> None:
    """Run ``example_input()`` and build every declared output column from the answer."""
    answer = runtime.predict(runtime.example_input())
    for field in outputs:
        if field.name not in answer:
            raise ValueError(f"the model answered {sorted(answer)}, not the output schema's {field.name!r}")
        column = tensor_to_column(answer[field.name], field)
        if len(column) != rows:
            raise ValueError(f"output {field.name!r} has {len(column)} rows for {rows}")


def main(argv: list[str]) -> int:
    key, artifact, config_json = argv
    cls = runtime_class(key)
    runtime = cls()
    try:
        config = cls.parse_config(json.loads(config_json))
        runtime.load(Path(artifact), config)
        if cls.probe_at_upload:
            probe(runtime, runtime.signature()[1])
    except Exception as exc:
        print(f"{key} cannot load {Path(artifact).name!r}: {type(exc).__name__}: {exc}")
        return 1
    runtime.close()
    print("ok")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
