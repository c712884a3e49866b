"""A bad inventory variable stops the deploy before any host changes, naming the variable.

Runs the real site playbook from the controller against the Molecule hosts, once
per role with one bad variable, and checks the play failed in the preflight with
no change on any host.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.helpers import Run, run_playbook

pytestmark = pytest.mark.web


def run_site(*extra_vars: str) -> Run:
    return run_playbook("site.yml", *extra_vars)


def assert_stopped_in_preflight(result: Run, message: str) -> None:
    assert result.returncode != 0
    assert message in result.output
    assert result.changed, result.output[-2000:]
    assert set(result.changed.values()) == {0}, (
        f"a host changed before the failure: {result.changed}"
    )
    assert "Check the inputs of every role" in result.output
    assert "Deploy the names app" not in result.output


@pytest.mark.parametrize(
    ("bad_variable", "message"),
    [
        pytest.param("names_app_page_size=twenty", "names_app_page_size", id="app-type"),
        pytest.param("names_app_version=latest", "names_app_version must be x.y.z", id="app-rule"),
        pytest.param(
            "names_app_secret_key=replace-with-64-hex-characters",
            "names_app_secret_key is the placeholder from vault.yml.example",
            id="example-secret",
        ),
        pytest.param(
            f"names_app_secret_key={'ab' * 15}",
            "names_app_secret_key is too weak",
            id="short-secret",
        ),
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
    assert "PRIVATE KEY" not in result.output


def test_a_site_nginx_refuses_never_replaces_the_installed_one(host):
    """A value that passes every check but nginx's own (a socket path with a space) fails
    the play at the site's validation: the file nginx loads is the one from before."""
    site = host.file("/etc/nginx/sites-available/names.conf")
    before = site.sha256sum
    result = run_site(json.dumps({"nginx_uwsgi_socket": "/run/names/uwsgi sock"}))
    assert result.returncode != 0
    assert "Configure | Install the names site" in result.output
    assert "failed to validate" in result.output
    # nginx -t's own words (the callback may wrap them across lines)
    assert re.search(r'invalid\s+parameter\s+\\?"sock\\?"', result.output), result.output[-2000:]
    assert site.sha256sum == before
    assert host.file("/etc/nginx/sites-enabled/names.conf").linked_to == site.path
    assert host.run("nginx -t").rc == 0
    assert not host.file("/etc/nginx/sites-enabled/default").exists
