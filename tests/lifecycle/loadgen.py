"""Constant traffic against the names page, counting every failed request.

Each client is a browser-like session: it loads the page once (cookie and CSRF
token), then alternates GET / and POST of a unique name with that same token for
as long as the load runs, so a form loaded before a deploy is submitted after
it. A request fails on a connection error, a timeout, or any status other than
the expected one (200 for pages, 303 for a stored name). Loops are bounded in
requests and in time; the target must be a loopback address. HTTPS targets are
verified against the given CA file (the host's self-signed certificate), and
posts carry the Referer a browser sends, which the app checks over HTTPS.
"""

from __future__ import annotations

import html
import http.client
import ipaddress
import ssl
import statistics
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

from tests.helpers import CSRF_FIELD, NAME_ITEM, OLDER_LINK


@dataclass
class LoadReport:
    """What one load run saw."""

    requests: int = 0
    failures: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    stored_names: list[str] = field(default_factory=list)
    seconds: float = 0.0

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
            cookie = response.getheader("Set-Cookie")
            if cookie:
                self.cookie = cookie.split(";", 1)[0]
            return response.status, content

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def _client(target: Target, tag: str, report: LoadReport, lock, stop, limits) -> None:
    session = Session(target, timeout=limits["timeout"])
    sequence = 0
    next_at = time.monotonic()
    while not stop.is_set():
        # Pace the client so the load spans a whole deploy at a steady rate.
        next_at += limits["interval"]
        pause = next_at - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        with lock:
            if report.requests >= limits["max_requests"]:
                return
            report.requests += 1
        sequence += 1
        posting = bool(session.token) and sequence % 2 == 0
        name = f"load {tag} {sequence}"
        started = time.monotonic()
        try:
            if posting:
                body = urllib.parse.urlencode({"csrf_token": session.token, "name": name})
                status, content = session.request("POST", "/", body)
                expected = 303
            else:
                status, content = session.request("GET", "/")
                expected = 200
                match = CSRF_FIELD.search(content)
                if match and not session.token:
                    session.token = match.group(1)
            outcome = None if status == expected else f"{'POST' if posting else 'GET'} {status}"
        except (OSError, http.client.HTTPException) as exc:
            outcome = f"{'POST' if posting else 'GET'} {exc.__class__.__name__}: {exc}"
            session.close()
        elapsed = time.monotonic() - started
        with lock:
            report.latencies.append(elapsed)
            if outcome:
                report.failures.append(outcome)
            elif posting:
                report.stored_names.append(name)
    session.close()


class Load:
    """Run clients in the background: ``with Load(url) as load: ...; report = load.report``."""

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
        self.clients = clients
        self.min_requests = min_requests
        self.max_seconds = max_seconds
        self.limits = {
            "max_requests": max_requests,
            "timeout": timeout,
            "interval": clients / rate,
        }
        self.tag = tag
        self.report = LoadReport()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = 0.0

    def __enter__(self) -> Load:
        self._started = time.monotonic()
        for index in range(self.clients):
            thread = threading.Thread(
                target=_client,
                args=(self.target, f"{self.tag}-{index}", self.report, self._lock, self._stop,
                      self.limits),
                daemon=True,
            )  # fmt: skip
            thread.start()
            self._threads.append(thread)
        return self

    def wait_for(self, requests: int) -> None:
        """Block until the clients have sent ``requests`` requests (bounded by max_seconds)."""
        while self.report.requests < requests and self._running():
            time.sleep(0.05)

    def _running(self) -> bool:
        return time.monotonic() - self._started < self.max_seconds and any(
            t.is_alive() for t in self._threads
        )

    def __exit__(self, *exc_info) -> None:
        self.wait_for(self.min_requests)
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.limits["timeout"] + 5)
        self.report.seconds = time.monotonic() - self._started


def listed_names(
    url: str,
    cafile: str | None = None,
    timeout: float = 10.0,
    max_pages: int = 2000,
    until: set[str] | None = None,
) -> set[str]:
    """Every name on the page, following the "Older" links to the last page; with
    ``until``, only as far as the page where the last of those names is listed (the
    newest come first), so ``until <= listed_names(..., until=until)`` still tells
    whether every one of them is listed."""
    session = Session(Target.parse(url, cafile), timeout)
    names: set[str] = set()
    try:
        path = "/"
        for _ in range(max_pages):
            status, content = session.request("GET", path)
            if status != 200:
                raise AssertionError(f"{path} answered {status}")
            names.update(NAME_ITEM.findall(content))
            older = OLDER_LINK.search(content)
            if older is None or (until is not None and until <= names):
                return names
            path = html.unescape(older[1])
    finally:
        session.close()
    raise AssertionError(f"more than {max_pages} pages")
