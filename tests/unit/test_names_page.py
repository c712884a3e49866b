"""The names page: form, input rules, listing, paging, CSRF, methods and errors."""

from __future__ import annotations

import html
import re
import time
from datetime import UTC, datetime

import pytest
from markupsafe import escape
from sqlalchemy import event, select, text

from app import db, metrics
from app.models import Name
from tests.conftest import make_app
from tests.helpers import NAME_ITEM, csrf_token

pytestmark = pytest.mark.unit


def stored_names(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Name.name).order_by(Name.id)))


def add_names(app, *names: str) -> None:
    with app.app_context():
        db.session.add_all(Name(name=name) for name in names)
        db.session.commit()


def test_page_greets_and_offers_the_form(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "<h1>Hello World!</h1>" in response.text
    assert "Please enter a name:" in response.text
    assert '<form method="post"' in response.text
    assert 'name="name"' in response.text


def test_empty_database_says_so(client):
    assert "No names yet" in client.get("/").text


def test_valid_name_is_stored_then_redirected_and_confirmed(app, client):
    response = client.post("/", data={"name": "Mark"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    page = client.get("/").text
    assert "Added “Mark”." in page
    assert '<bdi class="name">Mark</bdi>' in page
    assert stored_names(app) == ["Mark"]


def test_confirmation_is_shown_once(client):
    client.post("/", data={"name": "Mark"})
    assert "Added “Mark”." in client.get("/").text
    assert "Added “Mark”." not in client.get("/").text


def test_surrounding_whitespace_is_trimmed(app, client):
    client.post("/", data={"name": "  \t Ann Lee \n "})
    assert stored_names(app) == ["Ann Lee"]


def test_names_are_listed_newest_first(app, client):
    for name in ("first", "second", "third"):
        client.post("/", data={"name": name})
    page = client.get("/").text
    assert page.index(">third<") < page.index(">second<") < page.index(">first<")


@pytest.mark.parametrize(
    ("submitted", "message"),
    [
        pytest.param("", "cannot be empty or only spaces", id="empty"),
        pytest.param("   ", "cannot be empty or only spaces", id="spaces-only"),
        pytest.param(" \t\r\n ", "cannot be empty or only spaces", id="whitespace-only"),
        pytest.param("x" * 101, "at most 100 characters long; this one has 101", id="one-too-long"),
        pytest.param(" " + "é" * 101 + " ", "this one has 101", id="too-long-after-trim"),
        pytest.param("a\x00b", "U+0000 at character 2", id="nul"),
        pytest.param("bell\x07", "U+0007 at character 5", id="bell"),
        pytest.param("tab\tinside", "U+0009 at character 4", id="inner-tab"),
        pytest.param("line\nbreak", "U+000A at character 5", id="inner-newline"),
        pytest.param("del\x7f", "U+007F", id="delete"),
        pytest.param("c1\x85control", "U+0085", id="c1-control"),
        pytest.param("esc\x1b[31m", "U+001B", id="ansi-escape"),
    ],
)
def test_invalid_name_is_refused_with_a_message_and_not_stored(app, client, submitted, message):
    response = client.post("/", data={"name": submitted})
    assert response.status_code == 422
    assert html.escape(message, quote=False) in response.text
    assert 'role="alert"' in response.text
    assert stored_names(app) == []


@pytest.mark.parametrize(
    "submitted",
    [
        pytest.param("\u200b", id="zero-width-space"),
        pytest.param("\u200b\u200c\u200d\u2060", id="zero-width-joiners"),
        pytest.param("\u00ad", id="soft-hyphen"),
        pytest.param("\ufeff", id="byte-order-mark"),
        pytest.param("\u202e\u2066", id="bidi-controls-only"),
        pytest.param("\u0301\u0301", id="combining-marks-only"),
        pytest.param(" \u200b \u3000 ", id="spaces-and-format"),
    ],
)
def test_name_without_a_visible_character_is_refused(app, client, submitted):
    response = client.post("/", data={"name": submitted})
    assert response.status_code == 422
    assert "at least one visible character" in response.text
    assert stored_names(app) == []


def test_names_are_stored_in_unicode_normal_form_c(app, client):
    """ "é" typed as e + combining acute and as one code point is one name."""
    assert client.post("/", data={"name": "Rene\u0301e"}).status_code == 303
    assert client.post("/", data={"name": "Ren\u00e9e"}).status_code == 303
    assert stored_names(app) == ["Ren\u00e9e", "Ren\u00e9e"]


def test_bidi_override_in_a_name_stays_inside_the_name(app, client):
    """A right-to-left override reorders only its own name: each name is isolated."""
    name = "evil \u202eexe.txt"
    assert client.post("/", data={"name": name}).status_code == 303
    assert stored_names(app) == [name]
    page = client.get("/").text
    assert f'<bdi class="name">{name}</bdi>' in page
    assert "unicode-bidi: isolate" in client.get(f"/static/{app.config['VERSION']}/style.css").text


def test_assets_are_linked_under_the_release_version(app, client):
    """A page asks for its own release's stylesheet, wherever a fleet sends the request."""
    version = app.config["VERSION"]
    href = f"/static/{version}/style.css"
    assert f'href="{href}"' in client.get("/").text
    assert client.get(href).status_code == 200
    assert client.get("/static/0.0.0-other/style.css").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"name=%FF", id="percent-encoded-invalid-byte"),
        pytest.param(b"name=caf%C3", id="truncated-sequence"),
        pytest.param(b"name=%ED%A0%80", id="encoded-surrogate"),
    ],
)
def test_form_body_that_is_not_utf8_is_refused(app, client, body):
    response = client.post("/", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 422
    assert "not valid UTF-8" in response.text
    assert stored_names(app) == []


def test_utf8_form_body_is_decoded(app, client):
    body = b"name=Zo%C3%AB+%F0%9F%A6%8A"
    response = client.post("/", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 303
    assert stored_names(app) == ["Zoë 🦊"]


def test_missing_name_field_is_refused(app, client):
    response = client.post("/", data={})
    assert response.status_code == 422
    assert stored_names(app) == []


def test_name_at_the_limit_is_accepted(app, client):
    assert client.post("/", data={"name": "x" * 100}).status_code == 303
    assert stored_names(app) == ["x" * 100]


def test_limit_is_configurable(tmp_path):
    app = make_app(tmp_path, MAX_NAME_LENGTH=5)
    client = app.test_client()
    assert client.post("/", data={"name": "abcdef"}).status_code == 422
    assert client.post("/", data={"name": "abcde"}).status_code == 303
    assert stored_names(app) == ["abcde"]


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("😀 Zoë 👩‍👩‍👧", id="emoji"),
        pytest.param("山田太郎", id="cjk"),
        pytest.param("שלום עולם", id="rtl-hebrew"),
        pytest.param("مرحبا\u200f", id="rtl-arabic-with-mark"),
        pytest.param('O\'Brien "Junior"', id="quotes"),
        pytest.param("<script>alert(1)</script>", id="script-tag"),
        pytest.param('"><img src=x onerror=alert(1)>', id="attribute-breakout"),
        pytest.param("Robert'); DROP TABLE names;--", id="sql-injection"),
        pytest.param("100% _under_ \\ back", id="sql-wildcards"),
        pytest.param("{{ 7*7 }} {% raw %}", id="template-syntax"),
    ],
)
def test_any_other_text_is_stored_verbatim_and_shown_escaped(app, client, name):
    assert client.post("/", data={"name": name}).status_code == 303
    assert stored_names(app) == [name]
    page = client.get("/").text
    assert f'<bdi class="name">{escape(name)}</bdi>' in page
    if "<" in name:
        assert name not in page


