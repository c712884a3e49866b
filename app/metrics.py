"""The app's Prometheus metrics: requests answered, by method, status and the release that
answered them; how long they took; the names stored and whether the database answered,
as the workers last counted; at each scrape, the release that ``current`` names.

Under uWSGI every worker counts into files of its own in PROMETHEUS_MULTIPROC_DIR
(prometheus_client's multiprocess mode, chosen by that variable when the module is first
imported); ``names metrics-serve`` sums them for each scrape, from a process of its own
that listens where the deploy says (a private address, an allow list). Without the
variable (tests, the development server) the counts stay in the process."""

from __future__ import annotations

import contextlib
import glob
import os
import signal
import time
from pathlib import Path

import click
from flask import Flask, current_app, g, request
from flask.cli import with_appcontext
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.models import Name

MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
if MULTIPROCESS_DIR:
    # Under the app server's runtime directory: emptied each time it starts. The
    # workers make it; metrics-serve only reads it (and may start before it exists).
    with contextlib.suppress(OSError):
        os.makedirs(MULTIPROCESS_DIR, mode=0o750, exist_ok=True)

# The methods the app answers; any other is counted as "other" (bounded labels).
METHODS = {"GET", "HEAD", "POST"}
REQUESTS = Counter(
    "names_http_requests_total",
    "HTTP requests the app answered, by method, status and the release that answered.",
    ["method", "status", "release"],
)
LATENCY = Histogram(
    "names_http_request_duration_seconds",
    "Seconds the app took to answer, by method.",
    ["method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

# What the database holds, as a worker last counted it (after a request, at most every
# COUNT_EVERY seconds): the most recent count of any worker is the one scraped. The
# scraping process never opens the database: it needs no way to the database server.
STORED = Gauge("names_stored", "Names in the database, as last counted.",
               multiprocess_mode="mostrecent")  # fmt: skip
DATABASE_UP = Gauge("names_database_up", "1 when the database answered the last count.",
                    multiprocess_mode="mostrecent")  # fmt: skip
COUNT_EVERY = 15.0
_counted = {"at": float("-inf")}


def count_names() -> None:
    """Count the names now (STORED), and whether the database answered (DATABASE_UP)."""
    _counted["at"] = time.monotonic()
    try:
        STORED.set(db.session.scalar(select(func.count()).select_from(Name)))
        DATABASE_UP.set(1)
    except SQLAlchemyError:
        db.session.rollback()
        DATABASE_UP.set(0)


def register(app: Flask) -> None:
    """Count and time every request the app answers; count the names now and then."""
    release = app.config["VERSION"]

    @app.before_request
    def started() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def answered(response):
        method = request.method if request.method in METHODS else "other"
        REQUESTS.labels(method, str(response.status_code), release).inc()
        began = g.get("metrics_started")
        if began is not None:
            LATENCY.labels(method).observe(time.perf_counter() - began)
        if time.monotonic() - _counted["at"] >= COUNT_EVERY:
            count_names()
        return response


class SiteCollector:
    """What a scrape reads afresh: the workers' files summed (when they write files) and
    the release ``current`` names."""

    def __init__(self, app: Flask, multiprocess_dir: str, current: Path | None) -> None:
        self.app, self.multiprocess_dir, self.current = app, multiprocess_dir, current

    def collect(self):
        if self.multiprocess_dir:
            # The directory is made again each time the app server starts: read per scrape.
            files = glob.glob(os.path.join(self.multiprocess_dir, "*.db"))
            yield from MultiProcessCollector.merge(files, accumulate=True)
        info = GaugeMetricFamily(
            "names_release_info", "The release serving (1), by version.", labels=["version"]
        )
        version = self.current.resolve().name if self.current else self.app.config["VERSION"]
        info.add_metric([version], 1)
        yield info


def site_registry(app: Flask, multiprocess_dir: str, current: Path | None) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(SiteCollector(app, multiprocess_dir, current))
    return registry


@click.command("metrics-serve")
@click.option("--listen", default="127.0.0.1:9109", show_default=True, help="ADDRESS:PORT")
@click.option("--current", type=click.Path(path_type=Path), help="the link to the release serving")
@with_appcontext
def metrics_serve_command(listen: str, current: Path | None) -> None:
    """Serve the app's metrics in Prometheus's format on LISTEN (/metrics), summed over
    the app server's workers (PROMETHEUS_MULTIPROC_DIR)."""
    address, _, port = listen.rpartition(":")
    registry = site_registry(current_app._get_current_object(), MULTIPROCESS_DIR, current)
    stop = {signal.SIGINT, signal.SIGTERM}
    # Blocked before the server's thread starts, which inherits the mask: this thread
    # alone takes them, below.
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)
    start_http_server(int(port), addr=address.strip("[]"), registry=registry)
    click.echo(f"names metrics on http://{listen}/metrics", err=True)
    signal.sigwait(stop)
