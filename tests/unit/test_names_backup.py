"""names-backup (roles/names_app/files/names-backup), the backup service's command, run
here with the app's real `names` CLI on an SQLite database."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.unit

SCRIPT = ROOT / "roles/names_app/files/names-backup"
NAMES = Path(sys.executable).with_name("names")


def load_script():
    loader = SourceFileLoader("names_backup", str(SCRIPT))
    module = module_from_spec(spec_from_loader("names_backup", loader))
    loader.exec_module(module)
    return module


names_backup = load_script()


@pytest.fixture
def site(tmp_path, monkeypatch) -> Path:
    """A migrated SQLite database holding two names, as the deployed app sees it."""
    database = tmp_path / "db" / "names.sqlite3"
    database.parent.mkdir()
    monkeypatch.setenv("NAMES_CONFIG", "production")
    monkeypatch.setenv("SECRET_KEY", "k" * 16 + "ey-for-the-backup-tests-only")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.delenv("NAMES_SETTINGS", raising=False)
    subprocess.run([NAMES, "db", "upgrade"], check=True, capture_output=True)
    with sqlite3.connect(database) as connection:
        connection.executemany(
            "INSERT INTO names (name, created_at) VALUES (?, CURRENT_TIMESTAMP)",
            [("Ada",), ("Grace",)],
        )
    return tmp_path


def backup(site: Path, capsys, *extra: str, names: Path = NAMES) -> tuple[int, dict]:
    argv = ["--engine", "sqlite", "--names", str(names), "--dir", str(site / "backups/routine")]
    status = names_backup.main([*argv, "--tree", str(site / "backups"), *extra])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1, lines
    return status, json.loads(lines[0])


def test_a_backup_is_taken_checked_and_logged(site, capsys):
    status, entry = backup(site, capsys)
    assert status == 0, entry
    assert entry["result"] == "ok"
    assert entry["names"] == 2
    taken = Path(entry["backup"])
    assert taken.parent == site / "backups/routine"
    assert entry["bytes"] == taken.stat().st_size > 0
    assert stat.S_IMODE(taken.stat().st_mode) == 0o600
    with sqlite3.connect(taken) as copy:
        assert sorted(row[0] for row in copy.execute("SELECT name FROM names")) == ["Ada", "Grace"]


def test_a_backup_that_fails_its_check_is_kept_aside_and_the_run_fails(site, capsys, tmp_path):
    good_status, good = backup(site, capsys)
    assert good_status == 0
    # A names command whose backup writes a damaged file; its check is the real one.
    damaging = tmp_path / "names-damaging"
    damaging.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = backup ]; then head -c 8192 /dev/urandom > "$2"; exit 0; fi\n'
        f'exec {NAMES} "$@"\n'
    )
    damaging.chmod(0o755)
    status, entry = backup(site, capsys, names=damaging)
    assert status == 1
    assert entry["result"] == "failed"
    assert "failed its check" in entry["error"]
    assert "is not a names backup" in entry["error"]
    kept = sorted((site / "backups/routine").iterdir())
    corrupt = [path for path in kept if path.name.endswith(".corrupt")]
    assert len(corrupt) == 1
    assert str(corrupt[0]) in entry["error"]
    # The newest names-*.sqlite3, what a restore takes by default, is still the good one.
    newest = max((site / "backups").rglob("names-*.sqlite3"), key=lambda p: p.stat().st_mtime)
    assert str(newest) == good["backup"]


def test_a_backup_that_cannot_be_written_fails_with_the_reason(site, capsys):
    (site / "backups").write_text("a file where the backup directory should be")
    status, entry = backup(site, capsys)
    assert status == 1
    assert entry["result"] == "failed"
    assert "backups" in entry["error"]
    assert "Not a directory" in entry["error"]


def test_old_backups_go_only_beyond_the_count_and_the_age(site, capsys):
    tree = site / "backups"
    old = time.time() - 40 * 86400
    kept_for_age = tree / "1.0.0" / "names-before-migration.sqlite3"
    kept_for_age.parent.mkdir(parents=True)
    kept_for_age.write_bytes(b"")
    aged = []
    for index in range(3):
        path = tree / "routine" / f"names-2026010{index}T000000000000Z.sqlite3"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        os.utime(path, (old + index, old + index))
        aged.append(path)
    status, entry = backup(site, capsys, "--keep", "3", "--keep-days", "30")
    assert status == 0, entry
    # Newest first: the new backup, the fresh one from 1.0.0, aged[2]; then aged[1] and
    # aged[0] are beyond the count and older than 30 days.
    assert sorted(entry["pruned"]) == sorted(str(path) for path in aged[:2])
    assert aged[2].exists()
    assert kept_for_age.exists()
    assert Path(entry["backup"]).exists()
    assert not aged[0].exists()
    assert not aged[1].exists()
