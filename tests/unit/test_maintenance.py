"""`names backup`: a consistent copy of the SQLite database."""

from __future__ import annotations

import sqlite3

import pytest

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
