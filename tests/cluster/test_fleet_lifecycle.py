"""The release lifecycle on the fleet, told in order under load through the web host:
a rolling upgrade with a migration, the pg_dump it took restored into a scratch database,
a fleet rollback, a release the canary host refuses, and a release that serves on the
first app host (Python 3.11) but cannot start on the second (3.13), which the deploy
undoes on both. Every run fails no request, and every name stored is listed at the end.
Then the restore drill (backup, more names, restore from the controller's copy) and a
damaged dump, which its check catches. Tests depend on the ones before them."""

from __future__ import annotations

import json
import shlex
import urllib.parse
import uuid
from pathlib import Path

import pytest

from tests.cluster.conftest import CAFILE, URL, record, variable
from tests.helpers import csrf_token, run_playbook
from tests.lifecycle.loadgen import Load, Session, Target, listed_names
from tests.releases import FAULT, MIGRATION_0002, build_releases

pytestmark = pytest.mark.web

AUDIT_LOG = "/var/log/names/deploys.log"
STORED: set[str] = set()

# D cannot start on the second app host's Python (Debian 13's 3.13); the first app
# host's (Debian 12's 3.11) runs it.
PYTHON_FAULT = (
    "\nimport sys\n"
    "if sys.version_info >= (3, 12):\n"
    '    raise RuntimeError("injected fault: this release cannot start on Python 3.12+")\n'
)


def add_migration(tree: Path) -> None:
    (tree / "app/migrations/versions/0002_index_names_by_name.py").write_text(MIGRATION_0002)


def with_fault(fault: str):
    def change(tree: Path) -> None:
        add_migration(tree)  # after B: they carry B's migration too
        with (tree / "app" / "wsgi.py").open("a") as wsgi:
            wsgi.write(fault)

    return change


@pytest.fixture(scope="module")
def releases(tmp_path_factory, fleet) -> dict:
    """A (deployed at converge), B (with migration 0002), C (B and a fault on import),
    D (B and a fault on Python 3.12+), the new ones built in a dist of their own."""
    tmp = tmp_path_factory.mktemp("releases")
    dist = tmp / "dist"
    version_a = variable(fleet["app"][0], "names_app_version")
    versions = {"a": version_a, "b": f"{version_a}.post1", "c": f"{version_a}.post2",
                "d": f"{version_a}.post3"}  # fmt: skip
    changes = {"b": add_migration, "c": with_fault(FAULT), "d": with_fault(PYTHON_FAULT)}
    build_releases(tmp, dist, {versions[release]: change for release, change in changes.items()})
    return {**versions, "dist": dist}


def current(host) -> str:
    return host.file("/srv/names/current").linked_to.rsplit("/", 1)[-1]


def last_audit(host) -> dict:
    return json.loads(host.file(AUDIT_LOG).content_string.splitlines()[-1])


def master_pid(host) -> str:
    return host.check_output("systemctl show -p MainPID --value names-uwsgi.service")


def psql(db, database: str, query: str) -> list[str]:
    """Rows of ``query`` on the db host, one string each (psql as postgres, unaligned)."""
    command = f"sudo -u postgres psql -At -d {database} -c {shlex.quote(query)}"
    return db.check_output(command).splitlines()


def add_names(count: int, tag: str) -> list[str]:
    session = Session(Target.parse(URL, CAFILE), timeout=10)
    names = [f"fleet {tag} {uuid.uuid4().hex[:8]}" for _ in range(count)]
    for name in names:
        token = csrf_token(session.request("GET", "/")[1])
        body = urllib.parse.urlencode({"csrf_token": token, "name": name})
        status, content = session.request("POST", "/", body)
        assert status == 303, content
    session.close()
    STORED.update(names)
    return names


def under_load(tag: str, playbook: str, **named_vars):
    """Run ``playbook`` with the load running through the web host; the figures go to
    build/cluster-report.json. A fleet deploy outlasts 3,000 requests at 60 a second: a
    faster pace would only take the shared cores from the deploy."""
    with Load(URL, cafile=CAFILE, tag=tag, rate=60) as load:
        load.wait_for(300)
        run = run_playbook(playbook, **named_vars)
    STORED.update(load.report.stored_names)
    record(tag, {**load.report.summary(), "deploy_seconds": round(run.seconds, 1)})
    return run, load.report


def deploy_under_load(tag: str, releases: dict, release: str):
    """deploy.yml of one of the releases built here, under load."""
    return under_load(
        tag,
        "deploy.yml",
        names_app_version=releases[release],
        names_app_release_dir=releases["dist"],
    )


def assert_no_failed_request(report) -> None:
    assert report.requests >= 3000
    assert report.failures == [], report.summary()


def test_rolling_upgrade_with_a_migration_under_load_fails_no_request(fleet, releases):
    add_names(3, "before the upgrade")
    run, report = deploy_under_load("rolling_upgrade", releases, "b")
    assert run.returncode == 0, run.output[-3000:]
    assert_no_failed_request(report)
    assert [current(app) for app in fleet["app"]] == [releases["b"]] * 2
    # Migrated, after one pg_dump on the db host, which every app host's entry names.
    schema = "SELECT version_num FROM alembic_version"
    assert psql(fleet["db"][0], "names", schema) == ["0002"]
    backups = {last_audit(app)["backup"] for app in fleet["app"]}
    assert len(backups) == 1
    db_host, _, dump = backups.pop().partition(":")
    assert db_host == fleet["db"][0].backend.host
    assert dump.endswith(".dump")
    assert fleet["db"][0].file(dump).user == "postgres"


