"""The release lifecycle, told in order on one host (the default scenario's Debian 12
host, after tests/infra has checked it as converged).

Deploy A (converge) with the story's settings, add names, upgrade to B under load, try
a broken C (the health gate stops it), try bad tarballs (refused before any change),
roll back to A under load while a second deploy is refused by the lock, then check
that the audit log tells that story. Tests depend on the ones before them.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import re
import shlex
import sqlite3
import subprocess
import tarfile
import time
import urllib.parse
import uuid
from contextlib import closing
from pathlib import Path

import pytest

from tests.helpers import Run, csrf_token
from tests.lifecycle.conftest import (
    CAFILE,
    HOSTS,
    HTTP_URL,
    URL,
    play,
    plays_at_once,
    start_play,
)
from tests.lifecycle.loadgen import Load, Session, Target, listed_names

pytestmark = pytest.mark.web
testinfra_hosts = [f"ansible://{HOSTS}"]

LOCK = "/run/lock/names-deploy"
AUDIT_LOG = "/var/log/names/deploys.log"
STORY: dict = {"names": []}


def health() -> dict:
    session = Session(Target.parse(URL, CAFILE), timeout=10)
    status, content = session.request("GET", "/healthz")
    session.close()
    assert status == 200, content
    return json.loads(content)


def current(host) -> str:
    return host.file("/srv/names/current").linked_to.rsplit("/", 1)[-1]


def audit(host) -> list[dict]:
    return [json.loads(line) for line in host.file(AUDIT_LOG).content_string.splitlines()]


def add_name(name: str) -> None:
    session = Session(Target.parse(URL, CAFILE), timeout=10)
    token = csrf_token(session.request("GET", "/")[1])
    body = urllib.parse.urlencode({"csrf_token": token, "name": name})
    status, content = session.request("POST", "/", body)
    session.close()
    assert status == 303, content


def test_the_storys_settings_reach_nginx_and_leave_the_app_server_alone(host, version_a):
    master, served = main_pid(host), set(workers(host))
    run = play("site.yml", names_app_version=version_a)
    assert run.returncode == 0, run.output[-3000:]
    site = host.file("/etc/nginx/sites-available/names.conf").content_string
    assert "rate=1000r/s" in site
    assert (main_pid(host), set(workers(host))) == (master, served)
    assert audit(host)[-1]["result"] == "unchanged"


def test_a_serves_after_converge(host, version_a):
    answer = health()
    assert (answer["status"], answer["version"], answer["database"]) == ("ok", version_a, "ok")
    settings = host.file("/etc/names/names.toml").sha256sum
    assert answer["config"] == settings[:16]
    assert current(host) == version_a


def test_plain_http_redirects_to_the_published_https_port():
    """Behind a port mapping (18080 -> 80, 18443 -> 443) the redirect names the public port."""
    parsed = urllib.parse.urlparse(HTTP_URL)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
    try:
        connection.request("GET", "/?page=1")
        response = connection.getresponse()
    finally:
        connection.close()
    assert response.status == 301
    assert response.getheader("Location") == f"{URL}/?page=1"


def test_names_are_added_on_a():
    STORY["names"] = [f"Before upgrade {uuid.uuid4().hex[:6]}" for _ in range(3)]
    for name in STORY["names"]:
        add_name(name)
    assert set(STORY["names"]) <= listed_names(URL, CAFILE, until=set(STORY["names"]))


def test_upgrade_to_b_under_load_fails_no_request(host, releases, report):
    with Load(URL, cafile=CAFILE, tag="upgrade") as load:
        load.wait_for(300)
        run = play(
            "site.yml", names_app_version=releases["b"], names_app_release_dir=releases["dist"]
        )
    assert run.returncode == 0, run.output[-3000:]
    report["upgrade"] = {**load.report.summary(), "deploy_seconds": round(run.seconds, 1)}
    assert load.report.requests >= 3000
    assert load.report.failures == [], load.report.summary()
    wanted = set(load.report.stored_names) | set(STORY["names"])
    listed = listed_names(URL, CAFILE, until=wanted)
    assert set(load.report.stored_names) <= listed, "a POSTed name is missing"
    assert set(STORY["names"]) <= listed, "names from before the upgrade are missing"
    assert health()["version"] == releases["b"]
    assert current(host) == releases["b"]


def test_b_migrated_after_backing_up_the_database(host, releases):
    backups = host.file(f"/var/lib/names/backups/{releases['b']}")
    assert backups.is_directory
    files = host.check_output(f"find {backups.path} -name 'names-*.sqlite3'").split()
    assert len(files) == 1
    backup = host.file(files[0])
    assert (backup.user, backup.mode) == ("names", 0o600)
    deployed_b = next(e for e in audit(host) if e["to"] == releases["b"])
    assert deployed_b["backup"] == f"{host.backend.host}:{backup.path}"
    assert "0002 (head)" in host.check_output(
        "sudo -u names NAMES_CONFIG=production NAMES_SETTINGS=/etc/names/names.toml "
        "/srv/names/current/venv/bin/names db current 2>/dev/null"
    )


def test_broken_c_is_stopped_by_the_health_gate(host, releases, report):
    run = play("site.yml", names_app_version=releases["c"], names_app_release_dir=releases["dist"])
    report["broken_release_refused"] = {"seconds": round(run.seconds, 1)}
    assert run.returncode != 0
    # The gate instance could not even start: the fault stops it before any health poll.
    assert 'failed the health gate at "Gate | Start the release' in run.output
    assert f"Release {releases['c']} with the staged configuration failed the health gate" in (
        run.output
    )
    assert f"{releases['b']} keeps serving" in run.output
    assert f"journalctl -u names-uwsgi-canary@{releases['c']}" in run.output
    assert "injected fault" in run.output
    assert current(host) == releases["b"]
    assert health()["version"] == releases["b"]
    assert not host.service(f"names-uwsgi-canary@{releases['c']}").is_running


def _repack(source, target, version, *, drop_manifest=False, manifest_change=None):
    """Copy a release tarball as version ``version``, optionally altered."""
    with tarfile.open(source) as old, tarfile.open(target, "w:gz", compresslevel=1) as new:
        for member in old.getmembers():
            data = old.extractfile(member).read() if member.isfile() else None
            member.name = f"names-{version}/" + member.name.partition("/")[2]
            member.name = member.name.rstrip("/") or f"names-{version}"
            if member.name.endswith("/MANIFEST.json"):
                if drop_manifest:
                    continue
                if manifest_change:
                    manifest = json.loads(data)
                    manifest_change(manifest)
                    data = json.dumps(manifest).encode()
                    member.size = len(data)
            new.addfile(member, io.BytesIO(data) if data is not None else None)


def _only_python_313(manifest):
    manifest["target_pythons"] = ["3.13"]
    manifest["wheels"] = {"3.13": manifest["wheels"]["3.13"]}


BAD_TARBALLS = {
    "checksum-mismatch": ("Checksum mismatch", False),
    "truncated": ("is not a names release", True),
    "not-gzip": ("is not a names release", True),
    "no-manifest": ("is not a names release", True),
    "no-wheels-for-host-python": ("with wheels for Python 3.11", True),
}


def _bad_tarball(releases, case: str, version: str) -> Path:
    """The release dir of ``case``: B repacked as ``version``, then broken that way."""
    _, rewrite_checksum = BAD_TARBALLS[case]
    dist = releases["tmp"] / f"bad-{case}"
    dist.mkdir()
    good = releases["dist"] / f"names-{releases['b']}.tar.gz"
    tarball = dist / f"names-{version}.tar.gz"
    renamed = lambda m: m.update(version=version)  # noqa: E731 - a one-line manifest edit
    _repack(good, tarball, version, manifest_change=renamed)
    if case == "truncated":
        tarball.write_bytes(tarball.read_bytes()[: tarball.stat().st_size // 2])
    elif case == "not-gzip":
        tarball.write_bytes(b"PK\x03\x04 this is a zip file, not a release\n" * 100)
    elif case == "no-manifest":
        _repack(good, tarball, version, drop_manifest=True)
    elif case == "no-wheels-for-host-python":
        _repack(good, tarball, version, manifest_change=lambda m: (renamed(m), _only_python_313(m)))
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    (dist / f"{tarball.name}.sha256").write_text(f"{digest}  {tarball.name}\n")
    if not rewrite_checksum:
        with tarball.open("ab") as appended:
            appended.write(b"tampered")
    return dist


@pytest.fixture(scope="module")
def bad_tarballs_refused(host, releases) -> tuple[str, int, dict[str, Run]]:
    """Every bad tarball offered at once (a refusal changes nothing): the version they
    claim, the audit log's length before, and each run."""
    version = f"{releases['a']}.post9"
    runs = {
        case: [f"names_app_version={version}",
               f"names_app_release_dir={_bad_tarball(releases, case, version)}"]
        for case in BAD_TARBALLS
    }  # fmt: skip
    entries_before = len(audit(host))
    return version, entries_before, plays_at_once("site.yml", runs)


