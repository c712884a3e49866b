"""Benchmark the deployed names page (make bench): its ceiling and its latency, side by side
with what nginx does with a static file on the same machine.

1. With NAMES=N, fills the database up to N names first (tests/lifecycle/seed.py on an
   app host), so every figure is taken at that size.
2. Ceiling: wrk (-t2 -c16, 10 s) on four addresses in turn, the whole round RUNS times:
   a static file, the first page, a deep page (the middle of the list, reached through an
   old ?page=N link's redirect) and /healthz. Medians of requests/s, p50 and p99, and
   the ratios the page is judged by: first page ÷ static file, deep page ÷ first page.
   A Python client cannot load nginx to its ceiling; wrk can.
3. Latency under a paced load like visitors': locust, headless, users that read the
   four addresses and post names with their form's token (tests/lifecycle/locustfile.py),
   failures counted per request. Its HTML report and JSON stats go to build/.
Writes build/bench.json, prints a table, and fails when any request failed.
    python -m tests.lifecycle.bench --url https://127.0.0.1:8443 --cacert build/names-local.crt
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import ssl
import statistics
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.helpers import NAME_ITEM, ROOT

SEED = Path(__file__).with_name("seed.py")
LOCUSTFILE = Path(__file__).with_name("locustfile.py")
RUN_AS_APP = [
    "sudo", "-u", "names", "env", "NAMES_CONFIG=production",
    "NAMES_SETTINGS=/etc/names/names.toml", "/srv/names/current/venv/bin/python",
]  # fmt: skip
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url: str, context: ssl.SSLContext) -> tuple[int, str, dict]:
    """Status, body and headers of one GET, redirects not followed."""
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), NoRedirect)
    try:
        with opener.open(url, timeout=30) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), dict(error.headers)


def seed(container: str, names: int) -> dict:
    """Fill the database up to ``names`` (0: only count them)."""
    result = subprocess.run(
        ["docker", "exec", "-i", "-w", "/tmp", container, *RUN_AS_APP, "-", str(names)],
        input=SEED.read_text(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        sys.exit(f"Seeding {container} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def milliseconds(text: str) -> float:
    number, unit = re.fullmatch(r"([0-9.]+)(us|ms|s)", text).groups()
    return round(float(number) * UNITS[unit], 2)


def wrk(url: str, seconds: int, connections: int) -> dict:
    """One wrk run: requests/s, p50, p99 and the requests that failed."""
    output = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    errors = re.search(r"Socket errors: connect (\d+), read \d+, write \d+, timeout (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "requests_per_second": float(re.search(r"Requests/sec:\s+([0-9.]+)", output)[1]),
        "p50_ms": milliseconds(re.search(r"\s50%\s+(\S+)", output)[1]),
        "p99_ms": milliseconds(re.search(r"\s99%\s+(\S+)", output)[1]),
        "failed": (int(non_2xx[1]) if non_2xx else 0)
        + (int(errors[1]) + int(errors[2]) if errors else 0),
    }


def percentile(histogram: dict, fraction: float) -> float:
    """A percentile of locust's response-time histogram ({rounded ms: count})."""
    total = sum(histogram.values())
    seen = 0
    for value, count in sorted((float(k), v) for k, v in histogram.items()):
        seen += count
        if seen >= fraction * total:
            return value
    return 0.0


