"""Fixtures for the app's tests: an app on a temporary database, a client, a CLI runner."""

from __future__ import annotations

import pytest

from app import create_app, db


def make_app(tmp_path, **overrides):
    """A testing app whose SQLite database is a file under ``tmp_path``."""
    settings = {"DATABASE_URL": f"sqlite:///{tmp_path / 'names.sqlite3'}", **overrides}
    return create_app("testing", settings)


@pytest.fixture
def app(tmp_path):
    app = make_app(tmp_path)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def csrf_app(tmp_path):
    """The testing app with CSRF protection on, as every other configuration has it."""
    app = make_app(tmp_path, WTF_CSRF_ENABLED=True)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
