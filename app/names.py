"""The names page: the form and the list of names, newest first.

The list is paged by position (keyset paging): an "Older" link carries the position
of the last name shown, ``?before=<created, in microseconds since the epoch>-<id>``,
and the page lists the names that come after it. A page is one indexed seek and a
limited scan, so every page costs the same however deep it is and however many
names there are. Old ``?page=N`` links are redirected to their position.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import Row, Select, bindparam, select, tuple_
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.forms import NameForm
from app.models import Name

bp = Blueprint("names", __name__)

# The largest OFFSET a database takes (a signed 64-bit integer in SQLite and PostgreSQL).
MAX_OFFSET = 2**63 - 1

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
CURSOR = re.compile(r"(-?[0-9]{1,18})-([0-9]{1,19})")
# The page reads the table's columns as plain rows, in SQLAlchemy Core: no ORM objects
# to build and track, no ORM compilation on each request.
NAMES = Name.__table__
LISTED = (NAMES.c.id, NAMES.c.name, NAMES.c.created_at)
POSITION = tuple_(NAMES.c.created_at, NAMES.c.id)
NEWEST_FIRST = (NAMES.c.created_at.desc(), NAMES.c.id.desc())

Position = tuple[datetime, int]


def cursor(name: Name | Row) -> str:
    """A name's position on the page, as links carry it."""
    created = name.created_at
    if created.tzinfo is None:  # SQLite keeps the UTC time without its zone
        created = created.replace(tzinfo=UTC)
    return f"{(created - EPOCH) // MICROSECOND}-{name.id}"


def shown(row: Row) -> tuple[str, str, str]:
    """A listed name as the page shows it: the name, its time in ISO 8601 and to the
    minute (plain values: the template does no attribute look-ups or calls per name)."""
    iso = row.created_at.isoformat()
    return row.name, iso, iso[:16].replace("T", " ")


def position(value: str) -> Position:
    """The position a link carries; a 404 for anything no link of this page carries."""
    match = CURSOR.fullmatch(value)
    if not match:
        abort(404)
    try:
        created = EPOCH + int(match[1]) * MICROSECOND
    except OverflowError:
        abort(404)
    name_id = int(match[2])
    if name_id > MAX_OFFSET:
        abort(404)
    return created, name_id


# The page's queries, built once (each request binds its values): one row more than
# the page, so the extra row stands in for a count. The first page and older pages read
# the (created_at, id) index backwards from its end or from a position; newer pages read
# it forwards from a position.
AT = tuple_(
    bindparam("created", type_=NAMES.c.created_at.type), bindparam("id", type_=NAMES.c.id.type)
)
FIRST_PAGE = select(*LISTED).order_by(*NEWEST_FIRST).limit(bindparam("rows"))
OLDER_PAGE = FIRST_PAGE.where(POSITION < AT)
NEWER_PAGE = (
    select(*LISTED)
    .where(POSITION > AT)
    .order_by(NAMES.c.created_at, NAMES.c.id)
    .limit(bindparam("rows"))
)


def read(query: Select, size: int, at: Position | None = None) -> list[Row]:
    """Run one of the page's queries for a page of ``size`` names (from ``at``)."""
    params = {"rows": size + 1}
    if at is not None:
        params["created"], params["id"] = at
    return db.session.connection().execute(query, params).all()


def names_before(before: Position | None, size: int) -> tuple[list[Row], bool]:
    """Up to ``size`` names older than ``before`` (the newest if None), newest first, and
    whether older names exist."""
    rows = read(FIRST_PAGE if before is None else OLDER_PAGE, size, before)
    return rows[:size], len(rows) > size


def names_after(after: Position, size: int) -> tuple[list[Row], bool]:
    """Up to ``size`` names newer than ``after``, newest first, and whether newer exist."""
    rows = read(NEWER_PAGE, size, after)
    return rows[:size][::-1], len(rows) > size


def position_of_page(page: int, size: int) -> str | None:
    """Where an old ``?page=N`` link's page starts: the position of the last name of the
    page before it (one OFFSET query, for old links only); None if there is no such page."""
    offset = (page - 1) * size - 1
    if offset > MAX_OFFSET:
        return None
    stmt = select(*LISTED).order_by(*NEWEST_FIRST).offset(offset).limit(2)
    rows = db.session.connection().execute(stmt).all()
    return cursor(rows[0]) if len(rows) == 2 else None


def add_name() -> tuple[NameForm | None, int]:
    """Store the posted name: (None, 303) once stored, else the form with its errors and
    the status to answer with."""
    form = NameForm()
    if not form.validate_on_submit():
        return form, 422
    name = form.name.data
    db.session.add(Name(name=name))
    try:
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        current_app.logger.exception("Storing a name failed")
        form.name.errors = ["The name could not be stored just now; please submit it again."]
        return form, 503
    flash(f"Added “{name}”.")
    return None, 303


@bp.route("/", methods=["GET", "POST"], provide_automatic_options=False)
def index():
    form = None
    status = 200
    if request.method == "POST":
        form, status = add_name()
        if form is None:
            return redirect(url_for(".index"), code=303)

    size = current_app.config["PAGE_SIZE"]
    args = request.args
    if "page" in args and request.method == "GET":
        page = args.get("page", 1, type=int)
        if page < 1:
            abort(404)
        if page > 1:
            start = position_of_page(page, size)
            if start is None:
                abort(404)
            return redirect(url_for(".index", before=start))
    has_newer = False
    if "before" in args:
        names, has_older = names_before(position(args["before"]), size)
        if not names:
            abort(404)
        has_newer = True  # the name at the position itself
    elif "after" in args:
        names, has_newer = names_after(position(args["after"]), size)
        has_older = True
        if not has_newer:  # the newest names: the first page, as it is now
            names, has_older = names_before(None, size)
    else:
        names, has_older = names_before(None, size)
    return (
        render_template(
            "index.html",
            form=form,
            names=[shown(row) for row in names],
            newer=cursor(names[0]) if has_newer else None,
            older=cursor(names[-1]) if has_older else None,
        ),
        status,
    )
