"""An independent scorecard of each host's HTTPS, run as `make audit` runs it
(playbooks/audit.yml, tools/audit.py): sslyze finds it compliant with Mozilla's
"intermediate" configuration, and testssl.sh finds nothing rated MEDIUM or above but
what tools/audit-accepted.yml lists with its reason. Debian 12's host has its
self-signed certificate; Debian 13's, the operator's from the scenario's test CA."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from testinfra.utils.ansible_runner import AnsibleRunner

from tests.helpers import ROOT, run_playbook

pytestmark = pytest.mark.web


def container_address(name: str) -> str:
    networks = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
    inspect = subprocess.run(
        ["docker", "inspect", "-f", networks, name], capture_output=True, text=True, check=True
    )
    return inspect.stdout.strip()


@pytest.fixture(scope="module")
def scorecard() -> dict:
    """audit.yml on every host at once, each scored at its address on the bridge for the
    name its certificate is issued for; each host's report."""
    runner = AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
    targets = {}
    for name in runner.get_hosts("web"):
        variables = runner.get_variables(name)
        operator_certificate = bool(variables.get("nginx_tls_certificate"))
        targets[name] = {
            "target": f"{variables['nginx_server_names'][0] if operator_certificate else name}:443",
            "address": container_address(name),
            "cafile": str(Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "tls" / "ca.crt")
            if operator_certificate
            else None,
        }
    per_host = {
        "names_audit_target": "{{ audit_targets[inventory_hostname].target }}",
        "names_audit_address": "{{ audit_targets[inventory_hostname].address }}",
        "audit_targets": targets,
    }
    with_ca = {name for name, target in targets.items() if target["cafile"]}
    run = run_playbook("audit.yml", json.dumps(per_host), limit=",".join(targets.keys() - with_ca))
    ca_runs = {
        name: run_playbook(
            "audit.yml",
            json.dumps({**per_host, "names_audit_cafile": targets[name]["cafile"]}),
            limit=name,
        )
        for name in with_ca
    }
    reports = {
        name: json.loads((ROOT / "build" / f"audit-{name}.json").read_text()) for name in targets
    }
    return {"runs": [run, *ca_runs.values()], "reports": reports}


def test_every_host_passes_the_scorecard_as_make_audit_runs_it(scorecard):
    for run in scorecard["runs"]:
        assert run.returncode == 0, run.output[-4000:]
    assert len(scorecard["reports"]) == 2


def test_sslyze_finds_every_host_compliant_with_mozilla_intermediate(scorecard):
    for name, report in scorecard["reports"].items():
        sslyze = report["results"][0]
        assert sslyze["tool"] == "sslyze --mozilla_config=intermediate"
        assert sslyze["passed"], (name, sslyze)
        assert sslyze["verdict"].endswith("OK - Compliant.")


def test_testssl_finds_nothing_medium_or_above_but_what_is_listed(scorecard):
    for name, report in scorecard["reports"].items():
        testssl = report["results"][1]
        assert testssl["passed"], (name, testssl)
        for finding in testssl["findings"]:
            assert finding["accepted"], (name, finding)
            assert finding["reason"], (name, finding)
