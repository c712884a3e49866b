"""The ``names`` command: Flask's CLI bound to this app (``names db upgrade``)."""

from flask.cli import FlaskGroup

from app import create_app


def main() -> None:
    FlaskGroup(create_app=lambda: create_app(), help=__doc__)(prog_name="names")
