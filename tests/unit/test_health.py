"""/healthz: the release version and whether the database answers."""

from __future__ import annotations

import hashlib
from importlib.metadata import version

import pytest
from sqlalchemy import text

from app import db
from tests.conftest import make_app

pytestmark = pytest.mark.unit


def test_healthy_app_reports_ok_and_the_release_version(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {
        "status": "ok",
        "version": version("names"),
        "database": "ok",
        "config": None,
    }
    assert response.headers["Cache-Control"] == "no-store"


def test_unreachable_database_reports_503_without_a_traceback(tmp_path):
    missing_dir = tmp_path / "does-not-exist"
    app = make_app(
        tmp_path,
        DATABASE_URL=f"sqlite:///{missing_dir / 'names.sqlite3'}",
        CREATE_SCHEMA_ON_STARTUP=False,
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "error"
    assert response.json["database"] == "error"
    assert "Traceback" not in response.text


def test_database_without_the_schema_is_unhealthy(tmp_path):
    app = make_app(tmp_path, CREATE_SCHEMA_ON_STARTUP=False)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json == {
        "status": "error",
        "version": version("names"),
        "database": "error",
        "config": None,
    }
    assert response.headers["Cache-Control"] == "no-store"


def test_health_recovers_when_the_database_returns(app, client):
    with app.app_context():
        db.session.execute(text("ALTER TABLE names RENAME TO names_away"))
        db.session.commit()
    away = client.get("/healthz")
    assert (away.status_code, away.json["status"], away.json["database"]) == (503, "error", "error")
    with app.app_context():
        db.session.execute(text("ALTER TABLE names_away RENAME TO names"))
        db.session.commit()
    back = client.get("/healthz")
    assert (back.status_code, back.json["status"], back.json["database"]) == (200, "ok", "ok")


def test_health_accepts_only_get(client):
    assert client.post("/healthz").status_code == 405


def test_health_names_the_settings_file_the_app_loaded(tmp_path, monkeypatch):
    """The deploy compares this digest with the live settings file: what serves, not what
    is on disk."""
    settings = tmp_path / "names.toml"
    settings.write_bytes(b"PAGE_SIZE = 7\n")
    monkeypatch.setenv("NAMES_SETTINGS", str(settings))
    app = make_app(tmp_path)
    response = app.test_client().get("/healthz")
    assert response.json["config"] == hashlib.sha256(b"PAGE_SIZE = 7\n").hexdigest()[:16]
