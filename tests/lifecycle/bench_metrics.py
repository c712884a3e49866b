"""What the app's own metrics cost the page (make bench-metrics).

The local target serves --version with names_app_metrics on, then off, --runs rounds in
turn (a settings change each time: the workers reload with the counting or without it);
after each switch wrk loads the first page at its ceiling (-t2 -c16, 10 s). Medians of
requests/s, p50 and p99 with the metrics on and off, and the cost: how many fewer
requests/s the page answers with them on. Any failed request fails the benchmark. The
local target is left as its inventory says. Figures: build/bench-metrics.json.

    python -m tests.lifecycle.bench_metrics --version 1.0.0 --runs 8
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import ROOT
from tests.lifecycle.bench import wrk

REPORT = ROOT / "build" / "bench-metrics.json"
PAGE = "https://127.0.0.1:8443/"
PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")


def deploy(version: str, metrics: bool | None) -> None:
    """The local target serving VERSION with the metrics on or off (None: as its
    inventory says)."""
    command = [str(PLAYBOOK), "-i", "inventories/local", "playbooks/site.yml",
               "-e", f"names_app_version={version}"]  # fmt: skip
    if metrics is not None:
        command += ["-e", json.dumps({"names_app_metrics": metrics})]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{(run.stdout + run.stderr)[-3000:]}")


def summary(runs: list[dict]) -> dict:
    return {
        key: round(statistics.median(run[key] for run in runs), 2)
        for key in ("requests_per_second", "p50_ms", "p99_ms")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", required=True, help="the release the local target serves")
    parser.add_argument("--runs", type=int, default=8)
    args = parser.parse_args()
    runs: dict[bool, list[dict]] = {True: [], False: []}
    for round_number in range(1, args.runs + 1):
        for metrics in (True, False):
            deploy(args.version, metrics)
            time.sleep(3)  # the old workers gone, the new ones warm
            run = wrk(PAGE, 10, 16)
            runs[metrics].append(run)
            print(f"round {round_number}, metrics {'on' if metrics else 'off'}: {run}")
    deploy(args.version, None)
    on, off = summary(runs[True]), summary(runs[False])
    cost = 1 - on["requests_per_second"] / off["requests_per_second"]
    report = {
        "version": args.version,
        "rounds": args.runs,
        "on": on,
        "off": off,
        "cost_percent": round(100 * cost, 1),
        "rounds_slower_on": sum(
            a["requests_per_second"] < b["requests_per_second"]
            for a, b in zip(runs[True], runs[False], strict=True)
        ),
        "runs": {"on": runs[True], "off": runs[False]},
    }
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{'':8}{'requests/s':>12}{'p50 ms':>9}{'p99 ms':>9}")
    for label, figures in (("on", on), ("off", off)):
        print(f"{label:8}{figures['requests_per_second']:>12.0f}"
              f"{figures['p50_ms']:>9.2f}{figures['p99_ms']:>9.2f}")  # fmt: skip
    print(
        f"metrics cost {report['cost_percent']} % of the page's requests/s "
        f"({report['rounds_slower_on']} of {args.runs} rounds slower with them on); {REPORT}"
    )
    failed = sum(run["failed"] for mode in runs.values() for run in mode)
    if failed:
        sys.exit(f"{failed} requests failed")


if __name__ == "__main__":
    main()
