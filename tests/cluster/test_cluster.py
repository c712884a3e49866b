"""The fleet (molecule/cluster) serves the names page through its web host: one page
whichever app host renders it, each tier reachable only from the tier in front of it,
and an app host lost under load fails no page and loses no stored name."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import urllib.parse
import uuid

import pytest

from tests.cluster.conftest import CAFILE, POSTGRESQL_PORT, URL, UWSGI_PORT, record, variable
from tests.helpers import ROOT, csrf_token, page_query_plans, run_playbook, run_readme_example
from tests.lifecycle.loadgen import Load, Session, Target, listed_names

pytestmark = pytest.mark.web

ACCESS_LOG = "/var/log/nginx/access.log"

# A PostgreSQL client's first steps, in the standard library: ask for TLS, send the
# startup message, print what the server answers ("authentication <method>" when it
# would go on to ask for the password, "refused <message>" from pg_hba.conf), or
# "unreachable" when no connection is made.
PG_PROBE = r"""
import socket, ssl, struct, sys
address, port, user, database = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
try:
    raw = socket.create_connection((address, port), timeout=5)
except OSError as exc:
    sys.exit(print("unreachable", exc.__class__.__name__))
raw.sendall(struct.pack("!ii", 8, 80877103))
if raw.recv(1) != b"S":
    sys.exit(print("no tls"))
context = ssl.create_default_context()
context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
conn = context.wrap_socket(raw)
params = b"user\0" + user.encode() + b"\0database\0" + database.encode() + b"\0\0"
conn.sendall(struct.pack("!ii", 8 + len(params), 196608) + params)
kind, length = conn.recv(1), struct.unpack("!i", conn.recv(4))[0]
body = b""
while len(body) < length - 4:
    body += conn.recv(length - 4 - len(body))
if kind == b"R":
    print("authentication", struct.unpack("!i", body[:4])[0])
else:
    print("refused", [f[1:].decode() for f in body.split(b"\0") if f[:1] == b"M"][0])
"""

# A TCP connection, and whether it was made within 3 s ("connected" or the error).
TCP_PROBE = r"""
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()
    print("connected")
except OSError as exc:
    print(exc.__class__.__name__)
