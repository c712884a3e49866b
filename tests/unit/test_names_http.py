"""The page checks of the health gate, a restore and the site (roles/names_app/library/
names_http.py), against real HTTP servers on a unix socket and on TCP."""

from __future__ import annotations

import importlib.util
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socketserver import ThreadingUnixStreamServer

import pytest

pytestmark = pytest.mark.unit

MODULE = Path(__file__).resolve().parents[2] / "roles/names_app/library/names_http.py"
spec = importlib.util.spec_from_file_location("names_http", MODULE)
names_http = importlib.util.module_from_spec(spec)
spec.loader.exec_module(names_http)

HEALTHY = {"status": "ok", "version": "1.1.0", "config": "abc"}


class App(BaseHTTPRequestHandler):
    """/healthz answers the server's ``health`` (503 until ``ready`` requests were made),
    / a page with the greeting."""

    def log_message(self, *args) -> None:
        pass

    def address_string(self) -> str:
        return "local"

    def do_GET(self) -> None:
        server = self.server
        server.requests += 1
        if self.path == "/healthz":
            ready = server.requests > server.ready
            status, body = (200, json.dumps(server.health)) if ready else (503, "starting")
        elif self.path == "/":
            status, body = 200, "<h1>Hello World!</h1>"
        else:
            status, body = 404, "not found"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())


def serve(server):
    server.requests, server.ready, server.health = 0, 0, dict(HEALTHY)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def unix_app(tmp_path):
    server = serve(ThreadingUnixStreamServer(str(tmp_path / "http.sock"), App))
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def tcp_app():
    server = serve(ThreadingHTTPServer(("127.0.0.1", 0), App))
    yield server
    server.shutdown()
    server.server_close()


def params(**changes) -> dict:
    base = {
        "url": "http://localhost",
        "unix_socket": None,
        "validate_certs": True,
        "checks": [{"path": "/healthz", "json": dict(HEALTHY)}, {"path": "/", "contains": "Hello"}],
        "wait": 0,
        "timeout": 2,
    }
    return {**base, **changes}


def test_every_check_passes_over_a_unix_socket(unix_app):
    answers, attempts = names_http.run(params(unix_socket=unix_app.server_address))
    assert attempts == 1
    assert [(a["path"], a["status"], a["failed"]) for a in answers] == [
        ("/healthz", 200, ""),
        ("/", 200, ""),
    ]
    assert answers[0]["json"] == HEALTHY


def test_it_asks_again_until_the_server_is_ready(tcp_app):
    tcp_app.ready = 5
    url = f"http://127.0.0.1:{tcp_app.server_address[1]}"
    answers, attempts = names_http.run(params(url=url, wait=10))
    assert [a["failed"] for a in answers] == ["", ""]
    assert attempts > 1


@pytest.mark.parametrize(
    ("check", "reason"),
    [
        ({"path": "/healthz", "json": {**HEALTHY, "version": "1.2.0"}},
         "JSON version='1.1.0', not '1.2.0'"),
        ({"path": "/", "json": {"status": "ok"}}, "the body is not a JSON object"),
        ({"path": "/", "contains": "Goodbye"}, "the body does not contain 'Goodbye'"),
        ({"path": "/missing"}, "status 404, not 200"),
    ],
)  # fmt: skip
def test_a_wrong_answer_fails_with_what_was_wrong(unix_app, check, reason):
    clock = iter([0.0, 0.1, 0.3, 0.6]).__next__
    answers, attempts = names_http.run(
        params(unix_socket=unix_app.server_address, checks=[check], wait=0.5),
        clock=clock, sleep=lambda _: None,
    )  # fmt: skip
    assert answers[0]["failed"] == reason
    assert attempts == 3


def test_no_server_is_a_failure_that_names_the_error(tmp_path):
    answers, _ = names_http.run(params(unix_socket=str(tmp_path / "none.sock")))
    assert answers[0]["status"] == 0
    assert answers[0]["failed"].startswith("FileNotFoundError")
