"""The lifecycle tests' load (locust's Browser users, tests/lifecycle/loadgen.py) against
a small HTTP server that checks what a browser would send and answers as told: every
request it answers is counted once, every answer other than a browser's expected one
is a failure, and the names reported stored are the ones the server stored."""

from __future__ import annotations

import html
import re
import signal
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.lifecycle.loadgen import Load, listed_names

pytestmark = pytest.mark.unit

FORM = '<form method="post"><input id="csrf_token" name="csrf_token" type="hidden" value="{}">'


class Site(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, failing_posts: int = 0, dropped_posts: int = 0) -> None:
        super().__init__(("127.0.0.1", 0), Page)
        self.lock = threading.Lock()
        self.answered = 0
        self.failing_posts = failing_posts
        # POSTs on a reused connection closed unanswered, as by a server closing an
        # idle keep-alive connection just as the request arrives.
        self.dropped_posts = dropped_posts
        self.dropped: list[str] = []
        self.failed: list[str] = []
        self.stored: list[str] = []
        self.sessions = 0


class Page(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Site

    def log_message(self, *args) -> None:
        pass

    def answer(self, status: int, body: str = "", cookie: str = "") -> None:
        self.send_response(status)
        if cookie:
            self.send_header("Set-Cookie", f"session={cookie}; HttpOnly")
        if status == 303:
            self.send_header("Location", "/")
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body.encode())))
        self.end_headers()
        self.wfile.write(body.encode())

    def session(self) -> str:
        match = re.search(r"session=(\w+)", self.headers.get("Cookie", ""))
        return match[1] if match else ""

    def do_GET(self) -> None:
        with self.server.lock:
            self.served = True
            self.server.answered += 1
            cookie = self.session()
            if not cookie:
                self.server.sessions += 1
                cookie = f"s{self.server.sessions}"
            # The names as the app lists them: escaped for HTML.
            listed = "".join(
                f'<bdi class="name">{html.escape(n)}</bdi>' for n in self.server.stored
            )
        self.answer(200, FORM.format(f"token-{cookie}") + listed, cookie)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        form = urllib.parse.parse_qs(body)
        name = form["name"][0]
        with self.server.lock:
            reused = getattr(self, "served", False)
            if reused and len(self.server.dropped) < self.server.dropped_posts:
                self.server.dropped.append(name)
                self.close_connection = True
                return
            self.served = True
            self.server.answered += 1
            if form["csrf_token"] != [f"token-{self.session()}"] or not self.headers["Referer"]:
                self.server.failed.append(name)
                return self.answer(400)
            if len(self.server.failed) < self.server.failing_posts:
                self.server.failed.append(name)
                return self.answer(500)
            self.server.stored.append(name)
        self.answer(303)


@pytest.fixture
def site(request):
    server = Site(**getattr(request, "param", {}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def run(site: Site) -> Load:
    url = f"http://127.0.0.1:{site.server_address[1]}"
    with Load(url, clients=2, rate=100, min_requests=80, tag="unit") as load:
        pass
    return load


def test_every_request_is_counted_and_posts_carry_the_form_token(site):
    report = run(site).report
    assert report.failures == []
    assert report.requests == site.answered >= 80
    assert len(report.latencies) == report.requests
    assert sorted(report.stored_names) == sorted(site.stored)
    assert len(site.stored) >= report.requests // 2 - 2, "the clients do not alternate GET/POST"


@pytest.mark.parametrize("site", [{"failing_posts": 5}], indirect=True)
def test_an_unexpected_answer_is_a_failure(site):
    started = time.time()
    report = run(site).report
    assert report.failures == ["POST 500"] * 5
    # The timeline has each request, in the order they ended, when they ended.
    assert len(report.timeline) == report.requests
    assert [failure for _, failure in report.timeline if failure] == report.failures
    moments = [moment for moment, _ in report.timeline]
    assert started <= moments[0]
    assert moments == sorted(moments)
    assert moments[-1] <= time.time()
    assert report.requests == site.answered
    assert not set(report.stored_names) & set(site.failed)
    assert sorted(report.stored_names) == sorted(site.stored)


def test_names_are_listed_as_typed_whatever_the_page_escapes(site):
    typed = {"Ada & Grace's <b>", 'Émile "Zola"', "plain"}
    site.stored.extend(sorted(typed))
    assert listed_names(f"http://127.0.0.1:{site.server_address[1]}") == typed


def test_a_refused_connection_is_a_failure(site):
    site.shutdown()
    site.server_close()
    with Load(f"http://127.0.0.1:{site.server_address[1]}", clients=1, rate=20,
              min_requests=3, tag="unit-refused") as load:  # fmt: skip
        pass
    assert load.report.requests >= 3
    assert len(load.report.failures) == load.report.requests
    assert all("GET" in failure and "Refused" in failure for failure in load.report.failures)


def test_a_load_started_with_interrupts_ignored_still_stops(site):
    """As make test's side lane starts it: a background job of a non-interactive shell."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        load = run(site)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert load.report.failures == []
    assert load.report.requests == site.answered >= 80


@pytest.mark.parametrize("site", [{"dropped_posts": 3}], indirect=True)
def test_a_post_on_a_connection_closed_before_an_answer_is_sent_again(site):
    """As a browser does: once, on a new connection; the load counts the request once."""
    report = run(site).report
    assert len(site.dropped) == 3
    assert report.failures == []
    assert report.requests == site.answered
    assert set(site.dropped) <= set(report.stored_names)
    assert sorted(report.stored_names) == sorted(site.stored)
