"""Configuration: names, sources, the production refusals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import app as app_package
from app import ConfigurationError, create_app

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for var in ("NAMES_CONFIG", "NAMES_SETTINGS", "SECRET_KEY", "DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'names.sqlite3'}"


@pytest.mark.parametrize(
    ("name", "debug", "testing", "csrf"),
    [
        ("development", True, False, True),
        ("testing", False, True, False),
        ("production", False, False, True),
    ],
)
def test_named_configurations(tmp_path, monkeypatch, name, debug, testing, csrf):
    monkeypatch.setenv("SECRET_KEY", "x" * 32)
    app = create_app(name, {"DATABASE_URL": sqlite_url(tmp_path)})
    assert app.config["CONFIG_NAME"] == name
    assert app.debug is debug
    assert app.testing is testing
    assert app.config.get("WTF_CSRF_ENABLED", True) is csrf


def test_configuration_name_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("NAMES_CONFIG", "testing")
    assert create_app().config["CONFIG_NAME"] == "testing"


def test_argument_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv("NAMES_CONFIG", "development")
    assert create_app("testing").config["CONFIG_NAME"] == "testing"


def test_unknown_configuration_is_refused(monkeypatch):
    monkeypatch.setenv("NAMES_CONFIG", "staging")
    with pytest.raises(ConfigurationError, match=r"Unknown configuration 'staging'.*NAMES_CONFIG"):
        create_app()


def test_production_is_the_default_and_refuses_to_start_without_a_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", sqlite_url(tmp_path))
    with pytest.raises(ConfigurationError, match="SECRET_KEY is not set"):
        create_app()


def test_production_refuses_an_empty_secret(tmp_path):
    with pytest.raises(ConfigurationError, match="SECRET_KEY is not set"):
        create_app("production", {"SECRET_KEY": "", "DATABASE_URL": sqlite_url(tmp_path)})


@pytest.mark.parametrize("key", ["short", "x" * 31])
def test_production_refuses_a_short_secret(tmp_path, key):
    with pytest.raises(ConfigurationError, match=rf"SECRET_KEY has a key of {len(key)} characters"):
        create_app("production", {"SECRET_KEY": key, "DATABASE_URL": sqlite_url(tmp_path)})


def test_production_starts_with_a_secret_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "s" * 64)
    monkeypatch.setenv("DATABASE_URL", sqlite_url(tmp_path))
    app = create_app("production")
    assert app.config["SECRET_KEY"] == "s" * 64
    assert app.config["SQLALCHEMY_DATABASE_URI"] == sqlite_url(tmp_path)


def test_wsgi_entry_point_refuses_to_start_without_a_secret(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": sqlite_url(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", "import app.wsgi"], env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_wsgi_entry_point_exposes_the_application(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "s" * 64)
    monkeypatch.setenv("DATABASE_URL", sqlite_url(tmp_path))
    sys.modules.pop("app.wsgi", None)
    from app.wsgi import application

    assert application.config["CONFIG_NAME"] == "production"


def test_served_app_starts_without_migrations_or_maintenance_commands(tmp_path):
    """uWSGI's workers import app.wsgi at every (chain) reload: Flask-Migrate and Alembic
    are the names CLI's, and the served app loads neither."""
    env = {"PATH": "/usr/bin:/bin", "SECRET_KEY": "s" * 64, "DATABASE_URL": sqlite_url(tmp_path)}
    code = (
        "import sys, app.wsgi; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'alembic', 'flask_migrate'}), "
        "sorted(app.wsgi.application.cli.commands))"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[]", "[]"]


def test_the_cli_app_has_the_migrations_and_maintenance_commands(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "s" * 64)
    app = create_app("production", {"DATABASE_URL": sqlite_url(tmp_path)})
    assert "migrate" in app.extensions
    assert {"backup", "check-backup", "restore", "db-state"} <= set(app.cli.commands)


def test_production_database_defaults_outside_the_code(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "s" * 64)
    app = create_app("production")
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite:////var/lib/names/db/names.sqlite3"


def test_development_database_defaults_to_the_instance_folder():
    app = create_app("development")
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("/instance/names.sqlite3")


def test_database_inside_the_code_directory_is_refused():
    inside = Path(app_package.__file__).parent / "names.sqlite3"
    with pytest.raises(ConfigurationError, match="inside the code directory"):
        create_app("testing", {"DATABASE_URL": f"sqlite:///{inside}"})


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@db/names", "postgresql+psycopg://u:p@db/names"),
        ("postgres://u:p@db/names", "postgresql+psycopg://u:p@db/names"),
        ("postgresql+psycopg://u@db/names", "postgresql+psycopg://u@db/names"),
    ],
)
def test_postgresql_urls_use_psycopg3(monkeypatch, url, expected):
    monkeypatch.setenv("DATABASE_URL", url)
    app = create_app("production", {"SECRET_KEY": "s" * 64})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == expected
    with app.app_context():
        from app import db

        assert db.engine.dialect.driver == "psycopg"


