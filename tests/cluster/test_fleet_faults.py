"""Faults on the fleet, each injected with the load running through the web host:
PostgreSQL stopped for 15 s, an app host's uWSGI master killed, an app host (container)
restarted. Reported with the one-host faults (build/faults-report.md); held to the same
bounds (tests/lifecycle/faults.py): nothing that got its 303 lost, every answer within
ANSWER_BOUND seconds, served again within RECOVERY_BOUND seconds of the fault's end."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.cluster.conftest import CAFILE, URL
from tests.lifecycle.faults import answered_by_the_site, post_probe, under_load

pytestmark = pytest.mark.web

MASTER = "systemctl show -p MainPID --value names-uwsgi.service"


@pytest.fixture(autouse=True)
def nginx_forgets_the_fault(fleet):
    """After each fault, nginx's passive check (an app host that failed a request is left
    out for nginx_upstream_fail_timeout seconds) forgets it before the next: two faults
    that close together leave no app host in the balance, and each is measured alone."""
    yield
    time.sleep(
        int(fleet["web"][0].ansible.get_variables().get("nginx_upstream_fail_timeout", 10)) + 1
    )


def test_postgresql_stopped_for_15_s(fleet):
    """Every request gets the app's own 503 page (Retry-After: 5) at once; once the
    server is back, the workers' pools connect again by themselves."""
    db = fleet["db"][0]
    run = under_load(
        "PostgreSQL stopped 15 s", "fleet", URL, CAFILE,
        inject=lambda: db.run_expect([0], "systemctl stop postgresql"),
        heal=lambda: db.run_expect([0], "systemctl start postgresql"),
        hold=15, probe=lambda: post_probe(URL, CAFILE),
    )  # fmt: skip
    answered_by_the_site(run)
    assert run.failures.get("GET 503", 0) > 0, f"no GET got the app's 503; {run!r}"
    assert run.probe["status"] == 503, run.probe
    assert run.probe["title"] == "503 The names are unavailable for a moment", run.probe
    assert run.probe["retry_after"] == "5"
    assert run.probe["frame_options"] == "DENY"
    assert run.probe["seconds"] < 5, run.probe


def test_an_app_hosts_uwsgi_master_killed(fleet):
    app = fleet["app"][0]
    run = under_load("app host's uWSGI master kill -9", "fleet", URL, CAFILE,
                     lambda: app.run_expect([0], f"kill -9 $({MASTER})"))  # fmt: skip
    answered_by_the_site(run)


def test_an_app_host_restarted(fleet):
    """nginx leaves the host out while it is away (a failed connection moves a request
    to the other host); it is back in the balance after its fail_timeout."""
    app = fleet["app"][1]
    restart = ["docker", "restart", app.backend.host]
    run = under_load("app host (container) restarted", "fleet", URL, CAFILE,
                     lambda: subprocess.run(restart, check=True, timeout=120))  # fmt: skip
    answered_by_the_site(run)
    assert app.service("names-uwsgi.socket").is_running
