"""`names backup`: a consistent copy of the SQLite database."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import select

from app import db
from app.models import Name
from tests.conftest import make_app

pytestmark = pytest.mark.unit


def test_backup_copies_every_name(app, runner, tmp_path):
    with app.app_context():
        db.session.add_all([Name(name="Ada"), Name(name="Grace")])
        db.session.commit()
    destination = tmp_path / "backups" / "names.sqlite3"
    result = runner.invoke(args=["backup", str(destination)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(destination)
    with sqlite3.connect(destination) as copy:
        assert sorted(row[0] for row in copy.execute("SELECT name FROM names")) == ["Ada", "Grace"]
    assert destination.stat().st_mode & 0o777 == 0o600
    assert not list(destination.parent.glob(".*partial"))


def test_a_backup_is_one_file_that_stays_one_when_checked(app, runner, tmp_path):
    """The live database is in WAL mode; its backup is a single file in rollback mode,
    which a check (or a copy to the controller) takes whole, leaving nothing beside it."""
    destination = tmp_path / "backups" / "names.sqlite3"
    assert runner.invoke(args=["backup", str(destination)]).exit_code == 0
    checked = runner.invoke(args=["check-backup", str(destination)])
    assert checked.exit_code == 0, checked.output
    assert sorted(path.name for path in destination.parent.iterdir()) == ["names.sqlite3"]
    with sqlite3.connect(destination) as copy:
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_backup_never_overwrites(runner, tmp_path):
    destination = tmp_path / "names.sqlite3"
    destination.write_text("an older backup")
    result = runner.invoke(args=["backup", str(destination)])
    assert result.exit_code != 0
    assert "refusing to overwrite" in result.output
    assert destination.read_text() == "an older backup"


def test_backup_refuses_other_databases(tmp_path):
    app = make_app(
        tmp_path,
        DATABASE_URL="postgresql://names@localhost/names",
        CREATE_SCHEMA_ON_STARTUP=False,
    )
    result = app.test_cli_runner().invoke(args=["backup", str(tmp_path / "x")])
    assert result.exit_code != 0
    assert "pg_dump" in result.output


def names_in(path) -> list[str]:
    with sqlite3.connect(path) as connection:
        return sorted(row[0] for row in connection.execute("SELECT name FROM names"))


def test_restore_puts_the_backup_back_in_one_transaction(app, runner, tmp_path):
    with app.app_context():
        db.session.add(Name(name="Ada"))
        db.session.commit()
    backup = tmp_path / "backup.sqlite3"
    assert runner.invoke(args=["backup", str(backup)]).exit_code == 0
    with app.app_context():
        db.session.add(Name(name="Grace"))
        db.session.commit()

    result = runner.invoke(args=["restore", str(backup)])

    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"restored": str(backup), "names": 1}
    with app.app_context():
        assert [n.name for n in db.session.scalars(select(Name))] == ["Ada"]
        live = db.engine.url.database
    # Checkpointed: the live file alone holds the restored database.
    assert not Path(f"{live}-wal").exists() or Path(f"{live}-wal").stat().st_size == 0
    assert names_in(live) == ["Ada"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"this is not a database at all" * 100, "is not a names backup"),
        (None, "is not a names backup"),  # an SQLite file without the names table
    ],
)
def test_restore_refuses_a_file_that_is_not_a_backup_and_changes_nothing(
    app, runner, tmp_path, content, message
):
    with app.app_context():
        db.session.add(Name(name="Ada"))
        db.session.commit()
    bad = tmp_path / "bad.sqlite3"
    if content is None:
        sqlite3.connect(bad).execute("CREATE TABLE other (x)").connection.close()
    else:
        bad.write_bytes(content)
    for command in (["check-backup", str(bad)], ["restore", str(bad)]):
        result = runner.invoke(args=command)
        assert result.exit_code != 0
        assert message in result.output
    with app.app_context():
        assert [n.name for n in db.session.scalars(select(Name))] == ["Ada"]


def test_check_backup_reports_what_the_backup_holds(app, runner, tmp_path):
    with app.app_context():
        db.session.add_all([Name(name="Ada"), Name(name="Grace")])
        db.session.commit()
    backup = tmp_path / "backup.sqlite3"
    runner.invoke(args=["backup", str(backup)])
    result = runner.invoke(args=["check-backup", str(backup)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"backup": str(backup), "integrity": "ok", "names": 2}


def test_a_truncated_backup_fails_its_integrity_check(app, runner, tmp_path):
    with app.app_context():
        db.session.add_all(Name(name=f"name {i}" * 20) for i in range(2000))
        db.session.commit()
    backup = tmp_path / "backup.sqlite3"
    runner.invoke(args=["backup", str(backup)])
    backup.write_bytes(backup.read_bytes()[: backup.stat().st_size // 2])
    result = runner.invoke(args=["check-backup", str(backup)])
    assert result.exit_code != 0
    assert "is not a names backup" in result.output


def test_restore_refuses_other_databases(tmp_path):
    app = make_app(
        tmp_path,
        DATABASE_URL="postgresql://names@localhost/names",
        CREATE_SCHEMA_ON_STARTUP=False,
    )
    result = app.test_cli_runner().invoke(args=["restore", str(tmp_path / "x")])
    assert result.exit_code != 0
    assert "pg_restore" in result.output


def test_a_backup_whose_index_is_damaged_fails_the_integrity_check(app, runner, tmp_path):
    """Readable, but the index no longer matches the rows: SQLite's integrity check says so."""
    with app.app_context():
        db.session.add_all(Name(name=f"n{i:05d}") for i in range(3000))
        db.session.commit()
    backup = tmp_path / "backup.sqlite3"
    runner.invoke(args=["backup", str(backup)])
    data = bytearray(backup.read_bytes())
    # In the first leaf page of an index (type 0x0a), a stored key's year becomes 1999.
    leaf = next(p for p in range(4096, len(data), 4096) if data[p] == 0x0A)
    year = data.find(b"20", leaf + 8, leaf + 4096)
    data[year : year + 4] = b"1999"
    backup.write_bytes(bytes(data))
    result = runner.invoke(args=["check-backup", str(backup)])
    assert result.exit_code != 0
    assert "is not a names backup" in result.output