LINK = re.compile(r'<a rel="(prev|next)" href="([^"]*)">')


def listed(page: str) -> list[str]:
    return NAME_ITEM.findall(page)


def links(page: str) -> dict[str, str]:
    """The page's "Newer" (prev) and "Older" (next) links."""
    return {rel: html.unescape(href) for rel, href in LINK.findall(page)}


def add_names_at(app, *names: tuple[str, datetime]) -> None:
    with app.app_context():
        db.session.add_all(Name(name=name, created_at=at) for name, at in names)
        db.session.commit()


def test_page_is_paged_newest_first_by_position(tmp_path):
    app = make_app(tmp_path, PAGE_SIZE=3)
    add_names(app, *(f"name-{i}" for i in range(1, 8)))
    client = app.test_client()

    first = client.get("/").text
    assert listed(first) == ["name-7", "name-6", "name-5"]
    assert set(links(first)) == {"next"}
    assert links(first)["next"].startswith("/?before=")

    second = client.get(links(first)["next"]).text
    assert listed(second) == ["name-4", "name-3", "name-2"]
    assert set(links(second)) == {"prev", "next"}
    assert 'href="/">Newest</a>' in second

    last = client.get(links(second)["next"]).text
    assert listed(last) == ["name-1"]
    assert set(links(last)) == {"prev"}

    back = client.get(links(last)["prev"]).text
    assert listed(back) == ["name-4", "name-3", "name-2"]
    newest = client.get(links(back)["prev"]).text
    assert listed(newest) == ["name-7", "name-6", "name-5"]
    assert "prev" not in links(newest)


