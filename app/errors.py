"""Plain, friendly error pages; never a traceback outside development."""

from __future__ import annotations

from flask import Flask, current_app, render_template
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError, TimeoutError
from werkzeug.exceptions import HTTPException

MESSAGES = {
    400: "The request could not be understood.",
    404: "There is no page at this address.",
    405: "This page does not accept that kind of request.",
    413: "That request was too large for the form.",
    500: "Something went wrong on our side. Please try again in a moment.",
}


def render_error(code: int, title: str, message: str, headers: dict | None = None):
    body = render_template("error.html", code=code, title=title, message=message)
    return body, code, headers or {}


def handle_http_error(error: HTTPException):
    code = error.code or 500
    headers = {}
    if code == 405 and getattr(error, "valid_methods", None):
        headers["Allow"] = ", ".join(error.valid_methods)
    return render_error(code, error.name, MESSAGES.get(code, error.description), headers)


def handle_csrf_error(error: CSRFError):
    return render_error(
        400,
        "Form expired or invalid",
        f"{error.description} Reload the page and submit the form again.",
    )


def handle_database_unavailable(error: OperationalError | TimeoutError):
    """The database did not answer in time, or at all: a 503 to retry, not a 500.

    OperationalError is the driver's "cannot do it now" (refused, timed out, cancelled
    by statement_timeout, SQLite busy); TimeoutError is a full connection pool."""
    cause = getattr(error, "orig", None) or error
    current_app.logger.error("Database unavailable: %s", cause.__class__.__name__)
    return render_error(
        503,
        "The names are unavailable for a moment",
        "The database is not available, so nothing was changed. Please try again in a moment.",
        {"Retry-After": "5"},
    )


def register(app: Flask) -> None:
    app.register_error_handler(OperationalError, handle_database_unavailable)
    app.register_error_handler(TimeoutError, handle_database_unavailable)
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(HTTPException, handle_http_error)
