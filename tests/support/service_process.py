"""The control-plane service for real: ``python -m joey.service`` under uvicorn on a free
loopback port, its own JOEY_HOME, the first admin from JOEY_ADMIN_EMAIL/JOEY_ADMIN_PASSWORD."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from support.waiting import free_port

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password-1"
START_TIMEOUT_S = 60.0


@dataclass
class Service:
    url: str
    home: Path
    process: subprocess.Popen[bytes]
    database_url: str = ""

    def post(self, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.post(f"{self.url}/v1/api/{path}", headers=headers, timeout=120, **kwargs)

    def login(self, email: str, password: str) -> str:
        answer = self.post("auth/login", json={"email": email, "password": password})
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])


def start_service(home: Path, extra_env: dict[str, str] | None = None) -> Service:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "JOEY_RAY_ADDRESS")}
    env.update({"JOEY_HOME": str(home), "JOEY_HTTP_PORT": str(free_port()), "JOEY_ADMIN_EMAIL": ADMIN_EMAIL,
                "JOEY_ADMIN_PASSWORD": ADMIN_PASSWORD, **(extra_env or {})})
    log = (home.parent / f"{home.name}-service.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "joey.service", "--host", "127.0.0.1", "--port", str(port)],
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            if httpx.get(f"{url}/v1/api/openapi.json", timeout=2).status_code == 200:
                return Service(url, home, process)
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"the service did not start: {Path(log.name).read_text()[-3000:]}")
        time.sleep(0.2)


def stop_service(service: Service) -> None:
    service.process.terminate()
    try:
        service.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        service.process.kill()
        service.process.wait(timeout=30)


