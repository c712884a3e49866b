"""What a deploy decides from what serves (roles/names_app/library/names_serving_state.py)."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from socketserver import UnixStreamServer

import pytest

pytestmark = pytest.mark.unit

MODULE = Path(__file__).resolve().parents[2] / "roles/names_app/library/names_serving_state.py"
spec = importlib.util.spec_from_file_location("names_serving_state", MODULE)
serving = importlib.util.module_from_spec(spec)
spec.loader.exec_module(serving)

SETTINGS_SHA = "ab" * 32
T0 = 1_000_000.0  # the last deploy's changes were written at T0 - 100


def live(name: str, kind: str, *, differs=False, exists=True, mtime=T0 - 100):
    return {
        "staged": f"/etc/names/staged/{name}",
        "live": f"/etc/names/{name}" if kind != "restart_socket" else f"/etc/systemd/system/{name}",
        "on_change": kind,
        "staged_exists": True,
        "live_exists": exists,
        "differs": differs,
        "live_mtime": mtime if exists else None,
    }


def serving_state(**changes) -> dict:
    """A host that serves 1.0.0 as deployed: every process started after the files."""
    state = {
        "current": "1.0.0",
        "current_switched": T0 - 100,
        "previous": "0.9.0",
        "socket_active": True,
        "service": {
            "active": True,
            "main_pid": 10,
            "started": T0 - 90,
            "workers": [{"pid": 11, "started": T0 - 80}, {"pid": 12, "started": T0 - 80}],
        },
        "health": {
            "answered": True,
            "http_status": 200,
            "status": "ok",
            "version": "1.0.0",
            "config": SETTINGS_SHA[:16],
        },
        "settings_sha256": SETTINGS_SHA,
        "files": [
            live("names.toml", "reload"),
            live("uwsgi.ini", "restart"),
            live("names-uwsgi.socket", "restart_socket"),
        ],
    }
    state.update(changes)
    return state


def test_a_host_serving_the_target_as_staged_needs_nothing():
    state = serving_state()
    assert serving.drift(state) == []
    plan = serving.plan(state, "1.0.0")
    assert not plan["changes"]
    assert plan["reasons"] == []


def test_a_new_release_is_switched_to_with_a_chain_reload():
    plan = serving.plan(serving_state(), "1.1.0")
    assert (plan["switch"], plan["reload"], plan["restart"]) == (True, True, False)
    assert plan["reasons"] == ["switch from 1.0.0 to 1.1.0"]


def test_a_settings_change_alone_is_a_reload_not_a_restart():
    state = serving_state(files=[live("names.toml", "reload", differs=True)])
    plan = serving.plan(state, "1.0.0")
    assert (plan["switch"], plan["reload"], plan["restart"]) == (False, True, False)
    assert plan["promote"] == ["/etc/names/names.toml"]
    assert plan["changes"]


def test_a_uwsgi_ini_change_restarts_the_service_but_never_the_socket():
    state = serving_state(files=[live("uwsgi.ini", "restart", differs=True)])
    plan = serving.plan(state, "1.0.0")
    assert (plan["restart"], plan["restart_socket"], plan["reload"]) == (True, False, False)


def test_only_a_change_of_the_socket_unit_restarts_the_socket():
    state = serving_state(files=[live("names-uwsgi.socket", "restart_socket", differs=True)])
    plan = serving.plan(state, "1.0.0")
    assert plan["restart_socket"]
    assert plan["daemon_reload"]


def test_a_first_socket_unit_is_started_not_restarted():
    state = serving_state(
        socket_active=False,
        files=[live("names-uwsgi.socket", "restart_socket", differs=True, exists=False)],
    )
    plan = serving.plan(state, "1.0.0")
    assert (plan["start_socket"], plan["restart_socket"]) == (True, False)


def test_a_run_that_died_after_the_switch_is_finished_by_the_next():
    """current points at the target, but the workers still serve the old release."""
    health = {**serving_state()["health"], "version": "0.9.0"}
    state = serving_state(health=health)
    assert serving.drift(state) == ["current is 1.0.0 but the workers serve 0.9.0"]
    plan = serving.plan(state, "1.0.0")
    assert (plan["switch"], plan["reload"]) == (False, True)


def test_workers_started_before_the_settings_changed_are_reloaded():
    state = serving_state(files=[live("names.toml", "reload", mtime=T0 - 50)])
    assert serving.drift(state) == [
        "workers 11, 12 started before the release or settings they should run"
    ]
    assert serving.plan(state, "1.0.0")["reload"]


def test_a_master_older_than_its_configuration_is_restarted():
    state = serving_state(files=[live("uwsgi.ini", "restart", mtime=T0 - 10)])
    assert serving.plan(state, "1.0.0")["restart"]


def test_workers_running_other_settings_than_the_live_file_are_reloaded():
    health = {**serving_state()["health"], "config": "0" * 16}
    state = serving_state(health=health)
    assert serving.drift(state) == [
        f"the workers run settings {'0' * 16}, not the live file's {SETTINGS_SHA[:16]}"
    ]


@pytest.mark.parametrize(
    ("health", "said"),
    [
        ({"answered": False, "error": "ConnectionRefusedError: refused"}, "does not answer"),
        ({"answered": True, "http_status": 503, "status": "error"}, "/healthz answers 503 error"),
    ],
)
def test_a_broken_serving_instance_is_drift_to_repair(health, said):
    state = serving_state(health=health)
    assert any(said in line for line in serving.drift(state))
    assert serving.plan(state, "1.0.0")["reload"]


def test_a_stopped_app_server_is_started():
    state = serving_state(service={"active": False, "main_pid": 0, "started": None, "workers": []})
    assert serving.drift(state) == ["the app server is not running"]
    plan = serving.plan(state, "1.0.0")
    assert (plan["restart"], plan["reload"]) == (True, False)


def test_the_worker_start_slack_is_one_tick_not_more():
    assert not serving._older(T0 - 0.01, T0)
    assert serving._older(T0 - 0.05, T0)


class Healthz(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"status": "ok", "version": "1.0.0", "database": "ok", "config": "c0ffee"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class UnixHTTPServer(UnixStreamServer):
    def get_request(self):
        request, _ = super().get_request()
        return request, ("local", 0)


def test_health_is_asked_over_the_app_servers_unix_socket(tmp_path):
    path = str(tmp_path / "http.sock")
    server = UnixHTTPServer(path, Healthz)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    try:
        answer = serving.health(path)
    finally:
        thread.join(5)
        server.server_close()
    assert answer == {"answered": True, "http_status": 200, "status": "ok",
                      "version": "1.0.0", "config": "c0ffee"}  # fmt: skip
    gone = serving.health(str(tmp_path / "missing.sock"))
    assert gone["answered"] is False
    assert "FileNotFoundError" in gone["error"]


def test_files_and_processes_are_read_from_the_host(tmp_path):
    settings = tmp_path / "names.toml"
    settings.write_bytes(b"PAGE_SIZE = 20\n")
    assert serving.sha256_of(str(settings)) == hashlib.sha256(b"PAGE_SIZE = 20\n").hexdigest()
    assert serving.sha256_of(str(tmp_path / "missing")) is None
    (tmp_path / "releases" / "1.0.0").mkdir(parents=True)
    os.symlink(tmp_path / "releases" / "1.0.0", tmp_path / "current")
    assert serving.link_version(str(tmp_path / "current")) == "1.0.0"
    started = serving.process_started(os.getpid(), serving.boot_time(), os.sysconf("SC_CLK_TCK"))
    assert started is not None
    assert started <= os.stat(f"/proc/{os.getpid()}").st_mtime + 1


class Clock:
    """Time that passes only when the wait sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps = 0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.sleeps += 1


