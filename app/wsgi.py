"""WSGI entry point for uWSGI: ``module = app.wsgi:application``."""

from app import create_app

# Workers serve pages: no migrations or maintenance commands (the names CLI has them).
application = create_app(commands=False)
