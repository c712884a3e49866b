"""A bad inventory variable stops the deploy before any host changes, naming the variable.

Runs the real site playbook from the controller against the Molecule hosts, once
per role with one bad variable, and checks the play failed in the preflight with
no change on any host.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.web

ROOT = Path(__file__).resolve().parents[2]


def run_site(*extra_vars: str) -> subprocess.CompletedProcess:
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    assert inventory, "run by Molecule's verifier (MOLECULE_INVENTORY_FILE unset)"
    args = [arg for var in extra_vars for arg in ("-e", var)]
    return subprocess.run(
        ["ansible-playbook", "-i", inventory, "playbooks/site.yml", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"},
    )


def assert_stopped_in_preflight(result: subprocess.CompletedProcess, message: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert message in output
    recaps = re.findall(r"^(\S+)\s*: ok=\d+\s+changed=(\d+)", result.stdout, re.MULTILINE)
    hosts = {host: int(changed) for host, changed in recaps if host != "localhost"}
    assert hosts, output[-2000:]
    assert set(hosts.values()) == {0}, f"a host changed before the failure: {hosts}"
    assert "Check the inputs of every role" in result.stdout
    assert "Deploy the names app" not in result.stdout


@pytest.mark.parametrize(
    ("bad_variable", "message"),
    [
        pytest.param("names_app_page_size=twenty", "names_app_page_size", id="app-type"),
        pytest.param("names_app_version=latest", "names_app_version must be x.y.z", id="app-rule"),
        pytest.param("uwsgi_processes=many", "uwsgi_processes", id="uwsgi-type"),
        pytest.param(
            "nginx_listen_port=70000",
            "nginx_listen_port and nginx_https_port must be 1-65535",
            id="web-rule",
        ),
    ],
)
def test_bad_variable_stops_the_play_before_any_change(bad_variable, message):
    assert_stopped_in_preflight(run_site(bad_variable), message)


def tls_variables(tmp_path: Path, key: str) -> str:
    """An extra-vars file giving the test CA's names.test certificate with ``key``."""
    tls = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "tls"
    variables = {
        "nginx_tls_certificate": (tls / "names.test.crt").read_text(),
        "nginx_tls_certificate_key": (tls / key).read_text() if key else "",
    }
    path = tmp_path / "tls-vars.json"
    path.write_text(json.dumps(variables))
    return f"@{path}"


def test_tls_certificate_without_its_key_stops_the_play(tmp_path):
    assert_stopped_in_preflight(
        run_site(tls_variables(tmp_path, key="")),
        "nginx_tls_certificate and nginx_tls_certificate_key go together",
    )


def test_tls_key_of_another_certificate_stops_the_play_without_showing_it(tmp_path):
    result = run_site(tls_variables(tmp_path, key="ca.key"))
    assert_stopped_in_preflight(
        result, "nginx_tls_certificate_key does not belong to nginx_tls_certificate"
    )
    assert "PRIVATE KEY" not in result.stdout + result.stderr
