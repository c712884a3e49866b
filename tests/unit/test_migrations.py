"""Schema migrations: `db upgrade` is repeatable and matches the models."""

from __future__ import annotations

import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from app import cli, db
from app.models import Name
from tests.conftest import make_app

pytestmark = pytest.mark.unit


@pytest.fixture
def migrated_app(tmp_path):
    """An app whose schema comes only from the migrations."""
    app = make_app(tmp_path, CREATE_SCHEMA_ON_STARTUP=False)
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_upgrade_creates_the_schema_with_the_ordering_index(migrated_app):
    with migrated_app.app_context():
        inspector = inspect(db.engine)
        assert "names" in inspector.get_table_names()
        indexes = {ix["name"]: ix["column_names"] for ix in inspector.get_indexes("names")}
        assert indexes["ix_names_created_at_id"] == ["created_at", "id"]


def test_upgrade_again_changes_nothing_and_keeps_the_data(migrated_app):
    with migrated_app.app_context():
        db.session.add(Name(name="Mark"))
        db.session.commit()
    for _ in range(2):
        result = migrated_app.test_cli_runner().invoke(args=["db", "upgrade"])
        assert result.exit_code == 0, result.output
    with migrated_app.app_context():
        assert list(db.session.scalars(select(Name.name))) == ["Mark"]


def test_migrations_match_the_models(migrated_app):
    with migrated_app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert compare_metadata(context, db.metadata) == []


def test_downgrade_is_refused_and_keeps_the_table(migrated_app):
    result = migrated_app.test_cli_runner().invoke(args=["db", "downgrade"])
    assert result.exit_code != 0
    with migrated_app.app_context():
        assert "names" in inspect(db.engine).get_table_names()


def test_names_command_runs_the_flask_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NAMES_CONFIG", "testing")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.setattr(sys, "argv", ["names", "routes"])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 0
    assert "/healthz" in capsys.readouterr().out
