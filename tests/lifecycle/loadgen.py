"""Constant traffic against the names page, counting every failed request.

The load is locust's (the Browser users of locustfile.py), headless, in a process of
its own: each client is a browser-like session that loads the page once (cookie and
CSRF token), then alternates GET / and POST of a unique name with that same token for
as long as the load runs, so a form loaded before a deploy is submitted after it. A
request fails on a connection error, a timeout, or any status other than the expected
one (200 for pages, 303 for a stored name). Loads are bounded in requests and in
time; the target must be a loopback address. HTTPS targets are verified against the
given CA file (the host's self-signed certificate), and posts carry the Referer a
browser sends, which the app checks over HTTPS.

Session and listed_names read the page the way a browser would, to check what a load
stored.
"""

from __future__ import annotations

import html
import http.client
import ipaddress
import json
import os
import signal
import ssl
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import NAME_ITEM, OLDER_LINK, ROOT

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
BUILD = ROOT / "build"


@dataclass
class LoadReport:
    """What one load run saw."""

    requests: int = 0
    failures: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    stored_names: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # Each request as it ended: (wall-clock time, its failure or None).
    timeline: list[tuple[float, str | None]] = field(default_factory=list)

    def percentile(self, fraction: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    def summary(self) -> dict:
        return {
            "requests": self.requests,
            "failed": len(self.failures),
            "names_stored": len(self.stored_names),
            "seconds": round(self.seconds, 1),
            "p50_ms": round(self.percentile(0.50) * 1000, 1),
            "p99_ms": round(self.percentile(0.99) * 1000, 1),
            "max_ms": round(max(self.latencies, default=0.0) * 1000, 1),
            "mean_ms": round(statistics.fmean(self.latencies) * 1000, 1) if self.latencies else 0,
            "first_failures": self.failures[:5],
        }


@dataclass(frozen=True)
class Target:
    """Where the load goes: a loopback URL and, for HTTPS, the CA file to trust."""

    scheme: str
    host: str
    port: int
    cafile: str | None = None

    @classmethod
    def parse(cls, url: str, cafile: str | None = None) -> Target:
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme not in ("http", "https"):
            raise ValueError(f"load targets http or https URLs, not {url}")
        if not ipaddress.ip_address(parsed.hostname).is_loopback:
            raise ValueError(f"load targets loopback addresses only, not {parsed.hostname}")
        default_port = 443 if parsed.scheme == "https" else 80
        return cls(parsed.scheme, parsed.hostname, parsed.port or default_port, cafile)

    @property
    def origin(self) -> str:
        """What a browser sends as the origin: the scheme's own port is left out."""
        default = self.port == (443 if self.scheme == "https" else 80)
        return f"{self.scheme}://{self.host}" + ("" if default else f":{self.port}")

    def connect(self, timeout: float) -> http.client.HTTPConnection:
        if self.scheme == "http":
            return http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        context = ssl.create_default_context(cafile=self.cafile)
        return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=context)