def test_names_with_the_same_time_are_each_listed_once(tmp_path):
    """The position is the time and the id: names stored in the same microsecond are
    neither skipped nor repeated at a page's edge, going older or newer."""
    app = make_app(tmp_path, PAGE_SIZE=2)
    same = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    add_names_at(app, *((f"name-{i}", same) for i in range(1, 8)))
    client = app.test_client()
    seen, page = [], client.get("/").text
    while True:
        seen += listed(page)
        if "next" not in links(page):
            break
        page = client.get(links(page)["next"]).text
    assert seen == [f"name-{i}" for i in range(7, 0, -1)]
    back = []
    while "prev" in links(page):
        page = client.get(links(page)["prev"]).text
        back = listed(page) + back
    assert back == [f"name-{i}" for i in range(7, 1, -1)]


def test_a_page_keeps_its_names_while_new_names_arrive(tmp_path):
    """Unlike a page number, a position still shows the same names after names were added."""
    app = make_app(tmp_path, PAGE_SIZE=3)
    add_names(app, *(f"name-{i}" for i in range(1, 8)))
    client = app.test_client()
    older = links(client.get("/").text)["next"]
    add_names(app, "name-8", "name-9")
    assert listed(client.get(older).text) == ["name-4", "name-3", "name-2"]


def test_newer_than_the_newest_page_shows_the_newest_page(tmp_path):
    app = make_app(tmp_path, PAGE_SIZE=3)
    add_names(app, *(f"name-{i}" for i in range(1, 6)))
    client = app.test_client()
    second = client.get(links(client.get("/").text)["next"]).text
    assert listed(second) == ["name-2", "name-1"]
    newer = client.get(links(second)["prev"]).text
    assert listed(newer) == ["name-5", "name-4", "name-3"]
    assert "prev" not in links(newer)


def test_old_page_numbers_redirect_to_their_position(tmp_path):
    app = make_app(tmp_path, PAGE_SIZE=3)
    add_names(app, *(f"name-{i}" for i in range(1, 8)))
    client = app.test_client()
    response = client.get("/?page=2")
    assert response.status_code == 302
    assert listed(client.get(response.headers["Location"]).text) == ["name-4", "name-3", "name-2"]
    assert listed(client.get("/?page=3", follow_redirects=True).text) == ["name-1"]
    assert listed(client.get("/?page=1").text) == ["name-7", "name-6", "name-5"]


@pytest.mark.parametrize("page", ["0", "-1", "4"])
def test_pages_outside_the_list_are_not_found(tmp_path, page):
    app = make_app(tmp_path, PAGE_SIZE=3)
    add_names(app, *(f"name-{i}" for i in range(7)))
    assert app.test_client().get(f"/?page={page}").status_code == 404


def test_non_numeric_page_shows_the_first_page(app, client):
    add_names(app, "only-name")
    response = client.get("/?page=abc")
    assert response.status_code == 200
    assert '<bdi class="name">only-name</bdi>' in response.text
    assert 'rel="prev"' not in response.text


@pytest.mark.parametrize("page", ["99999999999999999999", str(2**63), str(2**62)])
def test_page_numbers_beyond_any_database_are_not_found(client, page):
    """Huge page numbers overflow SQLite's 64-bit OFFSET: a 404, never a 500."""
    response = client.get(f"/?page={page}")
    assert response.status_code == 404
    assert "There is no page at this address." in response.text


@pytest.mark.parametrize(
    "query",
    [
        "before=",
        "before=abc",
        "before=123",
        "before=1-2-3",
        "before=1.5-2",
        "after=x-1",
        f"before=1-{2**63}",
        f"before={10**18 - 1}-1",  # beyond the year 9999
        f"after=-{10**17}-1",  # before the year 1
        "before=0-1",  # a position before every name: nothing older
    ],
)
def test_positions_no_link_carries_are_not_found(app, client, query):
    add_names(app, "only-name")
    response = client.get(f"/?{query}")
    assert response.status_code == 404
    assert "There is no page at this address." in response.text