def test_prefixed_environment_variables_set_app_settings(monkeypatch):
    monkeypatch.setenv("NAMES_MAX_NAME_LENGTH", "42")
    monkeypatch.setenv("NAMES_PAGE_SIZE", "7")
    app = create_app("testing")
    assert app.config["MAX_NAME_LENGTH"] == 42
    assert app.config["PAGE_SIZE"] == 7


def test_settings_file_is_read(tmp_path, monkeypatch):
    settings = tmp_path / "names.toml"
    settings.write_text(
        f'SECRET_KEY = "{"k" * 64}"\nDATABASE_URL = "{sqlite_url(tmp_path)}"\nPAGE_SIZE = 5\n'
    )
    monkeypatch.setenv("NAMES_SETTINGS", str(settings))
    app = create_app("production")
    assert app.config["SECRET_KEY"] == "k" * 64
    assert app.config["PAGE_SIZE"] == 5


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "No such file"), ("SECRET_KEY = ", "Cannot read the settings file")],
)
def test_unreadable_settings_file_is_a_clear_error(tmp_path, monkeypatch, content, message):
    settings = tmp_path / "names.toml"
    if content is not None:
        settings.write_text(content)
    monkeypatch.setenv("NAMES_SETTINGS", str(settings))
    with pytest.raises(ConfigurationError, match=message):
        create_app("testing")


@pytest.mark.parametrize(
    ("key", "value"), [("MAX_NAME_LENGTH", 0), ("PAGE_SIZE", "ten"), ("PAGE_SIZE", True)]
)
def test_invalid_numbers_are_refused(key, value):
    with pytest.raises(ConfigurationError, match=f"{key} must be a positive integer"):
        create_app("testing", {key: value})


def test_secret_key_is_read_from_a_file(tmp_path, monkeypatch):
    key_file = tmp_path / "secret_key"
    key_file.write_text("f" * 64 + "\n")
    monkeypatch.setenv("NAMES_SECRET_KEY_FILE", str(key_file))
    app = create_app("production", {"DATABASE_URL": sqlite_url(tmp_path)})
    assert app.config["SECRET_KEY"] == "f" * 64


def test_unreadable_secret_key_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigurationError, match=r"SECRET_KEY_FILE .*missing: No such"):
        create_app("production", {"SECRET_KEY_FILE": str(tmp_path / "missing")})


def test_fallback_keys_must_be_as_long_as_the_key(tmp_path):
    with pytest.raises(ConfigurationError, match="SECRET_KEY_FALLBACKS"):
        create_app(
            "production",
            {"SECRET_KEY": "n" * 64, "SECRET_KEY_FALLBACKS": ["short"],
             "DATABASE_URL": sqlite_url(tmp_path)},
        )  # fmt: skip
