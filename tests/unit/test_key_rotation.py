"""Rotating the secret key: a page opened before the rotation still posts, its session
cookie and its form token signed with the previous key (SECRET_KEY_FALLBACKS), until the
operator retires that key."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app import db
from app.models import Name
from tests.conftest import make_app
from tests.helpers import csrf_token

pytestmark = pytest.mark.unit

OLD, NEW, OTHER = "o" * 64, "n" * 64, "x" * 64


def keyed_app(tmp_path, key, fallbacks=()):
    return make_app(
        tmp_path, WTF_CSRF_ENABLED=True, SECRET_KEY=key, SECRET_KEY_FALLBACKS=list(fallbacks)
    )


def open_page_then_rotate(tmp_path, key, fallbacks):
    """A browser loads the form under OLD; the host then runs with ``key``/``fallbacks``."""
    before = keyed_app(tmp_path, OLD).test_client()
    token = csrf_token(before.get("/").text)
    cookie = before.get_cookie("session")
    after_app = keyed_app(tmp_path, key, fallbacks)
    after = after_app.test_client()
    after.set_cookie("session", cookie.value)
    return after_app, after, token


def stored(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Name.name)))


def test_a_form_opened_before_the_rotation_still_posts(tmp_path):
    app, client, token = open_page_then_rotate(tmp_path, NEW, [OLD])
    response = client.post("/", data={"name": "Ada", "csrf_token": token})
    assert response.status_code == 303
    assert stored(app) == ["Ada"]
    # The next page carries a token signed with the new key, which posts as well.
    fresh = csrf_token(client.get("/").text)
    assert client.post("/", data={"name": "Grace", "csrf_token": fresh}).status_code == 303


def test_once_the_old_key_is_retired_its_forms_are_refused(tmp_path):
    app, client, token = open_page_then_rotate(tmp_path, NEW, [])
    response = client.post("/", data={"name": "Ada", "csrf_token": token})
    assert response.status_code == 400
    assert stored(app) == []


def test_a_token_signed_by_a_key_never_listed_is_refused(tmp_path):
    app, client, token = open_page_then_rotate(tmp_path, NEW, [OTHER])
    assert client.post("/", data={"name": "Ada", "csrf_token": token}).status_code == 400
    assert stored(app) == []
