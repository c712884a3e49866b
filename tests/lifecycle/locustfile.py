"""The names page's visitors, for locust: two kinds of user, picked by class name.

Visitor (make bench): a browser that loads the page once for its cookie and its form's
CSRF token, then, paced, reads the newest names, a deep page, /healthz and the
stylesheet, and posts a unique name with that token.

Browser (the load of the lifecycle and fleet tests, tests/lifecycle/loadgen.py): loads
the page, then alternates GET / and a POST of a unique name with the token of the form
it loaded first, for as long as the load runs, so a form loaded before a deploy is
submitted after it. It stops when the run has sent NAMES_LOAD_MAX_REQUESTS requests.
Every request it makes is written as a JSON line to the file descriptor
NAMES_LOAD_EVENTS_FD: method, milliseconds, the failure if any, the name a POST stored.

A request fails on a connection error, a timeout, or any status other than the one a
browser expects (200 for pages, 303 for a stored name).

Settings come from the environment (make bench and loadgen.py set them):
  NAMES_BENCH_CAFILE   the CA file the site's certificate is verified against
  NAMES_BENCH_DEEP     the deep page's path (a position: /?before=...)
  NAMES_BENCH_STATIC   the stylesheet's path (/static/<release>/style.css)
  NAMES_BENCH_RATE     requests per second of each user
  NAMES_LOAD_TAG, NAMES_LOAD_TIMEOUT, NAMES_LOAD_MAX_REQUESTS, NAMES_LOAD_EVENTS_FD
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import time
import uuid

import gevent.ssl
from geventhttpclient.response import HTTPConnectionClosed
from locust import FastHttpUser, constant_throughput, events, task
from locust.exception import StopUser

CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def verifying_context():
    """TLS as a browser does it, trusting the site's (self-signed) certificate."""
    return gevent.ssl.create_default_context(cafile=os.environ.get("NAMES_BENCH_CAFILE") or None)


class Visitor(FastHttpUser):
    wait_time = constant_throughput(float(os.environ.get("NAMES_BENCH_RATE", "1")))
    insecure = False
    ssl_context_factory = staticmethod(verifying_context)

    def on_start(self) -> None:
        self.token = ""
        with self.client.get("/", name="first page", catch_response=True) as response:
            token = CSRF_FIELD.search(response.text or "")
            if response.status_code != 200 or not token:
                response.failure(f"no form token (status {response.status_code})")
                return
            self.token = token[1]

    def get(self, path: str, name: str) -> None:
        with self.client.get(path, name=name, catch_response=True) as response:
            expect(response, 200)

    @task(4)
    def first_page(self) -> None:
        self.get("/", "first page")

    @task(4)
    def deep_page(self) -> None:
        self.get(os.environ.get("NAMES_BENCH_DEEP", "/"), "deep page")

    @task(2)
    def health(self) -> None:
        self.get("/healthz", "/healthz")

    @task(2)
    def static_file(self) -> None:
        self.get(os.environ.get("NAMES_BENCH_STATIC", "/static/style.css"), "static file")

    @task(1)
    def post_name(self) -> None:
        post_name(self, f"bench-{uuid.uuid4().hex[:12]}", "form post")


SETTINGS = os.environ.get
# loadgen.py stops a load with SIGINT (locust then writes its reports). A process
# started in the background by a non-interactive shell (make test's side lane) is
# born with SIGINT ignored, and Python keeps it so: restore the interrupt.
signal.signal(signal.SIGINT, signal.default_int_handler)
USER_NUMBERS = itertools.count()
SENT = itertools.count(1)


class Browser(FastHttpUser):
    wait_time = constant_throughput(float(SETTINGS("NAMES_BENCH_RATE", "1")))
    insecure = False
    ssl_context_factory = staticmethod(verifying_context)
    connection_timeout = network_timeout = float(SETTINGS("NAMES_LOAD_TIMEOUT", "10"))
    max_requests = int(SETTINGS("NAMES_LOAD_MAX_REQUESTS", "50000"))

    def on_start(self) -> None:
        self.tag = f"{SETTINGS('NAMES_LOAD_TAG', 'run')}-{next(USER_NUMBERS)}"
        self.token = ""
        self.sequence = 0

    @task
    def visit(self) -> None:
        if next(SENT) > self.max_requests:
            raise StopUser()
        self.sequence += 1
        if self.token and self.sequence % 2 == 0:
            post_name(self, f"load {self.tag} {self.sequence}", "POST /")
            return
        with self.client.get("/", name="GET /", catch_response=True) as response:
            if expect(response, 200) and not self.token:
                token = CSRF_FIELD.search(response.text or "")
                self.token = token[1] if token else ""


def post_name(user: FastHttpUser, name: str, label: str) -> None:
    """The form, posted as a browser does: the token of the form the user loaded, the
    Referer of the page; 303 when the name is stored (the event's context says which).

    A keep-alive connection the server closed while it was idle (nginx reloading
    closes its idle ones) fails the next request sent on it before any answer. A
    browser sends the request again on a new connection, and so does this, once:
    geventhttpclient does it by itself for a GET, never for a POST. The first attempt
    is listed apart in locust's report and is not a request of the load's."""
    for again in (False, True):
        with user.client.post(
            "/",
            data={"csrf_token": user.token, "name": name},
            headers={"Referer": f"{user.host}/"},
            allow_redirects=False,
            name=label,
            context={"stored": name},
            catch_response=True,
        ) as response:
            if not again and isinstance(getattr(response, "error", None), HTTPConnectionClosed):
                response.request_meta["context"]["sent_again"] = True
                response.request_meta["name"] = f"{label} (closed before an answer, sent again)"
                response.success()
                continue
            expect(response, 303)
            return


def expect(response, status: int) -> bool:
    """Whether the answer is the expected one; a wrong status is the failure, by its
    number. (A connection error or a timeout, status 0, is one under its own name.)"""
    if response.status_code == status:
        return True
    if response.status_code:
        response.failure(str(response.status_code))
    return False


if SETTINGS("NAMES_LOAD_EVENTS_FD"):
    EVENTS = os.fdopen(int(SETTINGS("NAMES_LOAD_EVENTS_FD")), "w", buffering=1)

    @events.request.add_listener
    def record(request_type, response_time, exception, context, **_) -> None:
        """One line per request, as soon as it is answered or failed."""
        if context.get("sent_again"):
            return
        if exception is None:
            failure = None
        elif type(exception).__name__ == "CatchResponseError":
            failure = f"{request_type} {exception}"
        else:
            failure = f"{request_type} {type(exception).__name__}: {exception}"
        stored = context.get("stored") if failure is None else None
        line = {"ms": response_time, "failure": failure, "stored": stored, "t": time.time()}
        EVENTS.write(json.dumps(line) + "\n")
