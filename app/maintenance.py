"""Operator commands of the ``names`` CLI (``names backup``)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import click
from flask import Flask
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


def register(app: Flask) -> None:
    app.cli.add_command(backup_command)