@pytest.mark.parametrize("case", BAD_TARBALLS)
def test_bad_tarball_is_refused_before_any_change(host, releases, bad_tarballs_refused, case):
    message, _ = BAD_TARBALLS[case]
    version, entries_before, runs = bad_tarballs_refused
    run = runs[case]

    assert run.returncode != 0
    assert message in run.output, run.output[-2000:]
    assert set(run.changed.values()) == {0}, run.changed
    assert not host.file(f"/srv/names/releases/{version}").exists
    assert not host.file(f"/srv/names/archive/names-{version}.tar.gz").exists
    assert len(audit(host)) == entries_before
    assert current(host) == releases["b"]


def test_rollback_to_a_under_load_while_a_second_deploy_is_refused(host, releases, report):
    with Load(URL, cafile=CAFILE, tag="rollback") as load:
        load.wait_for(300)
        started = time.monotonic()
        rollback = start_play("rollback.yml", names_app_rollback_to=releases["a"])
        deadline = time.monotonic() + 60
        while not host.file(LOCK).exists and time.monotonic() < deadline:
            time.sleep(0.2)
        assert host.file(LOCK).exists, "the rollback never took the lock"
        second = play("site.yml", names_app_version=releases["a"])
        output, _ = rollback.communicate(timeout=600)
        rollback_seconds = time.monotonic() - started
    assert rollback.returncode == 0, output[-3000:]
    report["rollback"] = {**load.report.summary(), "rollback_seconds": round(rollback_seconds, 1)}
    assert second.returncode != 0
    assert "is locked by another rollback" in second.output
    assert "since" in second.output
    assert load.report.requests >= 3000
    assert load.report.failures == [], load.report.summary()
    stored = set(load.report.stored_names)
    assert stored <= listed_names(URL, CAFILE, until=stored)
    assert health()["version"] == releases["a"]
    assert current(host) == releases["a"]
    assert not host.file(LOCK).exists


