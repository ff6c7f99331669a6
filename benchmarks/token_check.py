"""What checking a bearer token costs on the inference hot path (issue 14: under 0.1 ms).

``python -m benchmarks.token_check [--out DIR]``: the ingress's ``InferenceGate.check`` for a
token it checked before (the steady state: the service is asked once per token per 2 s) and
the service's ``TokenCache.principal`` likewise, each timed over many calls against a
baseline measured in the same run (a dict lookup of a precomputed key); medians of repeats.
Writes ``token-check.json`` to ``--out`` (default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

CALLS = 20_000
REPEATS = 7


def _per_call_us(run: object) -> float:
    samples = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        run()  # type: ignore[operator]
        samples.append((time.perf_counter() - started) / CALLS * 1e6)
    return statistics.median(samples)


def measure() -> dict[str, float]:
    from joey.config import Settings
    from joey.deployments.inference_auth import InferenceGate
    from joey.platform.accounts import Accounts, Principal
    from joey.platform.store import Store
    from joey.service.auth import TokenCache
    from joey.spec import InferenceAuth

    header = "Bearer joey_" + "x" * 43
    gate = InferenceGate(InferenceAuth(check_url="http://127.0.0.1:9/never-asked", cache_s=3600), "ws")
    gate._known[__import__("hashlib").sha256(header.encode()).hexdigest()] = (time.monotonic() + 3600, None)

    async def gate_calls() -> None:
        for _ in range(CALLS):
            await gate.check(header)

    home = Path(tempfile.mkdtemp())
    store = Store(Settings(home=home).resolved_database_url)
    accounts = Accounts(store)
    admin = accounts.ensure_admin("bench@example.com", "bench-password")
    token = accounts.create_token(Principal(admin.id, admin.email, True), "bench").token
    cache = TokenCache(accounts, ttl_s=3600)
    cache.principal(f"Bearer {token}")

    def cache_calls() -> None:
        for _ in range(CALLS):
            cache.principal(f"Bearer {token}")

    known = {"key": 1}

    def baseline() -> None:
        for _ in range(CALLS):
            known.get("key")

    loop = asyncio.new_event_loop()
    return {
        "ingress_gate_cached_us": _per_call_us(lambda: loop.run_until_complete(gate_calls())),
        "service_token_cache_us": _per_call_us(cache_calls),
        "baseline_dict_lookup_us": _per_call_us(baseline),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results"))
    args = parser.parse_args()
    result = {"date": datetime.now(UTC).isoformat(), "machine": platform.node(), "calls": CALLS,
              "repeats": REPEATS, "median": measure(), "limit_us": 100.0}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "token-check.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["median"], indent=2))


if __name__ == "__main__":
    main()
