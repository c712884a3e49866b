"""Health check for load balancers and the deploy's health gate."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.models import Name

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """200 with the release version when the names table answers; 503 otherwise."""
    body = {
        "status": "ok",
        "version": current_app.config["VERSION"],
        "database": "ok",
        # Which settings file this worker loaded (a digest): the deploy checks what serves.
        "config": current_app.config["SETTINGS_DIGEST"],
    }
    code = 200
    try:
        db.session.execute(select(Name.id).limit(1)).all()
    except SQLAlchemyError as exc:
        db.session.rollback()
        current_app.logger.error("Health check: database unreachable: %s", exc.__class__.__name__)
        body.update(status="error", database="error")
        code = 503
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response, code
