"""Chain reloads under load, one after the other (make bench-reloads).

The local target serves its release while locust's browser-like users (the load of
the lifecycle tests: a GET, then a form post, and so on) load the page as fast as one
locust process can, and the app server is chain-reloaded (``systemctl reload``) every
--every seconds for --seconds. Every failed request is listed, with the uWSGI master's
harakiri kills and respawns seen meanwhile; any failure fails the benchmark. Figures:
build/bench-reloads.json.

    python -m tests.lifecycle.bench_reloads --seconds 300 --every 3
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import time

from tests.helpers import ROOT
from tests.lifecycle.loadgen import Load

REPORT = ROOT / "build" / "bench-reloads.json"
URL = "https://127.0.0.1:8443"
CAFILE = str(ROOT / "build" / "names-local.crt")
CONTAINER = "names-local"


def on_target(command: str) -> str:
    run = subprocess.run(["docker", "exec", CONTAINER, "sh", "-c", command],
                         capture_output=True, text=True)  # fmt: skip
    if run.returncode != 0:
        sys.exit(f"{command} on {CONTAINER} failed: {run.stderr.strip()}")
    return run.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--every", type=float, default=3, help="seconds between reloads")
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    since = on_target("date +%s").strip()
    reloads = 0
    # As fast as one locust process goes (its users' rate is never reached), for as long
    # as the reloads go on.
    load = Load(URL, cafile=CAFILE, tag="reloads", clients=args.clients, rate=1000.0,
                min_requests=1, max_requests=10**7, max_seconds=args.seconds + 60)  # fmt: skip
    with load:
        load.wait_for(100)
        started = time.monotonic()
        while time.monotonic() - started < args.seconds:
            on_target("systemctl reload names-uwsgi.service")
            reloads += 1
            time.sleep(args.every)
    report = load.report
    journal = on_target(f"journalctl -u names-uwsgi.service --since @{since} --no-pager")
    result = {
        "reloads": reloads,
        "requests": report.requests,
        "requests_per_second": round(report.requests / report.seconds, 1),
        "failed": len(report.failures),
        "failures": dict(collections.Counter(report.failures)),
        "harakiri_kills": journal.count("HARAKIRI ON WORKER"),
        "workers_died": journal.count("DAMN !"),
        "p99_ms": round(report.percentile(0.99) * 1000, 1),
    }
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if result["failed"] or result["harakiri_kills"] or result["workers_died"]:
        sys.exit(f"chain reloads under load failed requests or lost workers: {REPORT}")


if __name__ == "__main__":
    main()
