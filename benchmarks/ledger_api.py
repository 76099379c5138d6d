#!/usr/bin/env python
"""Capability search through the Ledger's HTTP API, next to the same search run directly on the store.

Seeds a temporary SQLite Ledger, serves the real API with uvicorn on 127.0.0.1 (a free port, in a
thread), then runs the same capability queries both ways, one request at a time: over HTTP with a
keep-alive client and a production-tier key, and in process as `search(q, store.entries())`. Prints
p50/p99 latency and requests per second for both and the HTTP/direct ratio, i.e. what the API layer
(HTTP, auth, rate limiting, validation, JSON) costs on top of the ranking itself.

    .venv/bin/python benchmarks/ledger_api.py [--requests 2000] [--json]
"""

import argparse
import json
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from ledger.api.keys import KeyStore, Tier
from ledger.api.server import ServerThread
from ledger.api.settings import LedgerApiSettings
from ledger.search import search
from ledger.seed import SEED_VERSION_SOURCE, load_seed_entries
from ledger.store import LedgerStore, percentile

QUERIES = (
    "social sentiment",
    "gpu compute",
    "llm inference",
    "web search",
    "price prediction",
    "deepfake detection",
    "protein folding",
    "blockchain rpc",
)
LIMIT = 20
WARMUP = 50


def measure(call: Callable[[str], list[int]], requests: int) -> dict[str, float]:
    for index in range(WARMUP):
        call(QUERIES[index % len(QUERIES)])
    latencies: list[float] = []
    began = time.perf_counter()
    for index in range(requests):
        start = time.perf_counter()
        call(QUERIES[index % len(QUERIES)])
        latencies.append((time.perf_counter() - start) * 1_000)
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "p50_ms": percentile(latencies, 50) or 0.0,
        "p99_ms": percentile(latencies, 99) or 0.0,
        "requests_per_s": round(requests / elapsed, 1),
    }


def run(requests: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        store = LedgerStore(f"sqlite:///{Path(folder) / 'ledger.db'}")
        try:
            store.seed(load_seed_entries(), source=SEED_VERSION_SOURCE)
            key = KeyStore(store).create("benchmark", Tier.PRODUCTION).key
            settings = LedgerApiSettings(
                port=0,
                dispatch_webhooks=False,
                rate_production_per_minute=max(6_000, 10 * (requests + WARMUP)),
            )

            def direct(query: str) -> list[int]:
                return [hit.netuid for hit in search(query, store.entries(), limit=LIMIT)]

            with (
                ServerThread(store, settings) as server,
                httpx.Client(base_url=server.url, headers={"X-API-Key": key}, timeout=10) as http,
            ):

                def over_http(query: str) -> list[int]:
                    response = http.get("/v1/search", params={"q": query, "limit": LIMIT})
                    response.raise_for_status()
                    return [hit["netuid"] for hit in response.json()["items"]]

                same = all(over_http(query) == direct(query) for query in QUERIES)
                direct_figures = measure(direct, requests)
                http_figures = measure(over_http, requests)
        finally:
            store.close()
    return {
        "requests": requests,
        "queries": list(QUERIES),
        "subnets": len(load_seed_entries()),
        "same_results": same,
        "direct": direct_figures,
        "http": http_figures,
        "ratio_http_over_direct": {
            "p50": round(http_figures["p50_ms"] / direct_figures["p50_ms"], 2),
            "p99": round(http_figures["p99_ms"] / direct_figures["p99_ms"], 2),
            "throughput": round(direct_figures["requests_per_s"] / http_figures["requests_per_s"], 2),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2_000, help="searches per side (default 2000)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.requests < 1:
        parser.error("--requests must be at least 1")
    logging.basicConfig(level=logging.WARNING)
    report = run(args.requests)
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"capability search, {report['requests']} requests per side, {report['subnets']} subnets")
    print(f"{'':8} {'p50 ms':>9} {'p99 ms':>9} {'req/s':>9}")
    for side in ("direct", "http"):
        figures = report[side]
        print(
            f"{side:8} {figures['p50_ms']:>9.3f} {figures['p99_ms']:>9.3f} {figures['requests_per_s']:>9.1f}"
        )
    ratio = report["ratio_http_over_direct"]
    print(f"HTTP/direct: p50 x{ratio['p50']}, p99 x{ratio['p99']}, throughput x{ratio['throughput']} lower")
    print(f"same ranking both ways: {'yes' if report['same_results'] else 'NO'}")
    return 0 if report["same_results"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
