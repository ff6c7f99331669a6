"""Pure tests: starting Ray here is a bug, so ``ray.init`` raises."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _forbid_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    def forbidden(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("unit tests must not start Ray")

    monkeypatch.setattr(ray, "init", forbidden)
