"""Faults on one host (SQLite), after the release lifecycle story (test_lifecycle.py, whose
settings they run with: the load's form posts are not rate-limited): the uWSGI master, a
worker and nginx's master killed, the database's directory read-only for 15 s, the disk
holding the database full for 15 s, the container restarted, each injected with the load
running; and the app server stopped as it starts. Each fault under load is reported
(build/faults-report.md): failed requests, recovery after the fault's end, lost POSTs.

What is held to: no POST that got its 303 is lost; every request is answered within
ANSWER_BOUND seconds (never a hang); the site serves again within RECOVERY_BOUND seconds
of the fault's end, by itself; what the app cannot serve gets the site's own page with
the right status (502, 503) and its security headers. Only nginx down (its master
killed, the container restarting) can refuse connections: nothing is there to answer."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.lifecycle.conftest import CAFILE, HOSTS, URL
from tests.lifecycle.faults import answered_by_the_site, post_probe, under_load

pytestmark = pytest.mark.web
testinfra_hosts = [f"ansible://{HOSTS}"]

DB_DIR = "/var/lib/names/db"
# A drop-in that makes the database's directory read-only to the app server.
READ_ONLY_DROP_IN = "/run/systemd/system/names-uwsgi.service.d/fault-read-only.conf"


def kill(unit: str) -> str:
    """kill -9 of UNIT's main process."""
    return f"kill -9 $(systemctl show -p MainPID --value {unit})"


def test_the_uwsgi_master_killed(host):
    run = under_load("uWSGI master kill -9", "one host", URL, CAFILE,
                     lambda: host.run_expect([0], kill("names-uwsgi.service")))  # fmt: skip
    answered_by_the_site(run)


def test_a_uwsgi_worker_killed(host):
    master = "$(systemctl show -p MainPID --value names-uwsgi.service)"
    worker = f"kill -9 $(pgrep -P {master} | head -n 1)"
    run = under_load("uWSGI worker kill -9", "one host", URL, CAFILE,
                     lambda: host.run_expect([0], worker))  # fmt: skip
    answered_by_the_site(run)


def test_the_nginx_master_killed(host):
    run = under_load("nginx master kill -9", "one host", URL, CAFILE,
                     lambda: host.run_expect([0], kill("nginx.service")))  # fmt: skip
    answered_by_the_site(run, refused_allowed=True)
    assert host.service("nginx").is_running


def test_the_database_directory_read_only_for_15_s(host):
    """The app server restarted with its database's directory read-only (systemd's
    ReadOnlyPaths), then as before: form posts get the form again, 503, with the name
    kept and the reason; the page and its names are still served."""
    drop_in = f"printf '[Service]\\nReadOnlyPaths={DB_DIR}\\n' > {READ_ONLY_DROP_IN}"
    restart = "systemctl daemon-reload && systemctl restart names-uwsgi.service"
    host.run_expect([0], f"mkdir -p {READ_ONLY_DROP_IN.rsplit('/', 1)[0]}")
    try:
        run = under_load(
            "database directory read-only 15 s", "one host", URL, CAFILE,
            inject=lambda: host.run_expect([0], f"{drop_in} && {restart}"),
            heal=lambda: host.run_expect([0], f"rm -f {READ_ONLY_DROP_IN} && {restart}"),
            hold=15, probe=lambda: post_probe(URL, CAFILE),
        )  # fmt: skip
    finally:
        # The fault healed (or never made) unless the test stopped half-way.
        host.run(f"[ ! -e {READ_ONLY_DROP_IN} ] || {{ rm -f {READ_ONLY_DROP_IN} && {restart}; }}")
    answered_by_the_site(run)
    assert run.failures.get("POST 503", 0) > 0, run
    assert run.probe["status"] == 503, run.probe
    assert run.probe["says"] == "The name could not be stored just now; please submit it again."
    assert run.probe["name"] in run.probe["page"], "the form lost the name typed"
    assert run.probe["frame_options"] == "DENY"