def test_a_wait_reads_again_until_the_last_worker_serves_the_release():
    # A chain reload: the second worker still runs 0.9.0's code for two more readings.
    stale = serving_state(
        current_switched=T0,
        service={**serving_state()["service"], "workers": [{"pid": 11, "started": T0 + 1},
                                                          {"pid": 12, "started": T0 - 80}]},
    )  # fmt: skip
    done = serving_state(current_switched=T0, service={**stale["service"], "workers": [
        {"pid": 11, "started": T0 + 1}, {"pid": 13, "started": T0 + 2}]})  # fmt: skip
    readings = iter([stale, stale, done])
    clock = Clock()
    state, planned = serving.settle(lambda: next(readings), "1.0.0", 10, clock, clock.sleep)
    assert state is done
    assert planned["changes"] is False
    assert clock.sleeps == 2
    assert clock.now == 2 * serving.POLL_INTERVAL


def test_a_wait_that_runs_out_returns_the_last_reading_and_what_it_still_needs():
    stale = serving_state(current="0.9.0")
    clock = Clock()
    state, planned = serving.settle(lambda: stale, "1.0.0", 1, clock, clock.sleep)
    assert state is stale
    assert planned["changes"] is True
    assert planned["reasons"][0] == "switch from 0.9.0 to 1.0.0"
    assert clock.sleeps == 1 / serving.POLL_INTERVAL


def test_no_wait_reads_once():
    readings = []
    clock = Clock()
    serving.settle(lambda: readings.append(1) or serving_state(current="0.9.0"), "1.0.0", 0,
                   clock, clock.sleep)  # fmt: skip
    assert readings == [1]
    assert clock.sleeps == 0