def test_the_pg_dump_restores_into_a_scratch_database_with_the_names(fleet):
    db = fleet["db"][0]
    dump = last_audit(fleet["app"][0])["backup"].partition(":")[2]
    scratch = f"scratch_{uuid.uuid4().hex[:8]}"
    postgres = "sudo -u postgres"
    db.run_expect([0], f"{postgres} createdb {scratch}")
    try:
        db.run_expect([0], f"{postgres} pg_restore --no-owner -d {scratch} {shlex.quote(dump)}")
        restored = set(psql(db, scratch, "SELECT name FROM names"))
    finally:
        db.run_expect([0], f"{postgres} dropdb {scratch}")
    before = {name for name in STORED if name.startswith("fleet before the upgrade")}
    assert before
    assert before <= restored


def test_fleet_rollback_under_load_fails_no_request(fleet, releases):
    run, report = under_load("rolling_rollback", "rollback.yml")
    assert run.returncode == 0, run.output[-3000:]
    assert_no_failed_request(report)
    assert [current(app) for app in fleet["app"]] == [releases["a"]] * 2
    assert [last_audit(app)["result"] for app in fleet["app"]] == ["rolled back"] * 2


def test_a_release_the_canary_refuses_touches_no_other_host(fleet, releases):
    canary, other = fleet["app"]
    other_master = master_pid(other)
    run, report = deploy_under_load("canary_refused", releases, "c")
    assert run.returncode != 0
    assert_no_failed_request(report)
    assert f'{canary.backend.host} failed "' in run.output
    assert "injected fault" in run.output
    assert [current(app) for app in fleet["app"]] == [releases["a"]] * 2
    # The other host was neither switched nor restarted.
    assert master_pid(other) == other_master
    assert f"{other.backend.host} was not switched" in run.output


def test_a_release_failing_on_the_second_host_is_undone_on_the_first(fleet, releases):
    first, second = fleet["app"]
    run, report = deploy_under_load("second_batch_failed", releases, "d")
    assert run.returncode != 0
    assert_no_failed_request(report)
    assert f'{second.backend.host} failed "' in run.output
    assert "cannot start on Python 3.12+" in run.output
    assert f"{first.backend.host} had switched and was switched back" in run.output
    assert "Every app host serves the release it served before this deploy" in run.output
    assert [current(app) for app in fleet["app"]] == [releases["a"]] * 2
    health = Session(Target.parse(URL, CAFILE), timeout=10)
    versions = {json.loads(health.request("GET", "/healthz")[1])["version"] for _ in range(8)}
    health.close()
    assert versions == {releases["a"]}


def test_every_name_stored_through_the_fleet_is_listed():
    assert len(STORED) > 1000
    assert listed_names(URL, CAFILE, until=STORED) >= STORED


def test_fleet_restore_drill_brings_back_exactly_the_backed_up_names(fleet, tmp_path):
    """make backup (the db host's backup service: a checked pg_dump, copied to the
    controller), more names, then make restore FROM=<that copy> with every app host
    stopped meanwhile: the fleet lists exactly the names it listed when the backup was taken."""
    add_names(3, "drill before")
    listed = listed_names(URL, CAFILE)
    backed_up = run_playbook("backup.yml", names_app_backup_controller_dir=str(tmp_path))
    assert backed_up.returncode == 0, backed_up.output[-3000:]
    db = fleet["db"][0]
    (copy,) = (tmp_path / db.backend.host).iterdir()
    entry = json.loads(db.file("/var/log/names/backups.log").content_string.splitlines()[-1])
    assert entry["result"] == "ok", entry
    assert entry["backup"] == f"/var/backups/names/routine/{copy.name}"
    after = add_names(3, "drill after")

    restored = run_playbook("restore.yml", names_app_restore_from_controller=str(copy))

    assert restored.returncode == 0, restored.output[-3000:]
    assert listed_names(URL, CAFILE) == listed
    STORED.difference_update(after)
    assert [last_audit(app)["result"] for app in fleet["app"]] == ["restored"] * 2
    record(
        "restore_drill",
        {
            "names": len(listed),
            "backup_bytes": copy.stat().st_size,
            "backup_seconds": round(backed_up.seconds, 1),
            "restore_seconds": round(restored.seconds, 1),
        },
    )


# A pg_dump whose archive is cut short after it is written.
TRUNCATING_PG_DUMP = """#!/bin/sh
pg_dump "$@" || exit
for arg; do case $arg in --file=*) truncate -s 1000 "${arg#--file=}";; esac; done
"""


def test_a_dump_that_fails_its_check_is_kept_aside_and_reported(fleet):
    db = fleet["db"][0]
    newest = "ls -t /var/backups/names/routine/names-*.dump | head -n 1"
    good = db.check_output(newest)
    wrapper = "/usr/local/lib/names-truncating-pg_dump"
    script = shlex.quote(TRUNCATING_PG_DUMP)
    db.check_output(f"printf %s {script} > {wrapper} && chmod 755 {wrapper}")
    command = (
        "sudo -u postgres /usr/local/sbin/names-backup --engine postgresql --database names "
        f"--dir /var/backups/names/routine --tree /var/backups/names --pg-dump {wrapper}"
    )
    run = db.run(command)
    db.check_output(f"rm -f {wrapper}")
    assert run.rc == 1, run.stdout
    entry = json.loads(run.stdout)
    assert entry["result"] == "failed"
    assert "failed its check" in entry["error"]
    corrupt = entry["error"].split("kept as ", 1)[1].split(":", 1)[0]
    assert corrupt.endswith(".dump.corrupt")
    assert db.file(corrupt).exists
    assert "names-backup: the backup failed its check" in run.stderr
    # The newest backup, the one a restore takes by default, is still the good one.
    assert db.check_output(newest) == good
