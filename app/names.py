"""The names page: the form and the list of names, newest first."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.forms import NameForm
from app.models import Name

bp = Blueprint("names", __name__)

# The largest OFFSET a database takes (a signed 64-bit integer in SQLite and PostgreSQL).
MAX_OFFSET = 2**63 - 1


def page_of_names(page: int, size: int) -> tuple[list[Name], bool]:
    """One page, newest first, and whether an older page exists.

    Fetches one row more than the page instead of counting the table, so the
    cost of a page does not grow with the number of stored names.
    """
    stmt = (
        select(Name)
        .order_by(Name.created_at.desc(), Name.id.desc())
        .limit(size + 1)
        .offset((page - 1) * size)
    )
    rows = list(db.session.scalars(stmt))
    return rows[:size], len(rows) > size


@bp.route("/", methods=["GET", "POST"], provide_automatic_options=False)
def index():
    form = NameForm()
    status = 200
    if form.validate_on_submit():
        name = form.name.data
        db.session.add(Name(name=name))
        try:
            db.session.commit()
        except SQLAlchemyError:
            db.session.rollback()
            current_app.logger.exception("Storing a name failed")
            form.name.errors = ["The name could not be stored just now; please submit it again."]
            status = 503
        else:
            flash(f"Added “{name}”.")
            return redirect(url_for(".index"), code=303)
    elif form.is_submitted():
        status = 422

    page = request.args.get("page", 1, type=int)
    size = current_app.config["PAGE_SIZE"]
    if page < 1 or (page - 1) * size > MAX_OFFSET:
        abort(404)
    names, has_older = page_of_names(page, size)
    if page > 1 and not names:
        abort(404)
    return (
        render_template("index.html", form=form, names=names, page=page, has_older=has_older),
        status,
    )