def test_rollback_to_a_version_not_on_disk_is_refused(host, releases):
    run = play("rollback.yml", names_app_rollback_to="0.0.1")
    assert run.returncode != 0
    assert "Release 0.0.1 is not installed" in run.output
    assert releases["b"] in run.output  # the message lists what is on disk
    assert current(host) == releases["a"]


def main_pid(host) -> str:
    return host.check_output("systemctl show -p MainPID --value names-uwsgi.service")


def workers(host) -> list[str]:
    return host.check_output(f"ps -o pid= --ppid {main_pid(host)}").split()


def status_output() -> str:
    run = play("status.yml")
    assert run.returncode == 0, run.output[-2000:]
    return run.output


def test_workers_that_do_not_serve_current_are_shown_and_repaired(host, releases):
    """A run that died between the switch and the reload: current names A, the workers
    serve B. make status shows it, and the next deploy of A reloads instead of calling
    it unchanged."""
    current_link = "/srv/names/current"
    before = set(workers(host))
    host.check_output(f"ln -sfn /srv/names/releases/{releases['b']} {current_link}")
    host.check_output("systemctl reload names-uwsgi.service")
    deadline = time.monotonic() + 90  # the chain reload replaces every worker, one by one
    while (set(workers(host)) & before or len(workers(host)) != len(before)) and (
        time.monotonic() < deadline
    ):
        time.sleep(1)
    host.check_output(f"ln -sfn /srv/names/releases/{releases['a']} {current_link}")
    assert {health()["version"] for _ in range(8)} == {releases["b"]}

    shown = status_output()
    assert f"current is {releases['a']} but the workers serve {releases['b']}" in shown
    run = play("deploy.yml", names_app_version=releases["a"])

    assert run.returncode == 0, run.output[-3000:]
    assert health()["version"] == releases["a"]
    assert audit(host)[-1]["result"] == "repaired"
    assert "drift: none" in status_output()


def test_changes_behind_the_deploys_back_are_shown_and_repaired_by_the_next_run(host, version_a):
    """A deploy reads the host every time; nothing it read in an earlier run is trusted.
    uwsgi.ini changed after the master read it (a run killed before its restart): make
    status shows it and the next run restarts the master. A file, a unit and a permission
    changed by hand (none of them a reason to restart) are put back by the same run."""
    host.check_output("touch /etc/names/uwsgi.ini")
    checker = "/usr/local/lib/names-deploy/nginx-check-site"
    wanted = host.file(checker).content_string
    host.check_output(f"echo '# edited by hand' >> {checker}")
    host.check_output("systemctl disable --quiet names-uwsgi.socket")
    host.check_output("chmod 0777 /srv/names/releases")
    # The self-signed pair is read in the nginx role's first call, not by modules of
    # its own: a key left readable is still seen and tightened.
    key = "/etc/nginx/tls/selfsigned.key"
    key_content = host.file(key).content_string
    host.check_output(f"chmod 0644 {key}")
    assert "the app server started before its configuration or unit last changed" in (
        status_output()
    )
    run = play("site.yml", names_app_version=version_a)
    assert run.returncode == 0, run.output[-3000:]
    assert run.outcome("Apply | Restart the app server gracefully") == "changed"
    assert audit(host)[-1]["result"] == "repaired"
    assert host.file(checker).content_string == wanted
    assert host.service("names-uwsgi.socket").is_enabled
    assert host.file("/srv/names/releases").mode == 0o755
    assert host.file(key).mode == 0o600
    assert host.file(key).content_string == key_content
    assert "drift: none" in status_output()


# The settings and uWSGI files the changes below end with; each run carries the ones
# before it, so that it changes one thing.
CHANGED: dict = {}


def change_under_load(tag: str, report, **changes) -> tuple:
    CHANGED.update(changes)
    with Load(URL, cafile=CAFILE, tag=tag) as load:
        load.wait_for(300)
        run = play("deploy.yml", json.dumps(CHANGED))  # the app tier: what changes
    report[tag] = {**load.report.summary(), "deploy_seconds": round(run.seconds, 1)}
    return run, load.report


