"""Named configurations and the rules for loading them.

Order of precedence, lowest first:
1. the class picked by name (``create_app(name)``, else ``NAMES_CONFIG``, else production);
2. ``SECRET_KEY`` and ``DATABASE_URL`` from the environment;
3. any ``NAMES_<KEY>`` environment variable (value parsed as JSON when it parses);
4. the TOML file named by ``NAMES_SETTINGS`` (what the deploy renders);
5. overrides passed to ``create_app`` (tests).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import tomllib
from pathlib import Path
from typing import ClassVar

from flask import Flask

CONFIG_ENV_VAR = "NAMES_CONFIG"
SETTINGS_ENV_VAR = "NAMES_SETTINGS"
# Shorter secret keys can be guessed; 32 hex characters are 128 bits.
MIN_SECRET_KEY_LENGTH = 32


class ConfigurationError(RuntimeError):
    """The configuration cannot run the app; the message says what to fix."""


class Config:
    """Settings shared by every configuration."""

    SECRET_KEY: str | None = None
    # A file holding the secret key (what the deploy uses); SECRET_KEY wins if both are set.
    SECRET_KEY_FILE: str | None = None
    # SQLite file used when DATABASE_URL is not set. None means "per configuration".
    DATABASE_PATH: str | None = None
    DATABASE_URL: str | None = None
    # Longest name accepted, counted in characters after trimming surrounding whitespace.
    MAX_NAME_LENGTH = 100
    # Names listed per page.
    PAGE_SIZE = 20
    # A name form is 2 fields and a token: 64 KiB is generous and bounds abuse.
    MAX_CONTENT_LENGTH = 64 * 1024
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict] = {}
    # Seconds a request waits on a database server (connecting, a pooled connection,
    # an unanswered packet, a statement) before it gets a 503: a lost server never
    # hangs a worker.
    DATABASE_TIMEOUT = 5
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # Secure cookies need HTTPS end to end; the deploy turns this on where TLS is served.
    SESSION_COOKIE_SECURE = False
    # Count the requests, their latency and the names stored for Prometheus (``names
    # metrics-serve`` serves the counts); off, the app counts nothing.
    METRICS = True
    # Create tables at start-up instead of through migrations (tests only).
    CREATE_SCHEMA_ON_STARTUP = False
    PROPAGATE_EXCEPTIONS = False


class DevelopmentConfig(Config):
    DEBUG = True
    # Let the debugger show tracebacks: the one configuration allowed to.
    PROPAGATE_EXCEPTIONS = None
    # A fresh key per process: development never needs a stable one, and no
    # default secret can leak into production from here.
    SECRET_KEY = secrets.token_hex(32)


class TestingConfig(Config):
    TESTING = True
    SECRET_KEY = "testing-only-secret"  # noqa: S105 - only ever used by the test configuration
    DATABASE_URL = "sqlite://"
    WTF_CSRF_ENABLED = False
    CREATE_SCHEMA_ON_STARTUP = True


class ProductionConfig(Config):
    DATABASE_PATH = "/var/lib/names/db/names.sqlite3"


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def resolve_config_name(name: str | None) -> str:
    """Pick the configuration name from the argument, the environment, or production."""
    chosen = name or os.environ.get(CONFIG_ENV_VAR) or "production"
    if chosen not in CONFIGS:
        raise ConfigurationError(
            f"Unknown configuration {chosen!r} (from {'argument' if name else CONFIG_ENV_VAR}); "
            f"choose one of: {', '.join(sorted(CONFIGS))}."
        )
    return chosen


def load_config(app: Flask, name: str, overrides: dict | None) -> None:
    """Fill ``app.config`` following the precedence in the module docstring."""
    app.config.from_object(CONFIGS[name])
    for key in ("SECRET_KEY", "DATABASE_URL"):
        if os.environ.get(key):
            app.config[key] = os.environ[key]
    app.config.from_prefixed_env("NAMES")
    settings = os.environ.get(SETTINGS_ENV_VAR)
    app.config["SETTINGS_DIGEST"] = None
    if settings:
        try:
            content = Path(settings).read_bytes()
            app.config.from_mapping(tomllib.loads(content.decode("utf-8")))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigurationError(
                f"Cannot read the settings file {settings} (from {SETTINGS_ENV_VAR}): {exc}"
            ) from exc
        # /healthz reports it: the deploy tells what the workers loaded from what is on disk.
        app.config["SETTINGS_DIGEST"] = hashlib.sha256(content).hexdigest()[:16]
    if overrides:
        app.config.update(overrides)
    read_secret_key_file(app)
    app.config["SQLALCHEMY_DATABASE_URI"] = database_uri(app)
    validate(app, name)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = postgresql_engine_options(
            app.config["SQLALCHEMY_ENGINE_OPTIONS"],
            app.config["DATABASE_TIMEOUT"],
            worker_threads(),
        )


def read_secret_key_file(app: Flask) -> None:
    """Take SECRET_KEY from the file SECRET_KEY_FILE names, unless it is set directly."""
    path = app.config.get("SECRET_KEY_FILE")
    if not path or app.config.get("SECRET_KEY"):
        return
    try:
        app.config["SECRET_KEY"] = Path(path).read_text().strip()
    except OSError as exc:
        raise ConfigurationError(f"Cannot read SECRET_KEY_FILE {path}: {exc.strerror}.") from exc


def database_uri(app: Flask) -> str:
    """The SQLAlchemy URL: DATABASE_URL if given, else the SQLite file DATABASE_PATH."""
    url = app.config.get("DATABASE_URL")
    if url:
        # PostgreSQL goes through psycopg 3, the driver the release ships.
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url.removeprefix(prefix)
        return url
    path = app.config.get("DATABASE_PATH")
    if not path:
        # Development keeps its database in the instance folder, next to the checkout.
        os.makedirs(app.instance_path, exist_ok=True)
        path = os.path.join(app.instance_path, "names.sqlite3")
    return f"sqlite:///{path}"


def worker_threads() -> int:
    """How many requests a worker process serves at once: uWSGI's threads, else one."""
    try:
        import uwsgi  # only inside uWSGI
    except ImportError:
        return 1
    return max(1, int(uwsgi.opt.get("threads", b"1")))