class Session:
    """One client: a keep-alive connection, a session cookie and a CSRF token."""

    def __init__(self, target: Target, timeout: float) -> None:
        self.target, self.timeout = target, timeout
        self.connection: http.client.HTTPConnection | None = None
        self.cookie = ""
        self.token = ""
        # The headers of the last answer.
        self.headers: http.client.HTTPMessage | None = None

    def request(self, method: str, path: str, body: str | None = None):
        headers = {"Cookie": self.cookie} if self.cookie else {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = f"{self.target.origin}/"
        while True:
            reused = self.connection is not None
            if self.connection is None:
                self.connection = self.target.connect(self.timeout)
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                content = response.read().decode("utf-8", "replace")
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A keep-alive connection the server closed while idle is normal
                # HTTP, and browsers retry on a new connection. On a new
                # connection the same error is a failed request.
                self.close()
                if not reused:
                    raise
                continue
            self.headers = response.headers
            cookie = response.getheader("Set-Cookie")
            if cookie:
                self.cookie = cookie.split(";", 1)[0]
            return response.status, content

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class Load:
    """Paced browser-like clients in the background, run by locust (the Browser users of
    locustfile.py) in a process of its own:
    ``with Load(url) as load: ...; report = load.report``. Every request is reported to
    this process as it ends, so ``wait_for`` and ``report`` follow the load while it
    runs; locust's HTML report, JSON stats and log go to build/load-<tag>.html, .json and .log."""

    def __init__(
        self,
        url: str,
        *,
        clients: int = 8,
        rate: float = 120.0,
        min_requests: int = 3000,
        max_requests: int = 50000,
        max_seconds: float = 240.0,
        timeout: float = 10.0,
        tag: str = "run",
        cafile: str | None = None,
    ) -> None:
        self.target = Target.parse(url, cafile)
        self.url = url
        self.clients = clients
        self.rate = rate
        self.min_requests = min_requests
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.timeout = timeout
        self.tag = tag
        self.report = LoadReport()
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self._log = None
        self._started = 0.0

    def __enter__(self) -> Load:
        BUILD.mkdir(exist_ok=True)
        events, events_writer = os.pipe()
        env = {
            **os.environ,
            "NAMES_BENCH_CAFILE": str(Path(self.target.cafile).resolve())
            if self.target.cafile
            else "",
            "NAMES_BENCH_RATE": str(self.rate / self.clients),
            "NAMES_LOAD_TAG": self.tag,
            "NAMES_LOAD_TIMEOUT": str(self.timeout),
            "NAMES_LOAD_MAX_REQUESTS": str(self.max_requests),
            "NAMES_LOAD_EVENTS_FD": str(events_writer),
        }
        report = BUILD / f"load-{self.tag}"
        # locust's own messages (its interrupt included) go to a log beside its reports.
        self._log = report.with_suffix(".log").open("w", encoding="utf-8")
        self._started = time.monotonic()
        self._process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("locust")), "-f", str(LOCUSTFILE), "Browser",
                "--headless", "--users", str(self.clients), "--spawn-rate", str(self.clients),
                "--host", self.url, "--run-time", f"{int(self.max_seconds)}s",
                "--stop-timeout", str(int(self.timeout) + 5), "--only-summary",
                "--html", f"{report}.html", "--json-file", str(report),
                "--exit-code-on-error", "0", "--loglevel", "WARNING",
            ],
            env=env, pass_fds=(events_writer,), stdout=subprocess.DEVNULL, stderr=self._log,
            cwd=ROOT,
        )  # fmt: skip
        os.close(events_writer)
        self._reader = threading.Thread(target=self._read, args=(events,), daemon=True)
        self._reader.start()
        return self

    def _read(self, events: int) -> None:
        with os.fdopen(events, encoding="utf-8") as lines:
            for line in lines:
                event = json.loads(line)
                with self._lock:
                    self.report.requests += 1
                    self.report.latencies.append(event["ms"] / 1000)
                    self.report.timeline.append((event["t"], event["failure"]))
                    if event["failure"]:
                        self.report.failures.append(event["failure"])
                    elif event["stored"]:
                        self.report.stored_names.append(event["stored"])

    def wait_for(self, requests: int) -> None:
        """Block until the clients have made ``requests`` requests (bounded by max_seconds)."""
        while self.report.requests < requests and self._running():
            time.sleep(0.05)

    def _running(self) -> bool:
        return time.monotonic() - self._started < self.max_seconds and self._process.poll() is None

    def __exit__(self, *exc_info) -> None:
        self.wait_for(self.min_requests)
        # SIGINT: locust lets the requests in flight end, then writes its reports.
        self._process.send_signal(signal.SIGINT)
        try:
            code = self._process.wait(timeout=self.timeout + 30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            raise
        finally:
            self._log.close()
        self._reader.join(timeout=10)
        self.report.seconds = time.monotonic() - self._started
        if code != 0 and exc_info[0] is None:
            raise RuntimeError(
                f"locust exited with {code} (its log: {self._log.name}): {self.report.summary()}"
            )


def listed_names(
    url: str,
    cafile: str | None = None,
    timeout: float = 10.0,
    max_pages: int = 2000,
    until: set[str] | None = None,
) -> set[str]:
    """Every name on the page (as typed: the page's HTML escapes undone), following the
    "Older" links to the last page; with ``until``, only as far as the page where the
    last of those names is listed (the newest come first), so
    ``until <= listed_names(..., until=until)`` still tells whether every one of them
    is listed."""
    session = Session(Target.parse(url, cafile), timeout)
    names: set[str] = set()
    try:
        path = "/"
        for _ in range(max_pages):
            status, content = session.request("GET", path)
            if status != 200:
                raise AssertionError(f"{path} answered {status}")
            names.update(html.unescape(name) for name in NAME_ITEM.findall(content))
            older = OLDER_LINK.search(content)
            if older is None or (until is not None and until <= names):
                return names
            path = html.unescape(older[1])
    finally:
        session.close()
    raise AssertionError(f"more than {max_pages} pages")
