"""Time make deploy on the local target as a user runs it (make bench-deploy).

Four figures, each the median of --runs runs, as wall time of the whole make command:
  no-op       make deploy, the version served already, nothing changed (the run must
              report changed=0, or it is not a no-op);
  upgrade     make deploy VERSION=<new>, a release the host has never had (built here
              from the working tree, side by side, before the timed runs);
  under load  the same, while browser-like clients load and post at 120 requests/s
              (tests/lifecycle/loadgen.py); any failed request fails the benchmark;
  new         make deploy onto a new container (make destroy-local first, not timed),
              with the base image and the venv in place.
The local target serves --version again at the end. Figures: build/bench-deploy.json.

    python -m tests.lifecycle.bench_deploy --version 1.0.0 --runs 3
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.helpers import ROOT
from tests.lifecycle.loadgen import Load
from tests.releases import build_releases

REPORT = ROOT / "build" / "bench-deploy.json"
HOST = "names-local"
URL = "https://127.0.0.1:8443"
CAFILE = ROOT / "build" / "names-local.crt"


def make(*args: str) -> tuple[float, str]:
    """Run make with ``args`` in the project; its wall time and output. A failed run
    stops the benchmark with the end of its output."""
    started = time.monotonic()
    run = subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    seconds = time.monotonic() - started
    output = run.stdout + run.stderr
    if run.returncode != 0:
        sys.exit(f"make {' '.join(args)} failed (exit {run.returncode}):\n{output[-3000:]}")
    return seconds, output


def changed(output: str) -> int:
    """changed= of the local target in the run's last recap."""
    recaps = re.findall(rf"^{HOST}\s*: ok=\d+\s+changed=(\d+)", output, re.MULTILINE)
    if not recaps:
        sys.exit(f"no recap for {HOST} in the run's output:\n{output[-2000:]}")
    return int(recaps[-1])


def figure(seconds: list[float]) -> dict:
    return {
        "median_s": round(statistics.median(seconds), 1),
        "min_s": round(min(seconds), 1),
        "max_s": round(max(seconds), 1),
        "runs_s": [round(s, 1) for s in seconds],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", required=True, help="the release the local target serves")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not re.fullmatch(r"\d+(\.\d+)*", args.version):
        sys.exit(f"--version {args.version}: a final release (x.y.z) is needed, so that the "
                 "upgrades can be its post-releases")  # fmt: skip
    deploy = f"VERSION={args.version}"

    print(f"bench-deploy: the local target serves {args.version} (not timed)", flush=True)
    make("deploy", deploy)

    # Releases the host has never had: unique post-releases of this version.
    stamp = int(time.time())
    upgrades = [f"{args.version}.post{stamp}{run}" for run in range(args.runs)]
    loaded = [f"{args.version}.post{stamp}{args.runs + run}" for run in range(args.runs)]
    dist = ROOT / "dist"
    print(f"bench-deploy: building {', '.join(upgrades + loaded)} (not timed)", flush=True)
    with tempfile.TemporaryDirectory(prefix="names-bench-deploy-") as tmp:
        built = build_releases(Path(tmp), dist, dict.fromkeys(upgrades + loaded))

    figures: dict[str, dict] = {}
    try:
        noop = []
        for run in range(args.runs):
            seconds, output = make("deploy", deploy)
            if changed(output):
                sys.exit(f"no-op run {run + 1} changed {changed(output)} things: not a no-op")
            noop.append(seconds)
            print(f"  no-op   {seconds:6.1f} s", flush=True)
        figures["no-op"] = figure(noop)

        upgrade = []
        for version in upgrades:
            seconds, _ = make("deploy", f"VERSION={version}")
            upgrade.append(seconds)
            print(f"  upgrade {seconds:6.1f} s  (to {version})", flush=True)
        figures["upgrade"] = figure(upgrade)

        make("local-cert")
        under_load = []
        for version in loaded:
            with Load(URL, cafile=str(CAFILE), tag=f"bench-{version}") as load:
                load.wait_for(300)
                seconds, _ = make("deploy", f"VERSION={version}")
            if load.report.failures:
                sys.exit(f"the upgrade to {version} failed requests: {load.report.summary()}")
            under_load.append(seconds)
            summary = load.report.summary()
            print(f"  loaded  {seconds:6.1f} s  (to {version}; {summary['requests']} requests, "
                  f"0 failed, p99 {summary['p99_ms']} ms)", flush=True)  # fmt: skip
        figures["upgrade under load"] = figure(under_load)

        new = []
        for _ in range(args.runs):
            make("destroy-local")
            seconds, _ = make("deploy", deploy)
            new.append(seconds)
            print(f"  new     {seconds:6.1f} s  (onto a new container)", flush=True)
        figures["new container"] = figure(new)
    finally:
        for tarball in built.values():
            for path in (tarball, tarball.with_name(tarball.name + ".sha256")):
                path.unlink(missing_ok=True)

    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps({"version": args.version, "runs": args.runs, **figures},
                                 indent=2) + "\n")  # fmt: skip
    print(f"\nmake deploy on the local target, median of {args.runs} ({REPORT}):")
    print(f"  {'what':<28} {'median':>8} {'min':>8} {'max':>8}")
    for what, label in (("no-op", "no-op make deploy"), ("upgrade", "upgrade to a new release"),
                        ("upgrade under load", "the same, 120 requests/s"),
                        ("new container", "onto a new container")):  # fmt: skip
        f = figures[what]
        print(f"  {label:<28} {f['median_s']:>7.1f}s {f['min_s']:>7.1f}s {f['max_s']:>7.1f}s")


if __name__ == "__main__":
    main()
