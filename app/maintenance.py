"""Operator commands of the ``names`` CLI: ``names backup``, ``names check-backup``,
``names restore``, ``names db-state``."""

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
    require_sqlite("backup", "pg_dump")
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
            # The copy of a WAL database is in WAL mode: a reader (the check) would
            # leave -wal and -shm files beside it. Rollback mode keeps it one file.
            target.execute("PRAGMA journal_mode=DELETE")
        finally:
            target.close()
    finally:
        source.close()
    os.chmod(partial, 0o600)
    partial.replace(destination)
    click.echo(str(destination))


def require_sqlite(command: str, tool: str) -> None:
    if db.engine.dialect.name != "sqlite":
        raise click.ClickException(
            f"{command} works on SQLite databases; this one is {db.engine.dialect.name}: "
            f"use the database's own tools ({tool} for PostgreSQL)."
        )


def check_backup(path: Path) -> dict:
    """What a backup holds, after SQLite's integrity check; refused if it is not a names
    database in good order."""
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
            names = connection.execute("SELECT count(*) FROM names").fetchone()[0]
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise click.ClickException(f"{path} is not a names backup: {exc}.") from exc
    if integrity != "ok":
        raise click.ClickException(f"{path} is not a names backup: integrity check: {integrity}.")
    return {"backup": str(path), "integrity": integrity, "names": names}


@click.command("check-backup")
@click.argument("backup", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def check_backup_command(backup: Path) -> None:
    """Check BACKUP (integrity, the names table) and print, as JSON, what it holds."""
    click.echo(json.dumps(check_backup(backup)))


@click.command("restore")
@click.argument("backup", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def restore_command(backup: Path) -> None:
    """Replace the database with BACKUP (checked first), in one transaction.

    Run it with the app server stopped: a worker writing meanwhile would write into
    the database that is being replaced."""
    require_sqlite("restore", "pg_restore")
    names = check_backup(backup)["names"]
    source = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    target = db.engine.raw_connection()
    try:
        # SQLite's online backup writes the whole copy in one transaction: a restore
        # that stops half-way leaves the database as it was.
        source.backup(target.driver_connection)
        target.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        target.close()
        source.close()
    db.engine.dispose()
    click.echo(json.dumps({"restored": str(backup), "names": names}))


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
    app.cli.add_command(check_backup_command)
    app.cli.add_command(restore_command)
    app.cli.add_command(db_state_command)
