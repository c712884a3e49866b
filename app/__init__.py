"""The names page: a Flask app that stores every name entered and lists them.

``create_app`` is the only way to build the app; ``db`` is exported for
models, migrations and tests (``from app import db, create_app``).
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version

from flask import Flask
from sqlalchemy import event

from app.config import ConfigurationError, load_config, resolve_config_name
from app.extensions import csrf, db
from app.forms import NamesRequest

__all__ = ["ConfigurationError", "create_app", "db"]

MIGRATIONS_DIR = os.path.join(os.path.dirname(__file__), "migrations")


def release_version() -> str:
    """The version this code was built and installed as (the release version)."""
    try:
        return version("names")
    except PackageNotFoundError:  # pragma: no cover - only a bare source tree lacks metadata
        return "0+unknown"


def create_app(
    config_name: str | None = None, overrides: dict | None = None, *, commands: bool = True
) -> Flask:
    """Build the app with the named configuration (see ``app.config``). ``commands``: with
    the migrations and the maintenance commands (the ``names`` CLI); the app server's
    workers serve without them, and so start without importing Alembic."""
    # Asset URLs name the release: a page is always styled by its own release's files,
    # even while a fleet serves two releases (web hosts keep both), and browsers may
    # cache them for good.
    app = Flask(
        __name__,
        instance_relative_config=True,
        static_url_path=f"/static/{release_version()}",
    )
    app.request_class = NamesRequest
    name = resolve_config_name(config_name)
    load_config(app, name, overrides)
    app.config["CONFIG_NAME"] = name
    app.config["VERSION"] = release_version()

    # The stylesheet's address is the release's: the same on every page (no url_for each time).
    app.jinja_env.globals["stylesheet"] = f"{app.static_url_path}/style.css"

    db.init_app(app)
    csrf.init_app(app)

    from app import errors, health, metrics, names

    app.register_blueprint(names.bp)
    app.register_blueprint(health.bp)
    errors.register(app)
    if app.config["METRICS"]:
        metrics.register(app)
    if commands:
        from flask_migrate import Migrate

        from app import maintenance

        Migrate(app, db, directory=MIGRATIONS_DIR, render_as_batch=True)
        maintenance.register(app)
        app.cli.add_command(metrics.metrics_serve_command)

    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_pragmas)
        if app.config["CREATE_SCHEMA_ON_STARTUP"]:
            db.create_all()
    return app


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """WAL lets readers run beside the writer; busy_timeout queues writers instead of failing."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
