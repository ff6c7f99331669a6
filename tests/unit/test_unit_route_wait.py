"""deploy() waits for Serve's HTTP entry to list the route, briefly when nothing answers there."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from test_unit_spec_and_app import two_step_spec

from joey.cluster import serve_apps

SPEC = two_step_spec()


def _entry(routes: dict[str, str]) -> Iterator[str]:
    class Routes(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(routes).encode() if self.path == "/-/routes" else b""
            self.send_response(200 if body else 404)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Routes)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.fixture
def listed() -> Iterator[str]:
    yield from _entry({SPEC.route_prefix: SPEC.app_name})


@pytest.fixture
def not_listed() -> Iterator[str]:
    yield from _entry({"/infer/other/pipeline": "other-pipeline"})


def _timed(base: str, timeout_s: float) -> float:
    started = time.monotonic()
    serve_apps._wait_routed(SPEC, base, timeout_s, lambda: None)
    return time.monotonic() - started


def test_a_listed_route_ends_the_wait_at_once(listed: str) -> None:
    assert _timed(listed, 30) < 2


def test_an_entry_that_answers_without_the_route_is_waited_for_until_the_timeout(not_listed: str) -> None:
    assert 1.0 <= _timed(not_listed, 1.0) < 5


def test_no_entry_at_all_is_waited_for_briefly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serve_apps, "ROUTE_WAIT_MIN_S", 0.5)
    from support.waiting import free_port

    assert _timed(f"http://127.0.0.1:{free_port()}", 60) < 5
