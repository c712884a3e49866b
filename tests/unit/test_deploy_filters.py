"""The names_app role's decisions (roles/names_app/filter_plugins/names_deploy.py)."""

from __future__ import annotations

import datetime
import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PLUGIN = Path(__file__).resolve().parents[2] / "roles/names_app/filter_plugins/names_deploy.py"
spec = importlib.util.spec_from_file_location("names_deploy", PLUGIN)
names_deploy = importlib.util.module_from_spec(spec)
spec.loader.exec_module(names_deploy)
DAY = 86400


def releases(*names_and_mtimes):
    return [{"path": f"/srv/names/releases/{n}", "mtime": m} for n, m in names_and_mtimes]


def test_every_filter_is_registered():
    assert set(names_deploy.FilterModule().filters()) == {
        "names_failure_message",
        "names_is_lock_refusal",
        "names_releases_to_prune",
        "names_backups_to_prune",
        "names_link_version",
        "names_outcome",
        "names_weak_keys",
        "names_status_lines",
        "names_status_extras",
        "names_backup_status",
        "names_certificate_status",
    }


@pytest.mark.parametrize("action", ["ansible.builtin.assert", "fail", "names_deploy_lock"])
def test_a_message_written_for_the_operator_is_passed_on_as_it_is(action):
    task = {"action": action, "name": "Gate | Refuse the release"}
    message = names_deploy.names_failure_message(
        task, {"msg": "Release 2.0.0 failed the health gate"}, "deploy", "journalctl"
    )
    assert message == "Release 2.0.0 failed the health gate"


def test_a_module_error_is_put_in_context():
    task = {"action": "ansible.builtin.pip", "name": "Install | Install the app"}
    result = {"msg": "pip failed", "stderr_lines": ["ERROR: No matching distribution", ""]}
    message = names_deploy.names_failure_message(
        task, result, "deploy", "`journalctl -u names-uwsgi` on web-1"
    )
    assert message == (
        'The deploy failed at "Install | Install the app": pip failed '
        "(ERROR: No matching distribution). What served before keeps serving. "
        "Logs: the task output above, and `journalctl -u names-uwsgi` on web-1."
    )


def test_only_the_lock_module_is_a_refusal():
    assert names_deploy.is_lock_refusal({"action": "names_deploy_lock"})
    assert not names_deploy.is_lock_refusal({"action": "ansible.builtin.fail"})


def test_pruning_keeps_the_newest_and_never_the_active_or_previous():
    found = releases(("1.0.0", 1), ("1.1.0", 2), ("1.2.0", 3), ("1.3.0", 4), ("1.4.0", 5))
    assert names_deploy.releases_to_prune(found, 2, ["1.4.0", "1.3.0"]) == [
        "1.2.0",
        "1.1.0",
        "1.0.0",
    ]
    # A rollback to an old release keeps it, however old.
    assert names_deploy.releases_to_prune(found, 2, ["1.0.0", "1.4.0"]) == ["1.2.0", "1.1.0"]
    assert names_deploy.releases_to_prune(found, 5, ["1.4.0", None]) == []


def test_backups_go_only_when_both_old_and_beyond_the_count():
    now = 100 * DAY
    found = [
        {"path": f"/b/{i}", "mtime": now - age * DAY}
        for i, age in enumerate([1, 2, 40, 50, 60, 70])
    ]
    assert names_deploy.backups_to_prune(found, 3, 30, now) == ["/b/3", "/b/4", "/b/5"]
    # Young backups stay whatever their number; the newest stay whatever their age.
    assert names_deploy.backups_to_prune(found, 3, 100, now) == []
    assert names_deploy.backups_to_prune(found, 10, 0, now) == []


def test_the_version_a_link_points_at():
    link = {"islnk": True, "lnk_target": "/srv/names/releases/1.2.3"}
    assert names_deploy.link_version(link) == "1.2.3"
    assert names_deploy.link_version({"exists": False}) is None
    assert names_deploy.link_version({"islnk": False, "isdir": True}) is None


@pytest.mark.parametrize(
    ("plan", "action", "recorded"),
    [
        ({"switch": True, "promote": [], "changes": True}, "deploy", "deployed"),
        ({"switch": True, "promote": [], "changes": True}, "rollback", "rolled back"),
        ({"switch": False, "promote": ["/etc/names/names.toml"], "changes": True}, "deploy",
         "reconfigured"),
        ({"switch": False, "promote": [], "changes": True}, "deploy", "repaired"),
        ({"switch": False, "promote": [], "changes": False}, "rollback", "unchanged"),
    ],
)  # fmt: skip
def test_the_audit_log_names_what_a_run_did(plan, action, recorded):
    assert names_deploy.outcome(plan, action) == recorded