def assert_served_through(run, load, expected_step: str) -> None:
    assert run.returncode == 0, run.output[-3000:]
    assert run.outcome(expected_step) == "changed", run.output[-3000:]
    assert load.requests >= 3000
    assert load.failures == [], load.summary()
    stored = set(load.stored_names)
    assert stored <= listed_names(URL, CAFILE, until=stored)


def test_a_settings_change_is_gated_and_reloads_under_load(host, version_a, report):
    CHANGED["names_app_version"] = version_a
    run, load = change_under_load("settings_change", report, names_app_page_size=25)
    assert_served_through(run, load, "Gate | Start the release in its health-gate instance")
    assert run.outcome("Apply | Chain-reload the app server") == "changed"
    assert run.outcome("Apply | Restart the app server gracefully") in (None, "skipping")
    assert "PAGE_SIZE = 25" in host.file("/etc/names/names.toml").content_string
    assert audit(host)[-1]["result"] == "reconfigured"
    assert health()["config"] == host.file("/etc/names/names.toml").sha256sum[:16]


def test_a_settings_change_the_release_refuses_never_goes_live(host):
    """A database the release cannot reach: refused before anything goes live (the
    migration check reads the staged settings), the live settings and workers unchanged."""
    live = host.file("/etc/names/names.toml").sha256sum
    served = health()["config"]
    bad = {
        **CHANGED,
        "names_app_database_url": "postgresql://names@127.0.0.1:9/names",
        "names_app_database_host": host.backend.host,  # where a backup would be taken
    }
    run = play("deploy.yml", json.dumps(bad))
    assert run.returncode != 0
    assert "What served before keeps serving" in run.output or "health gate" in run.output
    assert host.file("/etc/names/names.toml").sha256sum == live
    assert health()["config"] == served
    assert audit(host)[-1]["result"] == "failed"


def test_a_secret_key_rotation_keeps_forms_from_before_it_working(host, report):
    """Forms opened under the generated key post after the inventory's key replaces it,
    the old key kept as a fallback: zero failed requests, every session from before. A new
    current key is a graceful restart: in a chain reload, old and new workers would each
    sign sessions the other cannot read."""
    old = host.file("/var/lib/names/secret_key").content_string.strip()
    new = uuid.uuid4().hex + uuid.uuid4().hex
    run, load = change_under_load(
        "key_rotation", report, names_app_secret_key=new, names_app_secret_key_fallbacks=[old]
    )
    assert_served_through(run, load, "Apply | Restart the app server gracefully")
    assert run.outcome("Apply | Chain-reload the app server") in (None, "skipping")
    assert audit(host)[-1]["result"] == "reconfigured"
    add_name(f"After rotation {uuid.uuid4().hex[:6]}")


def test_uwsgi_ini_and_unit_changes_restart_gracefully_under_load(host, report):
    """uwsgi.ini (3 workers) and the service unit (an environment variable) change: a
    graceful restart, no failed request, and the listening socket is never restarted (only
    its own unit's change does that)."""
    socket_since = host.check_output(
        "systemctl show -p ActiveEnterTimestampMonotonic --value names-uwsgi.socket"
    )
    run, load = change_under_load(
        "uwsgi_ini_and_unit_change", report, uwsgi_processes=3, uwsgi_environment={"TZ": "UTC"}
    )
    assert_served_through(run, load, "Apply | Restart the app server gracefully")
    assert len(workers(host)) == 3
    unit = host.file("/etc/systemd/system/names-uwsgi.service").content_string
    assert 'Environment="TZ=UTC"' in unit
    assert (
        host.check_output(
            "systemctl show -p ActiveEnterTimestampMonotonic --value names-uwsgi.socket"
        )
        == socket_since
    )


def test_a_change_that_passes_the_gate_but_does_not_serve_is_undone(host):
    """The serving instance reads settings that do not exist (the gate reads the staged
    ones): the gate passes, the serving instance does not; what served comes back."""
    unit = "/etc/systemd/system/names-uwsgi.service"
    before = host.file(unit).sha256sum
    previous = host.file("/srv/names/previous").linked_to
    broken = {**CHANGED["uwsgi_environment"], "NAMES_SETTINGS": "/etc/names/missing.toml"}
    # Workers that cannot load never serve, however long the check waits for them: a
    # short gate bounds that wait (twice the gate's) and the wait for the restored ones.
    changes = {**CHANGED, "uwsgi_environment": broken, "names_app_gate_timeout": 8}
    run = play("deploy.yml", json.dumps(changes))
    assert run.returncode != 0
    assert "passed the health gate but did not serve after the change" in run.output
    assert host.file(unit).sha256sum == before
    assert host.file("/srv/names/previous").linked_to == previous
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if health()["status"] == "ok":
                break
        except OSError:
            pass
        time.sleep(1)
    assert health()["status"] == "ok"
    assert audit(host)[-1]["result"] == "failed"


