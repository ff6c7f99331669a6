"""Running a test module's SDK tests in both modes: embedded, and against the service."""

from __future__ import annotations

from typing import Any

import pytest

SDK_MODES = ("embedded", "remote")


def client_in_both_modes() -> Any:
    """A ``client`` fixture for a test module (``client = client_in_both_modes()``): each test
    runs with the embedded client, then with a remote one signed in to the service (the same
    calls, so the two modes never drift)."""

    @pytest.fixture(params=SDK_MODES, name="client")
    def client(request: pytest.FixtureRequest, client: Any) -> Any:
        return client if request.param == "embedded" else request.getfixturevalue("remote_client")

    return client
