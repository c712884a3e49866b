"""Schema migrations: `db upgrade` is repeatable and matches the models."""

from __future__ import annotations

import json
import shutil
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text

from app import MIGRATIONS_DIR, cli, db
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
    with migrated_app.app_context():
        db.session.add(Name(name="Mark"))
        db.session.commit()
    result = migrated_app.test_cli_runner().invoke(args=["db", "downgrade"])
    assert result.exit_code != 0
    assert "Error: Downgrades are not supported" in result.output
    assert "restore the pre-migration backup" in result.output
    with migrated_app.app_context():
        assert "names" in inspect(db.engine).get_table_names()
        assert list(db.session.scalars(select(Name.name))) == ["Mark"]


def test_names_command_runs_the_flask_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NAMES_CONFIG", "testing")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.setattr(sys, "argv", ["names", "routes"])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 0
    assert "/healthz" in capsys.readouterr().out


def db_state(app) -> dict:
    result = app.test_cli_runner().invoke(args=["db-state"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_db_state_of_a_new_database_is_empty(tmp_path):
    app = make_app(tmp_path, CREATE_SCHEMA_ON_STARTUP=False)
    assert db_state(app) == {"state": "empty", "database": [], "release": ["0001"]}


def test_db_state_after_upgrade_is_current(migrated_app):
    assert db_state(migrated_app)["state"] == "current"


def test_db_state_before_the_last_migration_is_behind(tmp_path):
    """A release with a second migration sees a database at the first as behind."""
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    (migrations / "versions" / "0002_second.py").write_text(
        'revision = "0002"\ndown_revision = "0001"\nbranch_labels = None\ndepends_on = None\n'
        "def upgrade():\n    pass\n"
    )
    app = make_app(tmp_path, CREATE_SCHEMA_ON_STARTUP=False)
    assert app.test_cli_runner().invoke(args=["db", "upgrade", "0001"]).exit_code == 0
    app.extensions["migrate"].directory = str(migrations)
    assert db_state(app) == {"state": "behind", "database": ["0001"], "release": ["0002"]}
    upgrade = ["db", "upgrade", "--directory", str(migrations)]
    assert app.test_cli_runner().invoke(args=upgrade).exit_code == 0
    assert db_state(app)["state"] == "current"


def test_db_state_of_an_unknown_revision_is_ahead(tmp_path):
    app = make_app(tmp_path, CREATE_SCHEMA_ON_STARTUP=False)
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
        connection.execute(text("INSERT INTO alembic_version VALUES ('0000')"))
    assert db_state(app) == {"state": "ahead", "database": ["0000"], "release": ["0001"]}


def test_db_state_of_a_database_a_newer_release_migrated_is_ahead(migrated_app):
    with migrated_app.app_context(), db.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0002'"))
    assert db_state(migrated_app)["state"] == "ahead"
