"""The deploy lock module (roles/names_app/library/names_deploy_lock.py): atomic,
records its holder with the host's clock, and explains a refusal."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

MODULE = Path(__file__).resolve().parents[2] / "roles/names_app/library/names_deploy_lock.py"
spec = importlib.util.spec_from_file_location("names_deploy_lock", MODULE)
lock = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lock)

HOLDER = {"operator": "ada", "controller": "laptop", "action": "deploy", "version": "1.2.3"}


def test_the_first_run_takes_the_lock_and_records_itself(tmp_path):
    path = tmp_path / "lock"
    assert lock.take(str(path), HOLDER, now=1_767_225_600.5) is None
    owner = json.loads((path / "owner.json").read_text())
    assert owner == {**HOLDER, "since": "2026-01-01T00:00:00Z", "since_epoch": 1_767_225_600}
    assert path.stat().st_mode & 0o777 == 0o700
    assert (path / "owner.json").stat().st_mode & 0o777 == 0o600


def test_a_second_run_finds_the_holder_and_leaves_the_lock(tmp_path):
    path = tmp_path / "lock"
    lock.take(str(path), HOLDER, now=1000.0)
    found = lock.take(str(path), {**HOLDER, "operator": "bob"}, now=1060.0)
    assert found["operator"] == "ada"
    assert json.loads((path / "owner.json").read_text())["operator"] == "ada"


def test_a_lock_a_minute_old_is_not_stale():
    owner = {**HOLDER, "since": "2026-01-01T00:00:00Z", "since_epoch": 1000}
    message, age, stale = lock.refusal("web-1", owner, now=1060.0, stale_after=3600)
    assert (age, stale) == (60, False)
    assert message.startswith(
        "web-1 is locked by another deploy: ada@laptop since 2026-01-01T00:00:00Z (60 s ago"
    )
    assert "Wait for it to finish" in message


def test_an_old_lock_is_stale_and_says_how_to_clear_it():
    owner = {**HOLDER, "since_epoch": 1000}
    message, age, stale = lock.refusal("web-1", owner, now=1000.0 + 7200, stale_after=3600)
    assert (age, stale) == (7200, True)
    assert "STALE (older than 3600 s)" in message
    assert "make unlock" in message


def test_a_lock_without_a_readable_holder_is_still_refused(tmp_path):
    path = tmp_path / "lock"
    path.mkdir()
    (path / "owner.json").write_text("{not json")
    found = lock.take(str(path), HOLDER, now=1.0)
    message, age, stale = lock.refusal("web-1", found, now=1.0, stale_after=3600)
    assert found == {}
    assert (age, stale) == (None, False)
    assert "locked by another deploy: unknown@unknown since unknown (age unknown" in message


@pytest.mark.parametrize("zone", ["UTC", "Etc/GMT-2", "Etc/GMT+2", "Pacific/Kiritimati"])
def test_the_recorded_time_does_not_depend_on_the_time_zone(tmp_path, zone):
    """The module as Ansible runs it, in a process with TZ set: since is UTC, since_epoch now."""
    path = tmp_path / "lock"
    args = {"ANSIBLE_MODULE_ARGS": {"path": str(path), "holder": HOLDER}}
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps(args))
    before = time.time()
    result = subprocess.run(
        [sys.executable, str(MODULE), str(args_file)],
        capture_output=True,
        text=True,
        env={**os.environ, "TZ": zone},
        check=False,
    )
    assert json.loads(result.stdout)["acquired"] is True, result.stdout + result.stderr
    owner = json.loads((path / "owner.json").read_text())
    assert before - 1 <= owner["since_epoch"] <= time.time() + 1
    assert owner["since"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(owner["since_epoch"]))