def test_stale_lock_is_reported_and_cleared_by_the_documented_command(host, version_a):
    since = "2026-01-01T00:00:00Z"
    owner = {"operator": "ghost", "controller": "lost-laptop", "action": "deploy",
             "version": "9.9.9", "since": since, "since_epoch": 1767225600}  # fmt: skip
    host.run(f"mkdir -m 0700 {LOCK}")
    host.run(f"echo '{json.dumps(owner)}' > {LOCK}/owner.json")

    refused = play("site.yml", names_app_version=version_a)
    assert refused.returncode != 0
    assert f"locked by another deploy: ghost@lost-laptop since {since}" in refused.output
    assert "STALE" in refused.output
    assert set(refused.changed.values()) == {0}

    cleared = play("unlock.yml")
    assert cleared.returncode == 0
    assert "ghost" in cleared.output
    assert not host.file(LOCK).exists
    # The next deploy runs, back to the inventory's settings after the changes above.
    again = play("deploy.yml", names_app_version=version_a)
    assert again.returncode == 0, again.output[-2000:]
    assert audit(host)[-1]["result"] == "reconfigured"


def test_a_fresh_lock_is_not_stale_whatever_the_controllers_time_zone(host, version_a):
    """A lock taken a minute ago (by the host's clock) is a minute old for a controller in
    UTC-2, which saw it as two hours old and STALE when the controller measured it (the
    unit tests run the module in four zones)."""
    zone = "Etc/GMT+2"
    since = int(host.check_output("date +%s")) - 60
    owner = {"operator": "ada", "controller": "other-laptop", "action": "deploy",
             "version": version_a, "since": "a minute ago", "since_epoch": since}  # fmt: skip
    host.run(f"mkdir -m 0700 {LOCK}")
    host.run(f"echo '{json.dumps(owner)}' > {LOCK}/owner.json")
    try:
        refused = play("deploy.yml", names_app_version=version_a, env={"TZ": zone})
    finally:
        host.run(f"rm -rf {LOCK}")
    assert refused.returncode != 0
    age = re.search(r"locked by another deploy: ada@other-laptop since a minute ago \((\d+) s ago",
                    refused.output)  # fmt: skip
    assert age, refused.output[-2000:]
    assert 60 <= int(age.group(1)) < 600
    assert "STALE" not in refused.output
    assert set(refused.changed.values()) == {0}


def test_control_hard_restart_under_load_is_seen_failing(host, report):
    """The harness sees failures: closing the socket under load fails requests."""
    with Load(URL, cafile=CAFILE, tag="control", min_requests=1500) as load:
        load.wait_for(300)
        host.run("systemctl restart names-uwsgi.socket names-uwsgi.service")
        load.wait_for(1200)
    report["control_hard_restart"] = load.report.summary()
    assert load.report.failures, "the harness saw no failure through a hard restart"
    assert health()["status"] == "ok"


def test_names_survive_service_and_container_restarts(host, releases):
    names = set(STORY["names"])
    host.run("systemctl restart names-uwsgi.service")
    assert names <= listed_names(URL, CAFILE, until=names)
    container = host.ansible.get_variables()["inventory_hostname"]
    subprocess.run(["docker", "restart", container], check=True, timeout=120)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if health()["status"] == "ok":
                break
        except OSError:
            pass
        time.sleep(1)
    assert names <= listed_names(URL, CAFILE, until=names)
    assert health()["version"] == releases["a"]


NAMES_CLI = (
    "sudo -u names NAMES_CONFIG=production NAMES_SETTINGS=/etc/names/names.toml "
    "/srv/names/current/venv/bin/names"
)


# Run on the host: the names in the SQLite file named by argv[1].
NAMES_IN_FILE = (
    "import sqlite3, sys; "
    "print(*[r[0] for r in sqlite3.connect(sys.argv[1]).execute('SELECT name FROM names')], "
    "sep=chr(10))"
)


def names_in_sqlite(host, path: str) -> set[str]:
    command = f"python3 -c {shlex.quote(NAMES_IN_FILE)} {shlex.quote(path)}"
    return set(host.check_output(command).splitlines())