def test_weak_keys_are_short_or_uniform():
    strong = "0123456789abcdef" * 2
    assert names_deploy.weak_keys([strong, "ab" * 15, "a" * 64, "abcdefg" * 5, None]) == [
        "ab" * 15,
        "a" * 64,
        "abcdefg" * 5,
        None,
    ]


def test_status_shows_what_serves_the_drift_and_the_last_deploys():
    serving = {
        "state": {
            "current": "1.1.0",
            "previous": "1.0.0",
            "service": {"active": True, "workers": [{"pid": 1}, {"pid": 2}]},
            "health": {"answered": True, "http_status": 200, "version": "1.0.0",
                       "config": "c0ffee"},
        },
        "drift": ["current is 1.1.0 but the workers serve 1.0.0"],
    }  # fmt: skip
    audit = [
        '{"time": "2026-11-23T20:00:00Z", "action": "deploy", "from": "1.0.0", "to": "1.1.0",'
        ' "result": "failed", "operator": "ada", "controller": "laptop"}',
        "not json",
    ]
    assert names_deploy.status_lines(serving, audit) == [
        "serving: 1.0.0 (settings c0ffee), 2 workers, healthy",
        "current -> 1.1.0, previous -> 1.0.0",
        "drift: current is 1.1.0 but the workers serve 1.0.0",
        "last deploys:",
        "  2026-11-23T20:00:00Z  deploy 1.0.0 -> 1.1.0  failed  by ada@laptop",
    ]


def test_status_of_a_host_that_serves_nothing():
    serving = {
        "state": {"current": None, "previous": None,
                  "service": {"active": False, "workers": []},
                  "health": {"answered": False, "error": "FileNotFoundError"}},
        "drift": ["the app server is not running"],
    }  # fmt: skip
    assert names_deploy.status_lines(serving, [])[:3] == [
        "serving: nothing (the app server is not running)",
        "current -> none, previous -> none",
        "drift: the app server is not running",
    ]


METRICS = """# HELP names_http_requests_total HTTP requests the app answered.
names_http_requests_total{method="GET",release="1.1.0",status="200"} 40.0
names_http_requests_total{method="POST",release="1.1.0",status="303"} 12.0
names_http_requests_total{method="POST",release="1.1.0",status="503"} 2.0
names_http_requests_total{method="GET",release="1.0.0",status="200"} 99.0
"""


def test_status_shows_each_worker_and_the_requests_the_serving_release_answered():
    serving = {
        "state": {
            "current": "1.1.0",
            "service": {"workers": [{"pid": 7, "state": "sleeping", "started": 1000.0},
                                    {"pid": 8, "state": "running", "started": 3400.0}]},
            "health": {"version": "1.1.0"},
        }
    }  # fmt: skip
    assert names_deploy.status_extras(serving, METRICS, 3600.0) == [
        "workers: pid 7 sleeping, up 43 min, pid 8 running, up 3 min",
        "requests answered by 1.1.0 since the app server started: 54 (40 2xx, 12 3xx, 2 5xx)",
    ]
    assert names_deploy.status_extras(serving, None, 3600.0)[1] == (
        "requests: unknown (names-metrics did not answer)"
    )
    assert names_deploy.status_extras(serving, None, 3600.0, counted=False)[1] == (
        "requests: not counted (names_app_metrics is off)"
    )


def test_status_shows_the_last_backup_its_age_or_its_failure():
    now = datetime.datetime(2026, 12, 2, 12, 0, tzinfo=datetime.UTC).timestamp()
    good = (
        '{"time": "2026-12-02T03:17:00+00:00", "result": "ok", "backup": "/b/names-1.sqlite3", '
        '"bytes": 20480, "names": 12}'
    )
    failed = '{"time": "2026-12-02T11:59:00+00:00", "result": "failed", "error": "disk full"}'
    assert names_deploy.backup_status(good + "\n", now) == (
        "last backup: 8 h ago, /b/names-1.sqlite3 (20480 bytes, 12 names, checked)"
    )
    assert names_deploy.backup_status(f"{good}\n{failed}\n", now) == (
        "last backup: FAILED 1 min ago: disk full"
    )
    assert names_deploy.backup_status("", now) == "last backup: none yet"


def test_status_shows_the_certificates_end_and_warns_within_30_days():
    now = datetime.datetime(2026, 12, 2, tzinfo=datetime.UTC).timestamp()
    certificate = {"common_name": "names.example.org", "not_after": now + 40 * 86400}
    assert names_deploy.certificate_status(certificate, "/c.crt", now) == (
        "certificate: names.example.org, ends 2027-01-11, 40 days left"
    )
    certificate["not_after"] = now + 10 * 86400
    assert names_deploy.certificate_status(certificate, "/c.crt", now).endswith(
        "10 days left (renew it: fewer than 30 days)"
    )
    assert names_deploy.certificate_status(None, "/c.crt", now) == (
        "certificate: /c.crt is missing or unreadable"
    )
