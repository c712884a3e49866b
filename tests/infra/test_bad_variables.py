"""A bad inventory variable stops the deploy before any host changes, naming the variable.

Runs the real site playbook from the controller against one of the Molecule hosts,
once per bad variable (all at once: a refusal changes nothing), and checks each run
failed in the preflight with no change on any host. One host: the checks read the
whole inventory whichever hosts a run is limited to (the topology of every group).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from tests.helpers import Run, run_playbook, run_playbooks_at_once

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


# The host the refusals run against (the inventory's first).
REFUSED_ON = "all[0]"
# One bad variable per case (what it is, the message naming it).
BAD_VARIABLES = {
    "app-type": ("names_app_page_size=twenty", "names_app_page_size"),
    "app-rule": ("names_app_version=latest", "names_app_version must be x.y.z"),
    "example-secret": (
        "names_app_secret_key=replace-with-64-hex-characters",
        "names_app_secret_key is the placeholder from vault.yml.example",
    ),
    "short-secret": (f"names_app_secret_key={'ab' * 15}", "names_app_secret_key is too weak"),
    "uwsgi-type": ("uwsgi_processes=many", "uwsgi_processes"),
    "web-rule": (
        "nginx_listen_port=70000",
        "nginx_listen_port and nginx_https_port must be 1-65535",
    ),
    # uWSGI on TCP that no nginx passes requests to.
    "app-without-web": (
        '{"uwsgi_socket": "127.0.0.1:3031", "uwsgi_socket_allow": ["127.0.0.1"]}',
        "no web host sends it requests",
    ),
    # Both hosts' uWSGI behind the web hosts: a fleet, which SQLite cannot serve.
    "fleet-on-sqlite": (
        '{"uwsgi_socket": "127.0.0.1:3031", "uwsgi_socket_allow": ["127.0.0.1"],'
        ' "nginx_uwsgi_servers": ["127.0.0.1:3031"], "uwsgi_private_network": false}',
        "2 app hosts cannot share SQLite",
    ),
}


def tls_variables(directory: Path, key: str) -> str:
    """An extra-vars file giving the test CA's names.test certificate with ``key``."""
    tls = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "tls"
    variables = {
        "nginx_tls_certificate": (tls / "names.test.crt").read_text(),
        "nginx_tls_certificate_key": (tls / key).read_text() if key else "",
    }
    path = directory / f"tls-vars-{key or 'none'}.json"
    path.write_text(json.dumps(variables))
    return f"@{path}"


@pytest.fixture(scope="module")
def refused(tmp_path_factory) -> dict[str, Run]:
    """Every refusal, run at once: each stops in the preflight and changes nothing."""
    tmp = tmp_path_factory.mktemp("tls")
    runs = {case: [variable] for case, (variable, _) in BAD_VARIABLES.items()}
    runs["tls-without-key"] = [tls_variables(tmp, key="")]
    runs["tls-other-key"] = [tls_variables(tmp, key="ca.key")]
    return run_playbooks_at_once("site.yml", runs, limit=REFUSED_ON)


@pytest.mark.parametrize("case", BAD_VARIABLES)
def test_bad_variable_stops_the_play_before_any_change(refused, case):
    assert_stopped_in_preflight(refused[case], BAD_VARIABLES[case][1])


def test_tls_certificate_without_its_key_stops_the_play(refused):
    assert_stopped_in_preflight(
        refused["tls-without-key"],
        "nginx_tls_certificate and nginx_tls_certificate_key go together",
    )


def test_tls_key_of_another_certificate_stops_the_play_without_showing_it(refused):
    result = refused["tls-other-key"]
    assert_stopped_in_preflight(
        result, "nginx_tls_certificate_key does not belong to nginx_tls_certificate"
    )
    assert "PRIVATE KEY" not in result.output


@pytest.fixture(scope="module")
def refused_site() -> tuple[float, Run]:
    """One site run with a value that passes every check but nginx's own (a socket path
    with a space), and when it started."""
    started = time.time()
    return started, run_site(json.dumps({"nginx_uwsgi_socket": "/run/names/uwsgi sock"}))


def test_a_site_nginx_refuses_never_replaces_the_installed_one(host, refused_site):
    """The play fails at the site's validation; the file nginx loads is not written."""
    started, result = refused_site
    assert result.returncode != 0
    assert "the names site (checked by nginx -t first)" in result.output
    refusal = r"/etc/nginx/sites-available/names.conf:\s+refused\s+by\s+\S*nginx-check-site"
    assert re.search(refusal, result.output), result.output[-2000:]
    # nginx -t's own words (the callback may wrap them across lines)
    assert re.search(r'invalid\s+parameter\s+\\?"sock\\?"', result.output), result.output[-2000:]
    site = host.file("/etc/nginx/sites-available/names.conf")
    assert site.mtime.timestamp() < started, "the site file was written by the refused run"
    assert "uwsgi sock" not in site.content_string
    assert host.file("/etc/nginx/sites-enabled/names.conf").linked_to == site.path
    assert host.run("nginx -t").rc == 0
    assert not host.file("/etc/nginx/sites-enabled/default").exists
