"""Shared fixtures: one real local Ray and Serve per session, cleaned after each test."""

from __future__ import annotations

import os

# Before Ray is imported anywhere: a local Ray then uses 127.0.0.1 as its node address.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
# Ray exports metrics every 10 s by default; the metrics tests scrape sooner.
os.environ.setdefault("RAY_metrics_report_interval_ms", "1000")

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.waiting import free_port

from joey.config import Settings


@pytest.fixture(scope="session")
def ray_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A local Ray with Serve's proxy on a free 127.0.0.1 port, shared by the session."""
    from joey.cluster import ensure_serve

    settings = Settings(home=tmp_path_factory.mktemp("ray-home"), http_port=free_port())
    ensure_serve(settings)
    yield settings
    import ray
    from ray import serve

    serve.shutdown()
    ray.shutdown()


@pytest.fixture
def settings(ray_serve: Settings, tmp_path: Path) -> Settings:
    """Settings of a fresh JOEY_HOME using the session's Ray and Serve (and its isolated
    environments, which take a minute each to build)."""
    return Settings(home=tmp_path / "joey-home", http_port=ray_serve.http_port,
                    envs_dir=ray_serve.home / "envs")


@pytest.fixture
def client(settings: Settings) -> Iterator[object]:
    """An embedded Client; every Serve application is deleted after the test."""
    from ray import serve

    from joey import Client

    yield Client(settings=settings)
    for name in list(serve.status().applications):
        serve.delete(name)


@pytest.fixture(scope="session")
def sdk_service(ray_serve: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The control-plane service (``python -m joey.service``) deploying to the session's Ray and
    Serve: what the SDK's remote mode talks to in the tests that run in both modes."""
    import ray
    from support.service_process import start_service, stop_service

    service = start_service(tmp_path_factory.mktemp("sdk-service") / "home",
                            {"JOEY_RAY_ADDRESS": ray.get_runtime_context().gcs_address,
                             "JOEY_HTTP_PORT": str(ray_serve.http_port),
                             "JOEY_ENVS_DIR": str(ray_serve.home / "envs")})
    yield service
    stop_service(service)


@pytest.fixture
def remote_client(sdk_service: object) -> Iterator[object]:
    """A remote Client (``Client(api_endpoint=...)``) signed in to the service as its admin, in a
    fresh workspace of its own; every Serve application is deleted after the test."""
    import uuid

    from ray import serve
    from support.service_process import ADMIN_EMAIL, ADMIN_PASSWORD

    from joey import Client

    wl: object = Client(api_endpoint=sdk_service.url, auth_type="user_password",  # type: ignore[attr-defined]
                        settings=Settings(user=ADMIN_EMAIL, password=ADMIN_PASSWORD))
    wl.set_current_workspace(wl.create_workspace(f"t-{uuid.uuid4().hex[:12]}"))  # type: ignore[attr-defined]
    yield wl
    for name in list(serve.status().applications):
        serve.delete(name)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server on a free 127.0.0.1 port, shared by the session: the
    SQLAlchemy URL of its database ``joey`` (``support.postgres.fresh_database`` gives a
    test its own). Fails, saying to run ``make install``, without PostgreSQL installed;
    ``JOEY_TEST_POSTGRES=0`` skips instead."""
    from contextlib import ExitStack

    from support.postgres import PostgresUnavailableError, postgres_disabled, postgres_server

    if postgres_disabled():
        pytest.skip("JOEY_TEST_POSTGRES=0: the PostgreSQL tests are skipped")
    with ExitStack() as stack:
        try:
            url = stack.enter_context(postgres_server())
        except PostgresUnavailableError as exc:
            unavailable = str(exc)
        else:
            yield url
            return
    pytest.fail(f"PostgreSQL is needed by this test: {unavailable}", pytrace=False)
