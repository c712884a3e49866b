"""Operator commands of the ``names`` CLI (``names backup``, ``names db-state``)."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import click
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, current_app
from flask.cli import with_appcontext

from app.extensions import db


@click.command("backup")
@click.argument("destination", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup_command(destination: Path) -> None:
    """Copy the SQLite database to DESTINATION, consistently, while the app runs."""
    if db.engine.dialect.name != "sqlite":
        raise click.ClickException(
            f"backup copies SQLite databases; this one is {db.engine.dialect.name}: "
            "use the database's own tools (pg_dump for PostgreSQL)."
        )
    if destination.exists():
        raise click.ClickException(f"{destination} exists; refusing to overwrite a backup.")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(f".{destination.name}.partial")
    source = db.engine.raw_connection()
    try:
        # SQLite's online backup copies a consistent snapshot, even with writers.
        target = sqlite3.connect(partial)
        try:
            source.driver_connection.backup(target)
        finally:
            target.close()
    finally:
        source.close()
    os.chmod(partial, 0o600)
    partial.replace(destination)
    click.echo(str(destination))


def schema_state() -> dict:
    """Where the database's schema stands against this release's migrations.

    empty: no schema yet; current: at this release's head; behind: this release
    has migrations to apply; ahead: a newer release migrated it. Migrations only
    add, so a release runs on a schema that is ahead of it, and needs nothing.
    """
    migrate = current_app.extensions["migrate"]
    script = ScriptDirectory.from_config(migrate.migrate.get_config(migrate.directory))
    heads = set(script.get_heads())
    known = {revision.revision for revision in script.walk_revisions()}
    with db.engine.connect() as connection:
        database = set(MigrationContext.configure(connection).get_current_heads())
    if not database:
        state = "empty"
    elif database == heads:
        state = "current"
    elif database <= known:
        state = "behind"
    else:
        state = "ahead"
    return {"state": state, "database": sorted(database), "release": sorted(heads)}


@click.command("db-state")
@with_appcontext
def db_state_command() -> None:
    """Print, as JSON, whether the database is empty, current, behind or ahead."""
    click.echo(json.dumps(schema_state()))


def register(app: Flask) -> None:
    app.cli.add_command(backup_command)
    app.cli.add_command(db_state_command)
