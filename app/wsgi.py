"""WSGI entry point for uWSGI: ``module = app.wsgi:application``."""

from app import create_app

application = create_app()