def test_the_first_page_is_one_statement_on_sqlite(tmp_path):
    """No count, no pre-ping of a pooled connection (a SQLite file has none to lose):
    every statement SQLite runs is traced, including those SQLAlchemy's pool sends. The
    metrics' count of the names (after a request, at most every COUNT_EVERY seconds in a
    process; test_metrics.py) is not the page's: it has just been taken here, whenever
    the suite's earlier tests last took it."""
    app = make_app(tmp_path, PAGE_SIZE=10)
    add_names(app, *(f"name-{i}" for i in range(30)))
    metrics._counted["at"] = time.monotonic()
    statements: list[str] = []
    with app.app_context():
        event.listen(
            db.engine.pool,
            "checkout",
            lambda dbapi_connection, *_: dbapi_connection.set_trace_callback(statements.append),
        )
    client = app.test_client()
    for _ in range(3):
        statements.clear()
        assert client.get("/").status_code == 200
        assert len(statements) == 1, statements


@pytest.mark.parametrize("link", ["next", "prev"])
def test_a_page_is_one_seek_in_the_index_however_deep(tmp_path, link):
    """An older or a newer page is one query: a seek to the position in the index and
    a limited scan from there, no COUNT, no OFFSET, no sort of the table."""
    app = make_app(tmp_path, PAGE_SIZE=10)
    add_names(app, *(f"name-{i}" for i in range(500)))
    statements: list[tuple[str, tuple]] = []
    with app.app_context():
        event.listen(
            db.engine,
            "before_cursor_execute",
            lambda _c, _cur, statement, parameters, *_: statements.append((statement, parameters)),
        )
    client = app.test_client()
    second = client.get(links(client.get("/").text)["next"]).text
    target = links(client.get(links(second)["next"]).text)[link]
    metrics._counted["at"] = time.monotonic()  # the metrics' count is not the page's
    statements.clear()
    assert client.get(target).status_code == 200
    selects = [s for s in statements if s[0].lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1
    statement, parameters = selects[0]
    assert "count(" not in statement.lower()
    assert statement.endswith("LIMIT ? OFFSET ?")
    assert parameters[-2:] == (11, 0)  # SQLite's dialect writes OFFSET 0 with every LIMIT
    with app.app_context(), db.engine.connect() as connection:
        rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        plan = " | ".join(row[-1] for row in rows)
    assert plan.startswith("SEARCH names USING INDEX ix_names_created_at_id (created_at"), plan
    assert "TEMP B-TREE" not in plan


def test_csrf_missing_token_is_refused_and_nothing_stored(csrf_app):
    client = csrf_app.test_client()
    response = client.post("/", data={"name": "Mallory"})
    assert response.status_code == 400
    assert "CSRF token is missing" in response.text
    assert stored_names(csrf_app) == []


def test_csrf_wrong_token_is_refused_and_nothing_stored(csrf_app):
    client = csrf_app.test_client()
    client.get("/")
    response = client.post("/", data={"name": "Mallory", "csrf_token": "forged"})
    assert response.status_code == 400
    assert stored_names(csrf_app) == []


def test_csrf_token_from_another_session_is_refused(csrf_app):
    token = csrf_token(csrf_app.test_client().get("/").text)
    response = csrf_app.test_client().post("/", data={"name": "Mallory", "csrf_token": token})
    assert response.status_code == 400
    assert stored_names(csrf_app) == []


def test_csrf_valid_token_stores_the_name(csrf_app):
    client = csrf_app.test_client()
    token = csrf_token(client.get("/").text)
    assert client.post("/", data={"name": "Mark", "csrf_token": token}).status_code == 303
    assert stored_names(csrf_app) == ["Mark"]


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"])
def test_other_methods_are_not_allowed(client, method):
    response = client.open("/", method=method)
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "POST"}
    assert "does not accept that kind of request" in response.text


def test_unknown_path_gets_a_friendly_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "There is no page at this address." in response.text
    assert 'href="/"' in response.text


def test_oversized_body_is_refused(app, client):
    response = client.post("/", data={"name": "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)})
    assert response.status_code == 413
    assert "too large" in response.text
    assert stored_names(app) == []


def test_server_error_page_shows_no_traceback(app, client):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = client.get("/boom")
    assert response.status_code == 500
    assert "Something went wrong" in response.text
    assert "Traceback" not in response.text
    assert "secret internals" not in response.text


def test_database_write_failure_keeps_the_typed_name(app, client):
    """A refused INSERT (a real SQLite error raised by a trigger) stores nothing and says so."""
    with app.app_context():
        db.session.execute(
            text(
                "CREATE TRIGGER refuse_insert BEFORE INSERT ON names "
                "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            )
        )
        db.session.commit()
    response = client.post("/", data={"name": "Kept Name"})
    assert response.status_code == 503
    assert "could not be stored just now" in response.text
    assert 'value="Kept Name"' in response.text
    assert stored_names(app) == []