"""


def probe(where, script: str, *args) -> str:
    """Run ``script`` with ``args`` on a fleet host, or on this machine when ``where`` is None."""
    if where is None:
        return subprocess.run(
            [sys.executable, "-c", script, *map(str, args)],
            capture_output=True, text=True, check=True, timeout=30,
        ).stdout.strip()  # fmt: skip
    command = " ".join(shlex.quote(part) for part in ["python3", "-c", script, *map(str, args)])
    return where.check_output(command)


def database(fleet) -> urllib.parse.SplitResult:
    return urllib.parse.urlsplit(variable(fleet["app"][0], "names_app_database_url"))


def test_every_app_host_and_the_web_host_answer_with_the_deployed_release(fleet):
    version = variable(fleet["app"][0], "names_app_version")
    for app in fleet["app"]:
        assert app.file("/srv/names/current").linked_to.endswith(f"/releases/{version}")
    session = Session(Target.parse(URL, CAFILE), timeout=10)
    status, content = session.request("GET", "/healthz")
    session.close()
    assert status == 200, content
    assert json.loads(content) | {"config": ""} == {
        "status": "ok",
        "version": version,
        "database": "ok",
        "config": "",
    }


def test_names_posted_through_the_web_host_are_listed_whichever_app_host_renders(fleet, addresses):
    marker = uuid.uuid4().hex
    posted = [f"cluster {marker} {index}" for index in range(6)]
    session = Session(Target.parse(URL, CAFILE), timeout=10)
    for name in posted:
        token = csrf_token(session.request("GET", "/")[1])
        body = urllib.parse.urlencode({"csrf_token": token, "name": name})
        status, content = session.request("POST", "/", body)
        assert status == 303, content
    pages = [session.request("GET", f"/?seen={marker}-{index}") for index in range(12)]
    session.close()
    for status, content in pages:
        assert status == 200
        assert all(name in content for name in posted), "a page lacks a name posted before it"
    log = fleet["web"][0].file(ACCESS_LOG).content_string
    rendered_by = set(re.findall(rf"GET /\?seen={marker}-\d+ .* upstream=(\S+) ", log))
    assert rendered_by == {f"{address}:{UWSGI_PORT}" for address in addresses["app"]}


def test_postgresql_answers_the_app_hosts_and_refuses_the_web_host_and_this_machine(
    fleet, addresses
):
    url = database(fleet)
    args = (url.hostname, url.port or POSTGRESQL_PORT, url.username, url.path[1:])
    assert url.hostname == addresses["db"][0]
    for app in fleet["app"]:
        assert probe(app, PG_PROBE, *args) == "authentication 10"  # SCRAM-SHA-256
    web = probe(fleet["web"][0], PG_PROBE, *args)
    assert web.startswith(f'refused no pg_hba.conf entry for host "{addresses["web"][0]}"'), web
    here = probe(None, PG_PROBE, *args)
    assert here.startswith("refused no pg_hba.conf entry") or here.startswith("unreachable"), here


def test_an_app_hosts_uwsgi_accepts_only_the_web_hosts(fleet, addresses):
    for address in addresses["app"]:
        assert probe(fleet["web"][0], TCP_PROBE, address, UWSGI_PORT) == "connected"
        assert probe(fleet["db"][0], TCP_PROBE, address, UWSGI_PORT) != "connected"
        assert probe(None, TCP_PROBE, address, UWSGI_PORT) != "connected"
    first, second = addresses["app"]
    assert probe(fleet["app"][1], TCP_PROBE, first, UWSGI_PORT) != "connected"
    assert probe(fleet["app"][0], TCP_PROBE, second, UWSGI_PORT) != "connected"


def test_the_postgresql_readme_example_runs_and_changes_nothing(fleet, tmp_path):
    version = variable(fleet["app"][0], "names_app_version")
    run = run_readme_example(ROOT / "roles/postgresql/README.md", tmp_path, version)
    assert run.returncode == 0, run.output[-3000:]
    assert run.changed == {fleet["db"][0].backend.host: 0}, run.output[-2000:]


def test_a_db_host_apart_from_the_app_hosts_without_postgresql_is_refused(fleet):
    run = run_playbook("site.yml", "names_app_database_url=")
    assert run.returncode != 0
    assert "names no PostgreSQL server (SQLite keeps the names on the app hosts)" in run.output
    assert fleet["db"][0].backend.host in run.output
    assert run.changed, run.output[-2000:]
    assert set(run.changed.values()) == {0}, run.changed


def test_stopping_an_app_hosts_uwsgi_under_load_fails_no_page_and_loses_no_stored_name(
    fleet,
):
    stopped = fleet["app"][0]
    try:
        with Load(URL, cafile=CAFILE, tag="app-host-stopped") as load:
            load.wait_for(500)
            stopped.run_expect([0], "systemctl stop names-uwsgi.socket names-uwsgi.service")
            load.wait_for(2500)
    finally:
        stopped.run_expect([0], "systemctl start names-uwsgi.socket names-uwsgi.service")
    record("app_host_stopped", load.report.summary())
    assert load.report.requests >= 3000
    assert [failure for failure in load.report.failures if failure.startswith("GET")] == []
    assert load.report.stored_names
    stored = set(load.report.stored_names)
    assert stored <= listed_names(URL, CAFILE, until=stored)


def test_every_page_query_is_an_index_scan_in_postgresql(fleet):
    """PostgreSQL answers each page from the (created_at, id) index, in the page's order
    (backward for older names), with the position as the index condition: no Sort node,
    no filter over rows read and thrown away."""
    found = page_query_plans(fleet["app"][0])
    assert found["dialect"] == "postgresql"
    plans = found["plans"]
    for label, direction, condition in [
        ("first", "Index Scan Backward", None),
        ("older", "Index Scan Backward", "Index Cond: (ROW(created_at, id) < ROW("),
        ("newer", "Index Scan", "Index Cond: (ROW(created_at, id) > ROW("),
    ]:
        lines = [line.strip() for line in plans[label]]
        assert lines[0].startswith("Limit"), lines
        assert lines[1].startswith(f"->  {direction} using ix_names_created_at_id on names "), lines
        if condition is None:
            assert lines[2:] == [], lines
        else:
            assert len(lines) == 3, lines
            assert lines[2].startswith(condition), lines


# A TCP connection from the host it runs on, within 3 s (0) or not (1).
CONNECT = (
    "python3 -c 'import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 3)'"
)


def test_metrics_answer_the_allowed_scraper_only(fleet, addresses):
    """The web host (names_*_metrics_allow: where Prometheus would run) scrapes every
    exporter of the fleet on its private address; the db host cannot even connect to
    another host's."""
    web, db = fleet["web"][0], fleet["db"][0]
    scrapes = [
        (addresses["app"][0], 9109, 'names_release_info{version="'),
        (addresses["app"][1], 9109, "names_database_up 1.0"),
        (addresses["app"][0], 9100, "node_filesystem_avail_bytes"),
        (addresses["db"][0], 9100, "node_filesystem_avail_bytes"),
        (addresses["web"][0], 9113, "nginx_up 1"),
    ]
    for address, port, expected in scrapes:
        assert expected in web.check_output(f"curl -sf -m 5 http://{address}:{port}/metrics")
    for address, port, _ in scrapes:
        assert web.run(f"{CONNECT} {address} {port}").rc == 0
        # Every host may scrape itself, the db host too: the others refuse it.
        if address != addresses["db"][0]:
            assert db.run(f"{CONNECT} {address} {port}").rc != 0, (address, port)
