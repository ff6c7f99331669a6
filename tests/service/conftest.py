"""Fixtures: the control-plane service (``service_process``), started once per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from service_process import ADMIN_EMAIL, ADMIN_PASSWORD, Service, start_service, stop_service


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    running = start_service(tmp_path_factory.mktemp("service") / "home")
    yield running
    stop_service(running)


@pytest.fixture(scope="module")
def admin_token(service: Service) -> str:
    return service.login(ADMIN_EMAIL, ADMIN_PASSWORD)
