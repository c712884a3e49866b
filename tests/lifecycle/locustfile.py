"""The names page's visitors, for locust (make bench).

Each user is a browser: it loads the page once for its cookie and its form's CSRF
token, then, paced, reads the newest names, a deep page, /healthz and the stylesheet,
and posts a unique name with that token. A request fails on a connection error or any
status other than the one a browser expects (200 for pages, 303 for a stored name).

Settings come from the environment (make bench sets them):
  NAMES_BENCH_CAFILE   the CA file the site's certificate is verified against
  NAMES_BENCH_DEEP     the deep page's path (a position: /?before=...)
  NAMES_BENCH_STATIC   the stylesheet's path (/static/<release>/style.css)
  NAMES_BENCH_RATE     requests per second of each user
"""

from __future__ import annotations

import os
import re
import uuid

import gevent.ssl
from locust import FastHttpUser, constant_throughput, task

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
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")

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
        name = f"bench-{uuid.uuid4().hex[:12]}"
        with self.client.post(
            "/",
            data={"csrf_token": self.token, "name": name},
            headers={"Referer": f"{self.host}/"},
            allow_redirects=False,
            name="form post",
            catch_response=True,
        ) as response:
            if response.status_code != 303:
                response.failure(f"status {response.status_code}")