def run_locust(args, deep: str, static: str) -> list[dict]:
    """Paced visitors (locustfile.py): per request name, requests, failures, p50, p99."""
    build = ROOT / "build"
    report = build / "bench-locust.json"
    env = {
        **os.environ,
        "NAMES_BENCH_CAFILE": str(Path(args.cacert).resolve()) if args.cacert else "",
        "NAMES_BENCH_DEEP": deep,
        "NAMES_BENCH_STATIC": static,
        "NAMES_BENCH_RATE": str(args.rate / args.users),
    }
    subprocess.run(
        [
            str(Path(sys.executable).with_name("locust")), "-f", str(LOCUSTFILE), "Visitor",
            "--headless", "--users", str(args.users), "--spawn-rate", str(args.users),
            "--run-time", f"{args.locust_seconds}s", "--host", args.url, "--only-summary",
            "--html", str(build / "bench-locust.html"), "--json-file", str(report.with_suffix("")),
            "--exit-code-on-error", "0", "--loglevel", "WARNING",
        ],
        env=env, check=True, cwd=ROOT,
    )  # fmt: skip
    return [
        {
            "request": f"{entry['method']} {entry['name']}",
            "requests": entry["num_requests"],
            "failed": entry["num_failures"],
            "p50_ms": percentile(entry["response_times"], 0.50),
            "p99_ms": percentile(entry["response_times"], 0.99),
        }
        for entry in json.loads(report.read_text())
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="https://127.0.0.1:8443")
    parser.add_argument("--cacert", help="CA file an HTTPS target is verified against")
    parser.add_argument("--app-container", default="names-local", help="where to seed")
    parser.add_argument("--names", type=int, default=0, help="fill the database up to this")
    parser.add_argument("--runs", type=int, default=3, help="rounds of the four wrk runs")
    parser.add_argument("--seconds", type=int, default=10, help="each wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--users", type=int, default=16, help="locust users")
    parser.add_argument("--rate", type=float, default=120, help="locust requests/s in all")
    parser.add_argument("--locust-seconds", type=int, default=30)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk (make bench installs it)")
    context = ssl.create_default_context(cafile=args.cacert)

    database = seed(args.app_container, args.names)
    print(f"database: {database['names']:,} names ({database['names_added']:,} added "
          f"in {database['seconds']} s)")  # fmt: skip
    status, body, _ = fetch(f"{args.url}/healthz", context)
    version = json.loads(body)["version"]
    status, body, _ = fetch(f"{args.url}/", context)
    size = max(1, len(NAME_ITEM.findall(body)))
    page = max(2, database["names"] // size // 2)
    status, _, headers = fetch(f"{args.url}/?page={page}", context)
    deep = headers.get("Location", "").removeprefix(args.url) if status == 302 else "/"
    targets = {
        "static file": f"/static/{version}/style.css",
        "first page": "/",
        f"deep page ({page:,})": deep,
        "/healthz": "/healthz",
    }

    runs: dict[str, list[dict]] = {label: [] for label in targets}
    for _ in range(args.runs):
        for label, path in targets.items():
            runs[label].append(wrk(f"{args.url}{path}", args.seconds, args.connections))
    ceiling = {
        label: {
            key: statistics.median(run[key] for run in results)
            for key in ("requests_per_second", "p50_ms", "p99_ms")
        }
        | {"failed": sum(run["failed"] for run in results), "path": targets[label]}
        for label, results in runs.items()
    }
    static, first, deep_page = (ceiling[label] for label in list(targets)[:3])
    ratios = {
        "first page ÷ static file, requests/s": round(
            first["requests_per_second"] / static["requests_per_second"], 3
        ),
        "deep page ÷ first page, p50": round(deep_page["p50_ms"] / first["p50_ms"], 2),
        "deep page ÷ first page, requests/s": round(
            deep_page["requests_per_second"] / first["requests_per_second"], 2
        ),
    }
    visitors = run_locust(args, deep, targets["static file"])

    summary = {
        "names": database["names"],
        "release": version,
        "wrk": f"-t2 -c{args.connections} -d{args.seconds}s, median of {args.runs}",
        "ceiling": ceiling,
        "ratios": ratios,
        "locust": {"users": args.users, "requests_per_second": args.rate, "stats": visitors},
    }
    out = ROOT / "build" / "bench.json"
    out.write_text(json.dumps(summary, indent=2) + "\n")

    print(f"\nCeiling (wrk {summary['wrk']}), {database['names']:,} names:")
    print(f"  {'':24} {'requests/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'failed':>7}")
    for label, figures in ceiling.items():
        print(f"  {label:24} {figures['requests_per_second']:11.0f} {figures['p50_ms']:8.2f}"
              f" {figures['p99_ms']:8.2f} {figures['failed']:7d}")  # fmt: skip
    for label, value in ratios.items():
        print(f"  {label}: {value}")
    print(f"\nVisitors (locust, {args.users} users, {args.rate:g} requests/s in all, "
          f"{args.locust_seconds} s):")  # fmt: skip
    for entry in visitors:
        print(f"  {entry['request']:30} {entry['requests']:7d} requests, {entry['failed']} failed,"
              f" p50 {entry['p50_ms']:g} ms, p99 {entry['p99_ms']:g} ms")  # fmt: skip
    print(f"\n{out.relative_to(ROOT)}, build/bench-locust.html, build/bench-locust.json")
    failed = sum(f["failed"] for f in ceiling.values()) + sum(e["failed"] for e in visitors)
    if failed:
        sys.exit(f"{failed} requests failed: these are not the page's figures")


if __name__ == "__main__":
    main()