def test_restore_under_load_brings_back_the_backup_and_loses_nothing(host, report):
    """make restore, with the load running: names posted just before the backup (still in
    the WAL) are restored; names posted after it are gone from the page but kept in the
    copy of the database the restore replaced; every POST that got a 303 is in one of
    the two."""
    before = [f"Before backup {uuid.uuid4().hex[:6]}" for _ in range(3)]
    after = [f"After backup {uuid.uuid4().hex[:6]}" for _ in range(3)]
    with Load(URL, cafile=CAFILE, tag="restore") as load:
        load.wait_for(300)
        for name in before:
            add_name(name)
        wal = host.file("/var/lib/names/db/names.sqlite3-wal")
        assert wal.exists
        assert wal.size > 0, "the names just posted are still in the WAL"
        backup = f"/var/lib/names/backups/manual/names-{uuid.uuid4().hex[:8]}.sqlite3"
        host.check_output(f"{NAMES_CLI} backup {backup}")
        for name in after:
            add_name(name)
        load.wait_for(load.report.requests + 300)
        started = time.monotonic()
        run = play("restore.yml", names_app_restore_from=backup)
        restore_seconds = time.monotonic() - started
        load.wait_for(load.report.requests + 300)
    assert run.returncode == 0, run.output[-3000:]
    report["restore"] = {**load.report.summary(), "restore_seconds": round(restore_seconds, 1)}

    listed = listed_names(URL, CAFILE)
    assert set(before) <= listed
    assert not set(after) & listed
    replaced = host.check_output(
        "ls -t /var/lib/names/backups/before-restore/names-*.sqlite3 | head -n 1"
    )
    kept = names_in_sqlite(host, replaced)
    assert set(after) <= kept, "the replaced database lost names from its WAL"
    assert set(load.report.stored_names) <= listed | kept, "a POST that got a 303 is lost"
    assert health()["status"] == "ok"
    entry = audit(host)[-1]
    assert (entry["action"], entry["to"], entry["result"]) == ("restore", backup, "restored")


def test_restore_refuses_a_backup_that_is_not_sound_and_changes_nothing(host):
    bad = "/var/lib/names/backups/manual/names-corrupt.sqlite3"
    host.check_output(f"head -c 20000 /dev/urandom > {bad} && chown names: {bad}")
    pid = host.check_output("systemctl show -p MainPID --value names-uwsgi.service")
    run = play("restore.yml", names_app_restore_from=bad)
    assert run.returncode != 0
    assert f"{bad} is not a names backup" in run.output
    assert "Nothing was changed" in run.output
    assert host.check_output("systemctl show -p MainPID --value names-uwsgi.service") == pid
    assert audit(host)[-1]["result"] == "failed"


