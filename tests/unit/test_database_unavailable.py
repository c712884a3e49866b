"""A database that does not answer: the page says so with a 503 to retry, and no
worker waits on it longer than DATABASE_TIMEOUT."""

from __future__ import annotations

import socket
import sys
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from app import ConfigurationError, db
from app.models import Name
from tests.conftest import make_app

pytestmark = pytest.mark.unit


@pytest.fixture
def refused_url():
    """A PostgreSQL URL whose port nothing listens on (connections are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"postgresql://names:secret@127.0.0.1:{port}/names"


@pytest.fixture
def lost_database_app(tmp_path, refused_url):
    return make_app(tmp_path, DATABASE_URL=refused_url, CREATE_SCHEMA_ON_STARTUP=False)


def test_the_page_is_a_friendly_503_when_the_database_is_lost(lost_database_app):
    response = lost_database_app.test_client().get("/")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "The names are unavailable for a moment" in response.text
    assert "nothing was changed" in response.text
    assert "Traceback" not in response.text
    assert "psycopg" not in response.text


def test_a_post_is_a_friendly_503_when_the_database_is_lost(lost_database_app):
    response = lost_database_app.test_client().post("/", data={"name": "Ada"})
    assert response.status_code == 503
    assert "nothing was changed" in response.text


def test_health_is_503_when_the_database_is_lost(lost_database_app):
    response = lost_database_app.test_client().get("/healthz")
    assert (response.status_code, response.json["database"]) == (503, "error")


def test_libpq_gives_up_on_a_server_after_the_database_timeout(tmp_path, refused_url):
    app = make_app(
        tmp_path, DATABASE_URL=refused_url, DATABASE_TIMEOUT=3, CREATE_SCHEMA_ON_STARTUP=False
    )
    options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert options["pool_timeout"] == 3
    assert options["pool_pre_ping"] is True
    connect = options["connect_args"]
    assert connect["connect_timeout"] == 3
    assert connect["tcp_user_timeout"] == 3000
    assert "-c statement_timeout=3000" in connect["options"]
    with app.app_context():
        assert db.engine.dialect.name == "postgresql"
        assert db.engine.pool.timeout() == 3


def test_sqlite_keeps_its_own_engine_options(app):
    assert "connect_args" not in app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    with app.app_context():
        assert db.session.execute(select(Name.id).limit(1)).all() == []


@pytest.mark.parametrize("timeout", [0, -1, "5", True])
def test_a_database_timeout_that_is_not_a_positive_integer_is_refused(tmp_path, timeout):
    with pytest.raises(ConfigurationError, match="DATABASE_TIMEOUT must be a positive integer"):
        make_app(tmp_path, DATABASE_TIMEOUT=timeout)


def test_each_thread_of_a_uwsgi_worker_has_a_pooled_connection(tmp_path, refused_url, monkeypatch):
    """Inside uWSGI the app reads its worker's threads from the embedded uwsgi module."""
    monkeypatch.setitem(sys.modules, "uwsgi", SimpleNamespace(opt={"threads": b"2"}))
    app = make_app(tmp_path, DATABASE_URL=refused_url, CREATE_SCHEMA_ON_STARTUP=False)
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_size"] == 2
    monkeypatch.delitem(sys.modules, "uwsgi")
    app = make_app(tmp_path, DATABASE_URL=refused_url, CREATE_SCHEMA_ON_STARTUP=False)
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_size"] == 1
