"""``python -m joey.service --host 127.0.0.1 --port 8080``: serve the control plane over REST."""

from __future__ import annotations

import argparse

from joey.config import Settings
from joey.service.app import serve


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m joey.service", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    args = parser.parse_args()
    serve(Settings(), args.host, args.port)


if __name__ == "__main__":
    main()