def names_in_copy(path: Path) -> set[str]:
    """The names an SQLite backup on the controller holds (read-only)."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as copy:
        return {row[0] for row in copy.execute("SELECT name FROM names")}


def test_restore_drill_brings_back_exactly_the_backed_up_names(host, report, tmp_path):
    """make backup (the backup service, then a copy on the controller), more names, then
    make restore FROM=<that copy>: the page lists exactly the names the copy holds."""
    before = [f"Drill before {uuid.uuid4().hex[:6]}" for _ in range(3)]
    after = [f"Drill after {uuid.uuid4().hex[:6]}" for _ in range(3)]
    for name in before:
        add_name(name)
    backed_up = play("backup.yml", names_app_backup_controller_dir=str(tmp_path))
    assert backed_up.returncode == 0, backed_up.output[-3000:]
    (copy,) = (tmp_path / host.ansible.get_variables()["inventory_hostname"]).iterdir()
    held = names_in_copy(copy)
    assert set(before) <= held
    entry = json.loads(host.file("/var/log/names/backups.log").content_string.splitlines()[-1])
    assert (entry["result"], entry["names"]) == ("ok", len(held))
    assert Path(entry["backup"]).name == copy.name
    for name in after:
        add_name(name)

    restored = play("restore.yml", names_app_restore_from_controller=str(copy))

    assert restored.returncode == 0, restored.output[-3000:]
    assert listed_names(URL, CAFILE) == held
    assert audit(host)[-1]["result"] == "restored"
    report["restore_drill"] = {
        "names": len(held),
        "backup_bytes": copy.stat().st_size,
        "backup_seconds": round(backed_up.seconds, 1),
        "restore_seconds": round(restored.seconds, 1),
    }


def test_status_shows_the_certificate_the_last_backup_the_workers_and_the_requests():
    """make status, after the drill: every part an operator reads first."""
    shown = status_output()
    assert re.search(r"certificate: \S+, ends \d{4}-\d\d-\d\d, \d+ days left", shown), shown
    assert "maintenance: off" in shown
    assert re.search(r"last backup: \d+ (s|min) ago, /var/lib/names/backups/routine/names-", shown)
    assert re.search(r"next scheduled backup: \w{3} \d{4}-", shown)
    assert re.search(r"workers: pid \d+ (sleeping|running), up \d+", shown)
    assert re.search(r"requests answered by \S+ since the app server started: [1-9]", shown)


def test_audit_log_tells_the_story(host, releases):
    story = [(e["action"], e["to"], e["result"]) for e in audit(host)]
    expected = [
        ("deploy", releases["a"], "deployed"),
        ("deploy", releases["b"], "deployed"),
        ("deploy", releases["c"], "failed"),
        ("rollback", releases["a"], "rolled back"),
        ("deploy", releases["a"], "refused"),
    ]
    positions = [story.index(event) for event in expected]
    assert positions[:4] == sorted(positions[:4]), story
    rollback = next(e for e in audit(host) if e["action"] == "rollback")
    assert (rollback["from"], rollback["to"]) == (releases["b"], releases["a"])


def test_audit_entries_are_well_formed(host):
    keys = {"time", "host", "operator", "controller", "action", "from", "to",
            "tarball_sha256", "backup", "result", "message"}  # fmt: skip
    for entry in audit(host):
        assert set(entry) == keys
        assert time.strptime(entry["time"], "%Y-%m-%dT%H:%M:%SZ")
        assert entry["action"] in {"deploy", "rollback", "restore"}
        assert entry["result"] in {
            "deployed",
            "reconfigured",
            "repaired",
            "unchanged",
            "failed",
            "refused",
            "rolled back",
            "restored",
        }
        if entry["result"] in {"deployed", "rolled back", "reconfigured"}:
            assert len(entry["tarball_sha256"]) == 64


def test_logs_backups_and_lock_are_tight(host):
    log = host.file(AUDIT_LOG)
    assert (log.user, log.group, log.mode) == ("root", "adm", 0o640)
    assert host.file("/var/log/names").mode == 0o750
    backups = host.file("/var/lib/names/backups")
    assert (backups.user, backups.mode) == ("names", 0o750)
    assert not host.file(LOCK).exists


CERTIFICATE = "/etc/nginx/tls/selfsigned.crt"


def certificate_days_left(host) -> float:
    end = host.check_output(f"openssl x509 -in {CERTIFICATE} -noout -enddate").split("=", 1)[1]
    return (time.mktime(time.strptime(end, "%b %d %H:%M:%S %Y %Z")) - time.time()) / 86400


def test_pruning_keeps_the_newest_the_active_and_the_previous_release_and_every_backup(
    host, releases
):
    """On disk: A (active), B (previous: the rollback came from it), C (broken, newest).
    Deploying D keeping 2 releases removes B, the oldest beyond the count that is neither
    active (D) nor previous (A); its pre-migration backup stays. The same site run finds
    the self-signed certificate near its end (the next test)."""
    on_disk = lambda: set(host.check_output("ls /srv/names/releases").split())  # noqa: E731
    assert on_disk() == {releases["a"], releases["b"], releases["c"]}
    backups_before = host.check_output("find /var/lib/names/backups -name 'names-*.sqlite3'")
    assert f"/backups/{releases['b']}/" in backups_before
    # The same certificate (names, key, extensions) signed again to end in 10 days.
    host.check_output(
        f"openssl x509 -in {CERTIFICATE} -signkey /etc/nginx/tls/selfsigned.key -days 10 "
        f"-out {CERTIFICATE}.short && mv {CERTIFICATE}.short {CERTIFICATE}"
    )
    assert certificate_days_left(host) < 11

    run = play(
        "site.yml",
        names_app_version=releases["d"],
        names_app_release_dir=releases["dist"],
        names_app_keep_releases=2,
    )

    assert run.returncode == 0, run.output[-3000:]
    assert current(host) == releases["d"]
    assert host.file("/srv/names/previous").linked_to.endswith(f"/{releases['a']}")
    assert on_disk() == {releases["a"], releases["c"], releases["d"]}
    assert not host.file(f"/srv/names/archive/names-{releases['b']}.tar.gz").exists
    backups_after = host.check_output("find /var/lib/names/backups -name 'names-*.sqlite3'")
    assert set(backups_before.split()) <= set(backups_after.split())


def test_self_signed_certificate_near_its_end_is_renewed_by_the_deploy(host, releases):
    """The certificate with 10 days left (the test before) was signed again by its site
    run, and nginx serves the new one."""
    assert certificate_days_left(host) > 300
    # nginx serves the new certificate, and clients that trust it verify the site.
    Path(CAFILE).write_text(host.file(CERTIFICATE).content_string)
    assert health()["version"] == releases["d"]


MAINTENANCE_FLAG = "/etc/nginx/names-maintenance.json"


def test_the_maintenance_page_is_served_under_load_and_taken_down(host, report):
    """make maintenance, with the load running: every answer is the site's maintenance
    page (503, Retry-After, the security headers), a form post stores nothing, and
    /healthz still answers the host itself (the playbook checks it); make
    maintenance-off and the page serves again."""
    with Load(URL, cafile=CAFILE, tag="maintenance", rate=60, min_requests=600) as load:
        load.wait_for(100)
        failed_before = len(load.report.failures)
        on = play("maintenance.yml", env={"NAMES_MAINTENANCE_REASON": "the lifecycle story"})
        assert on.returncode == 0, on.output[-3000:]
        flag = json.loads(host.file(MAINTENANCE_FLAG).content_string)
        load.wait_for(load.report.requests + 200)
        session = Session(Target.parse(URL, CAFILE), timeout=10)
        status, page = session.request("GET", "/")
        headers = session.headers
        name = f"During maintenance {uuid.uuid4().hex[:6]}"
        posted, _ = session.request("POST", "/", urllib.parse.urlencode({"name": name}))
        session.close()
        off = play("maintenance.yml", names_maintenance=False)
        assert off.returncode == 0, off.output[-3000:]
        failed_in_maintenance = len(load.report.failures) - failed_before
        load.wait_for(load.report.requests + 200)
        failed_after = len(load.report.failures) - failed_before - failed_in_maintenance
    assert failed_before == 0
    assert flag["reason"] == "the lifecycle story"
    assert (status, posted) == (503, 503)
    assert "<h1>503 Down for maintenance</h1>" in page
    assert '<link rel="stylesheet" href="/static/style.css">' in page
    assert headers["Retry-After"] == "300"
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert not host.file(MAINTENANCE_FLAG).exists
    # The newest names come first: the page after the maintenance does not list it.
    session = Session(Target.parse(URL, CAFILE), timeout=10)
    assert name not in session.request("GET", "/")[1]
    session.close()
    # Each request of the window got the maintenance page (a 503, counted as failed by
    # the load); none failed before it, none after it.
    assert failed_in_maintenance >= 200
    assert {failure.split()[-1] for failure in load.report.failures} == {"503"}
    assert failed_after == 0
    report["maintenance"] = {
        **load.report.summary(),
        "answered_503_in_maintenance": failed_in_maintenance,
        "maintenance_on_seconds": round(on.seconds, 1),
        "maintenance_off_seconds": round(off.seconds, 1),
    }


# Records each call of a deploy hook on the host, one JSON line each.
RECORDING_HOOK = """---
- name: Record the hook's call
  ansible.builtin.lineinfile:
    path: /var/tmp/names-hooks.log
    line: "{{ names_hook | combine({'at': now(utc=true).isoformat()}) | to_json }}"
    create: true
    mode: "0644"