@pytest.fixture
def small_disk(host):
    """The database on a filesystem of its own, a few megabytes larger than it (a
    tmpfs); moved back, with what was written to it, afterwards."""
    size = int(host.check_output(f"du -sk {DB_DIR} | cut -f1")) + 8192
    units = "names-uwsgi.socket names-uwsgi.service"
    tmpfs = f"-t tmpfs -o size={size}k,mode=0750,uid=names,gid=names tmpfs {DB_DIR}"
    host.run_expect([0], f"systemctl stop {units} && cp -a {DB_DIR} {DB_DIR}.disk && "
                         f"mount {tmpfs} && cp -a {DB_DIR}.disk/. {DB_DIR}/ && "
                         f"systemctl start {units}")  # fmt: skip
    try:
        yield f"{DB_DIR}/fault-filler"
    finally:
        host.run_expect([0], f"systemctl stop {units} && rm -f {DB_DIR}/fault-filler && "
                             f"cp -a {DB_DIR}/. {DB_DIR}.disk/ && umount {DB_DIR} && "
                             f"cp -a {DB_DIR}.disk/. {DB_DIR}/ && rm -rf {DB_DIR}.disk && "
                             f"systemctl start {units}")  # fmt: skip


# The write-ahead log emptied (as its checkpoints do), then every free block taken: the
# next write must grow the log, and finds no room.
CHECKPOINT = (
    'sudo -u names python3 -c "import sqlite3; '
    f"sqlite3.connect('{DB_DIR}/names.sqlite3').execute('PRAGMA wal_checkpoint(TRUNCATE)')\""
)


def test_the_disk_holding_the_database_full_for_15_s(host, small_disk):
    free = f"df --output=avail -B1 {DB_DIR} | tail -n 1"
    # Written until the filesystem refuses (cat fails then): sized by df beforehand, a
    # file would miss the blocks the load's writes take meanwhile.
    full = f"[ $({free}) -lt 65536 ]"
    fill = f"{CHECKPOINT} && {{ cat /dev/zero > {small_disk} 2>/dev/null; {full}; }}"

    def probe() -> dict:
        return {**post_probe(URL, CAFILE), "free_bytes": int(host.check_output(free))}

    run = under_load(
        "database disk full 15 s", "one host", URL, CAFILE,
        inject=lambda: host.run_expect([0], fill),
        heal=lambda: host.run_expect([0], f"rm -f {small_disk}"),
        hold=15, probe=probe,
    )  # fmt: skip
    answered_by_the_site(run)
    assert run.probe["free_bytes"] < 65536, run.probe
    assert run.failures.get("POST 503", 0) > 0, run
    assert run.probe["status"] == 503, run.probe
    assert run.probe["name"] in run.probe["page"], "the form lost the name typed"


def test_the_app_server_stopped_as_it_starts(host):
    """A stop that comes while the workers still load the app (a restart, then a stop at
    once): uWSGI's master then waits on them for good, and the stop would end at its
    timeout, the unit failed. The stop kills the workers after their mercy instead, and
    the unit stops cleanly; the next start serves."""
    unit = "names-uwsgi.service"
    host.run_expect([0], f"systemctl restart {unit} && systemctl stop {unit}")
    assert host.check_output(f"systemctl show -p Result --value {unit}") == "success"
    host.run_expect([0], f"systemctl start {unit}")
    health = host.check_output(
        "curl -skf --retry 10 --retry-all-errors --retry-delay 1 https://127.0.0.1/healthz"
    )
    assert json.loads(health)["status"] == "ok"


def test_the_container_restarted(host):
    container = host.ansible.get_variables()["inventory_hostname"]
    restart = ["docker", "restart", container]
    run = under_load("host (container) restarted", "one host", URL, CAFILE,
                     lambda: subprocess.run(restart, check=True, timeout=120))  # fmt: skip
    answered_by_the_site(run, refused_allowed=True)
    assert json.loads(host.check_output("curl -sk https://127.0.0.1/healthz"))["status"] == "ok"
