"""``python -m joey.runtimes.check RUNTIME ARTIFACT CONFIG_JSON``: load a model, say why not.

Run inside a model's isolated environment at upload, so validation sees the model's own
requirements rather than the platform's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from joey.runtimes import runtime_class


def main(argv: list[str]) -> int:
    key, artifact, config_json = argv
    cls = runtime_class(key)
    runtime = cls()
    try:
        runtime.load(Path(artifact), cls.parse_config(json.loads(config_json)))
    except Exception as exc:
        print(f"{key} cannot load {Path(artifact).name!r}: {type(exc).__name__}: {exc}")
        return 1
    runtime.close()
    print("ok")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
