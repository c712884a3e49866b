"""Bad input through the real stack: HTTPS from the controller, nginx, uWSGI, the app
and its database, on each host.

One session posts every kind of bad input with its own token, and each answer is
checked; then the page must list exactly the valid names of the barrage, stored and
shown as they were typed, and still take a new name.
"""

from __future__ import annotations

import urllib.parse
import uuid

import pytest

from tests.helpers import csrf_token

pytestmark = pytest.mark.web

SECURITY_HEADERS = (
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
    "Permissions-Policy",
    "Strict-Transport-Security",
)
LIMIT = 100  # names_app_max_name_length


def barrage(tag: str) -> list[tuple[str, str, int]]:
    """(what it is, the name typed, the status expected): 303 stores it, the rest must not."""
    return [
        ("empty", "", 422),
        ("whitespace only", " \t  \u3000 ", 422),
        ("one over the limit", f"{tag} " + "x" * (LIMIT - len(tag)), 422),
        ("exactly the limit", f"{tag} " + "y" * (LIMIT - len(tag) - 1), 303),
        ("NUL", f"{tag} nul\x00byte", 422),
        ("control characters", f"{tag} \x1b[31mred\x07", 422),
        ("line break", f"{tag} two\nlines", 422),
        ("10 kB name", f"{tag} " + "z" * 10_000, 422),
        ("script tag", f"{tag} <script>alert(1)</script>", 303),
        ("attribute breakout", f'{tag} "><img src=x onerror=alert(1)>', 303),
        ("too long and hostile", f'{tag} "><img src=x onerror=alert(2)>' + "w" * LIMIT, 422),
        ("SQL metacharacters", f"{tag} Robert'); DROP TABLE names;-- 1' OR '1'='1", 303),
        ("emoji", f"{tag} Zoë 🦊🎉👩🏽‍🚀", 303),
        ("CJK", f"{tag} 山田太郎 김민준", 303),
        ("right to left", f"{tag} שלום مرحبا", 303),
    ]


@pytest.fixture
def session(site):
    page = site.request("GET", "/")
    assert page.status == 200, page.text[:500]
    return site, csrf_token(page.text)


def post(site, token: str | None, name: str, **headers):
    form = {"name": name} if token is None else {"csrf_token": token, "name": name}
    # Many posts in a row from one address: the rate limit is tested on its own.
    return site.request(
        "POST", "/", urllib.parse.urlencode(form), headers, wait_out_rate_limit=True
    )


def test_barrage_stores_exactly_the_valid_names(session):
    site, token = session
    tag = f"b{uuid.uuid4().hex[:8]}"
    cases = barrage(tag)
    answers = {what: post(site, token, name) for what, name, _ in cases}
    for what, _, expected in cases:
        answer = answers[what]
        assert answer.status == expected, f"{what}: {answer.status} {answer.text[:300]}"
        if expected == 422:
            assert "<img src=x" not in answer.text, f"{what}: the value is echoed unescaped"
    # The 1 MB body never reaches the app: nginx refuses it (client_max_body_size).
    huge = post(site, token, f"{tag} " + "m" * 1_000_000)
    assert huge.status == 413
    stored = [name for name in site.listed_names() if tag in name]
    valid = [name for _, name, expected in cases if expected == 303]
    assert sorted(stored) == sorted(valid)  # stored and shown exactly as typed
    page = site.request("GET", "/").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page


@pytest.mark.parametrize(
    ("what", "token", "headers", "status"),
    [
        pytest.param("no token", None, {}, 400, id="missing-token"),
        pytest.param("a forged token", "forged", {}, 400, id="wrong-token"),
        pytest.param("another site's page", "page", {"Referer": "https://evil.example/"}, 400,
                     id="foreign-referer"),
        pytest.param("no referrer", "page", {"Referer": None}, 400, id="missing-referer"),
    ],
)  # fmt: skip
def test_posts_not_from_the_page_are_refused(session, what, token, headers, status):
    site, page_token = session
    name = f"refused {uuid.uuid4().hex[:8]}"
    answer = post(site, page_token if token == "page" else token, name, **headers)
    assert answer.status == status, f"{what}: {answer.status}"
    assert name not in site.listed_names()


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_get_405(site, method):
    answer = site.request(method, "/", b"")
    assert answer.status == 405
    assert set(answer.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_unknown_paths_get_a_friendly_404_with_the_headers(site):
    answer = site.request("GET", "/no/such/page?x=<b>")
    assert answer.status == 404
    assert "Back to the names page" in answer.text
    assert "<b>" not in answer.text
    for header in SECURITY_HEADERS:
        assert answer.headers.get(header), f"{header} missing on the 404 page"


def test_the_page_still_takes_a_name_after_the_barrage(session):
    site, token = session
    name = f"after the barrage {uuid.uuid4().hex[:8]}"
    assert post(site, token, name).status == 303
    assert site.listed_names()[0] == name
