#!/usr/bin/env python3
"""The site's TLS, scored by tools others wrote: sslyze against Mozilla's "intermediate"
configuration, and testssl.sh (Debian's package) for findings rated MEDIUM or above.

    tools/audit.py NAME:PORT [--address IP] [--cafile CA.pem] [--report build/audit-x.json]

NAME is the name the certificate is checked for (and sent as SNI), ADDRESS where to
connect when NAME does not resolve to the host; CAFILE a private authority to trust (a
self-signed certificate, a test CA). A testssl.sh finding of MEDIUM or above fails the
audit unless tools/audit-accepted.yml lists it with its reason; an entry marked
private_ca_only is accepted only when the audit trusts a private authority (a public
CA's certificate must not need it). Exits 0 when both pass, 1 when either fails.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
ACCEPTED = ROOT / "tools" / "audit-accepted.yml"
# sslyze's virtualenv (make testssl makes it; requirements-audit.txt says why its own).
SSLYZE_PYTHON = ROOT / ".venv-audit" / "bin" / "python"
SEVERITIES = ("MEDIUM", "HIGH", "CRITICAL")


def sslyze(target: str, address: str | None, cafile: str | None) -> dict:
    """Compliance with Mozilla's intermediate configuration, as sslyze judges it."""
    name = target.rsplit(":", 1)[0]
    # sslyze's NAME:PORT{ADDRESS}: connect to ADDRESS, check the certificate for NAME.
    server = f"{target}{{{address}}}" if address else target
    argv = [str(SSLYZE_PYTHON), "-m", "sslyze", "--mozilla_config=intermediate", server]
    if cafile:
        argv.insert(3, f"--certinfo_ca_file={cafile}")
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    lines = done.stdout.splitlines()
    verdicts = [line.strip() for line in lines if "ompliant" in line and name in line]
    # No verdict when sslyze could not connect: its error line says why.
    errors = [line.strip() for line in lines if "ERROR" in line]
    verdict = verdicts[-1] if verdicts else (errors[-1] if errors else "")
    problems = [line.strip()[2:] for line in lines if line.strip().startswith("* ") and ":" in line]
    compliant = done.returncode == 0 and verdict.endswith("OK - Compliant.")
    return {
        "tool": "sslyze --mozilla_config=intermediate",
        "passed": compliant,
        "verdict": verdict or (done.stderr.strip().splitlines() or ["no verdict"])[-1],
        "problems": [] if compliant else problems[-10:],
        "seconds": round(time.monotonic() - started, 1),
    }


def testssl(target: str, address: str | None, cafile: str | None, accepted: list[dict]) -> dict:
    """testssl.sh's findings of MEDIUM or above, each accepted (listed) or not."""
    command = shutil.which("testssl") or shutil.which("testssl.sh")
    if command is None:
        return {"tool": "testssl.sh", "passed": False, "verdict": "testssl is not installed"}
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "testssl.json"
        argv = [command, "--quiet", "--color", "0", "--warnings", "batch", "--severity", "MEDIUM",
                "--jsonfile", str(report)]  # fmt: skip
        if cafile:
            argv += ["--add-ca", cafile]
        if address:
            argv += ["--ip", address]
        started = time.monotonic()
        done = subprocess.run(
            [*argv, target], capture_output=True, text=True, timeout=900, check=False
        )
        seconds = round(time.monotonic() - started, 1)
        if not report.exists():
            tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
            verdict = " ".join(tail)
            return {"tool": "testssl.sh", "passed": False, "verdict": verdict, "seconds": seconds}
        findings = json.loads(report.read_text())
    judged = judge(findings, accepted, private_ca=cafile is not None)
    refused = [finding for finding in judged if not finding["accepted"]]
    return {
        "tool": "testssl.sh (MEDIUM and above)",
        "passed": not refused,
        "verdict": f"{len(judged)} finding(s) of MEDIUM or above, {len(refused)} not accepted",
        "findings": judged,
        "seconds": seconds,
    }


def judge(findings: list[dict], accepted: list[dict], private_ca: bool) -> list[dict]:
    """testssl.sh's findings of MEDIUM or above, each with whether the list accepts it."""
    listed = {entry["id"]: entry for entry in accepted}
    judged = []
    for finding in findings:
        if finding.get("severity") not in SEVERITIES:
            continue
        entry = listed.get(finding["id"])
        ok = entry is not None and (private_ca or not entry.get("private_ca_only", False))
        judged.append({
            "id": finding["id"], "severity": finding["severity"], "finding": finding["finding"],
            "accepted": ok, "reason": entry["reason"] if ok else None,
        })  # fmt: skip
    return judged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", help="NAME:PORT, the name the certificate is checked for")
    parser.add_argument("--address", help="the address to connect to instead of NAME's")
    parser.add_argument("--cafile", help="a private authority to trust (PEM)")
    parser.add_argument("--accepted", type=Path, default=ACCEPTED)
    parser.add_argument("--report", type=Path, help="write the results here as JSON")
    args = parser.parse_args(argv)
    if ":" not in args.target:
        parser.error(f"{args.target}: give the target as NAME:PORT")
    accepted = yaml.safe_load(args.accepted.read_text())["accepted"]
    results = [
        sslyze(args.target, args.address, args.cafile),
        testssl(args.target, args.address, args.cafile, accepted),
    ]
    shown = f"{args.target}" + (f" at {args.address}" if args.address else "")
    for result in results:
        outcome = "PASS" if result["passed"] else "FAIL"
        print(f"{shown}: {result['tool']}: {outcome}: {result['verdict']}")
        for problem in result.get("problems", []):
            print(f"    {problem}")
        for finding in result.get("findings", []):
            verdict = f"accepted: {finding['reason']}" if finding["accepted"] else "NOT ACCEPTED"
            print(f"    {finding['severity']} {finding['id']}: {finding['finding']} ({verdict})")
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps({"target": args.target, "address": args.address,
                                           "results": results}, indent=2) + "\n")  # fmt: skip
    return 0 if all(result["passed"] for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
