"""Benchmark the deployed names page (make bench): requests per second and latency.

Runs the lifecycle load generator unpaced against a loopback URL several times
and prints the median of each figure, so a noisy machine shows its spread.
    python -m tests.lifecycle.bench --url https://127.0.0.1:8443 --cacert build/names-local.crt
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

from tests.lifecycle.loadgen import Load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="https://127.0.0.1:8443")
    parser.add_argument("--cacert", help="CA file an HTTPS target is verified against")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=3000, help="requests per run")
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    runs = []
    for run in range(args.runs):
        load = Load(
            args.url,
            clients=args.clients,
            rate=1e9,  # unpaced: as fast as the server answers
            min_requests=args.requests,
            max_requests=args.requests,
            tag=f"bench-{run}",
            cafile=args.cacert,
        )
        with load:
            load.wait_for(args.requests)
        summary = load.report.summary()
        summary["requests_per_second"] = round(summary["requests"] / load.report.seconds, 1)
        runs.append(summary)
        print(json.dumps({k: summary[k] for k in ("requests_per_second", "p50_ms", "p99_ms",
                                                  "failed")}))  # fmt: skip
    medians = {
        key: statistics.median(r[key] for r in runs)
        for key in ("requests_per_second", "p50_ms", "p99_ms", "failed")
    }
    print(f"median of {args.runs} runs of {args.requests} requests: {json.dumps(medians)}")
    failed = [r for r in runs if r["failed"]]
    if failed:
        sys.exit(
            f"{sum(r['failed'] for r in failed)} requests failed in {len(failed)} of {args.runs}"
            f" runs, so these are not the page's figures; the first: {failed[0]['first_failures']}"
            " (a POST rate limit of the inventory answers 429 to a flood from one address:"
            " nginx_post_rate_limit)"
        )


if __name__ == "__main__":
    main()