def postgresql_engine_options(options: dict, timeout: int, threads: int = 1) -> dict:
    """A small pool per worker, and libpq told to give up on a server after ``timeout`` s."""
    milliseconds = timeout * 1000
    return {
        **options,
        # A pooled connection to a server that restarted is replaced before use. (A SQLite
        # file has no connection to lose, so its pages go without this extra statement.)
        "pool_pre_ping": True,
        # A worker serves one request per thread at a time: a connection each, one spare.
        "pool_size": threads,
        "max_overflow": 1,
        "pool_timeout": timeout,
        # Connections older than this are replaced (a restarted server, a changed route).
        "pool_recycle": 300,
        "connect_args": {
            "connect_timeout": timeout,
            # Sent data unacknowledged this long: the server is gone (Linux TCP_USER_TIMEOUT).
            "tcp_user_timeout": milliseconds,
            "keepalives": 1,
            "keepalives_idle": timeout,
            "keepalives_interval": 1,
            "keepalives_count": 3,
            "options": f"-c statement_timeout={milliseconds} -c lock_timeout={milliseconds}",
            **options.get("connect_args", {}),
        },
    }


def validate(app: Flask, name: str) -> None:
    """Refuse settings the app cannot safely run with."""
    if name == "production" and not app.config.get("SECRET_KEY"):
        raise ConfigurationError(
            "SECRET_KEY is not set: the production configuration refuses to start without it. "
            f"Set SECRET_KEY or SECRET_KEY_FILE in the environment or the {SETTINGS_ENV_VAR} file "
            '(e.g. python3 -c "import secrets; print(secrets.token_hex(32))").'
        )
    if name == "production":
        fallbacks = app.config.get("SECRET_KEY_FALLBACKS") or []
        for setting, key in [("SECRET_KEY", app.config["SECRET_KEY"])] + [
            ("SECRET_KEY_FALLBACKS", fallback) for fallback in fallbacks
        ]:
            if not isinstance(key, str) or len(key) < MIN_SECRET_KEY_LENGTH:
                raise ConfigurationError(
                    f"{setting} has a key of {len(key) if isinstance(key, str) else 0} "
                    f"characters: the production configuration needs at least "
                    f"{MIN_SECRET_KEY_LENGTH}, or sessions and form tokens can be forged "
                    '(python3 -c "import secrets; print(secrets.token_hex(32))").'
                )
    for key in ("MAX_NAME_LENGTH", "PAGE_SIZE", "DATABASE_TIMEOUT"):
        value = app.config.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigurationError(f"{key} must be a positive integer, got {value!r}.")
    metrics = app.config.get("METRICS")
    if not isinstance(metrics, bool):
        raise ConfigurationError(f"METRICS must be true or false, got {metrics!r}.")
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite:///") and uri != "sqlite:///:memory:":
        db_path = Path(uri.removeprefix("sqlite:///")).resolve()
        code_dir = Path(__file__).resolve().parent
        if db_path.is_relative_to(code_dir):
            raise ConfigurationError(
                f"The database {db_path} is inside the code directory {code_dir}: "
                "data must live outside the release (set DATABASE_PATH or DATABASE_URL)."
            )