"""
REFUSING_HOOK = """---
- name: Refuse the switch
  ansible.builtin.fail:
    msg: "the hook refuses {{ names_hook.version }}"
"""
HOOK_LOG = "/var/tmp/names-hooks.log"


def hook_calls(host) -> list[tuple[str, str]]:
    if not host.file(HOOK_LOG).exists:
        return []
    lines = host.file(HOOK_LOG).content_string.splitlines()
    return [(call["phase"], call["version"]) for call in map(json.loads, lines)]


@pytest.fixture(scope="module")
def hooks(tmp_path_factory) -> dict:
    directory = tmp_path_factory.mktemp("hooks")
    (directory / "record.yml").write_text(RECORDING_HOOK)
    (directory / "refuse.yml").write_text(REFUSING_HOOK)
    return {"record": str(directory / "record.yml"), "refuse": str(directory / "refuse.yml")}


def test_a_migration_the_old_release_cannot_serve_is_covered_by_the_maintenance_page(
    host, releases, report, hooks
):
    """E brings a migration declared unable to run online
    (names_app_maintenance_for_migration): under load, requests get the maintenance page
    from the migration until E serves, then the page again; nothing else fails. Every
    hook phase runs once, in order."""
    every_phase = {
        f"names_app_hooks_{phase}": [hooks["record"]]
        for phase in ("fleet_pre_switch", "pre_switch", "post_switch", "fleet_post_switch")
    }
    with Load(URL, cafile=CAFILE, tag="offline_migration", rate=60, min_requests=600) as load:
        load.wait_for(100)
        run = play(
            "deploy.yml",
            json.dumps({**every_phase, "names_app_maintenance_for_migration": True}),
            names_app_version=releases["e"],
            names_app_release_dir=releases["dist"],
        )
        failed_by_the_end = len(load.report.failures)
        load.wait_for(load.report.requests + 200)
    assert run.returncode == 0, run.output[-3000:]
    assert health()["version"] == releases["e"]
    assert not host.file(MAINTENANCE_FLAG).exists
    assert failed_by_the_end > 0, "no request met the maintenance page"
    assert {failure.split()[-1] for failure in load.report.failures} == {"503"}
    assert len(load.report.failures) == failed_by_the_end
    assert hook_calls(host) == [
        ("fleet_pre_switch", releases["e"]),
        ("pre_switch", releases["e"]),
        ("post_switch", releases["e"]),
        ("fleet_post_switch", releases["e"]),
    ]
    report["offline_migration"] = {**load.report.summary(), "deploy_seconds": round(run.seconds, 1)}


def test_a_failing_pre_switch_hook_stops_the_rollback_before_the_switch(host, releases, hooks):
    calls_before = hook_calls(host)
    pid = host.check_output("systemctl show -p MainPID --value names-uwsgi.service")
    run = play(
        "rollback.yml",
        json.dumps({"names_app_hooks_pre_switch": [hooks["record"], hooks["refuse"]]}),
    )
    assert run.returncode != 0
    assert f"the hook refuses {releases['d']}" in run.output
    assert "A pre_switch hook failed on" in run.output
    assert "was not switched" in run.output
    assert current(host) == releases["e"]
    assert health()["version"] == releases["e"]
    assert host.check_output("systemctl show -p MainPID --value names-uwsgi.service") == pid
    assert hook_calls(host) == [*calls_before, ("pre_switch", releases["d"])]
    assert audit(host)[-1]["result"] == "failed"
