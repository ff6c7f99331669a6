"""``make screenshots``: the dashboard's main pages as PNGs (default ``docs/screenshots/``).

Starts the real service (its own JOEY_HOME in a temporary folder, its own local Ray), builds
the browser test's scene (``dashboard_scene``: two workspaces, a pipeline with a validation
answering real HTTP requests for about a minute), and photographs, in headless Chromium, the
login page, the workspace page, the pipeline's metrics, and its anomaly and audit logs. The
pipeline is undeployed and the service stopped at the end.

    .venv/bin/python tests/support/screenshots.py docs/screenshots
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

from support.dashboard_scene import (  # noqa: E402
    PASSWORD,
    Scene,
    build,
    chromium,
    log_in,
    pipeline_path,
    undeploy,
)
from support.service_process import ADMIN_EMAIL, ADMIN_PASSWORD, start_service, stop_service  # noqa: E402

WIDTH = 1280


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", default="docs/screenshots", type=Path)
    parser.add_argument("--requests", type=int, default=40, help="requests sent (default 40)")
    parser.add_argument("--interval", type=float, default=1.5, help="seconds between them (default 1.5)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="joey-screenshots-") as folder:
        service = start_service(Path(folder) / "home")
        try:
            admin = service.login(ADMIN_EMAIL, ADMIN_PASSWORD)
            print("building the scene (deploy, then requests for about a minute) ...", flush=True)
            scene = build(service, admin, Path(folder), requests=args.requests, rows_per_request=4,
                          interval_s=args.interval)
            try:
                shoot(scene, args.out)
            finally:
                undeploy(scene)
        finally:
            stop_service(service)


def shoot(scene: Scene, out: Path) -> None:
    base = scene.service.url
    with chromium() as browser:
        page = browser.new_context(viewport={"width": WIDTH, "height": 760}, device_scale_factor=1).new_page()
        page.goto(f"{base}/dashboard/login")
        _save(page, out / "login.png")
        log_in(page, Scene.OWNER_EMAIL, PASSWORD)
        page.goto(f"{base}/dashboard/w/{Scene.WORKSPACE_A}")
        _save(page, out / "workspace.png", full=True)
        page.goto(f"{base}{pipeline_path(scene, '15m')}&anomaly_size=10&audit_size=10")
        page.wait_for_selector("#charts[data-drawn=true]", timeout=30_000)
        page.set_viewport_size({"width": WIDTH, "height": 1000})
        _save(page, out / "pipeline-metrics.png")
        page.evaluate("document.getElementById('anomalies').scrollIntoView()")
        _save(page, out / "pipeline-anomalies-audit.png")


def _save(page: object, path: Path, full: bool = False) -> None:
    page.screenshot(path=str(path), full_page=full)  # type: ignore[attr-defined]
    try:  # a 256-colour palette keeps the committed PNGs small (Pillow comes with matplotlib)
        from PIL import Image
    except ImportError:
        pass
    else:
        with Image.open(path) as image:
            image.convert("RGB").quantize(256).save(path, optimize=True)
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB)", flush=True)


if __name__ == "__main__":
    main()
