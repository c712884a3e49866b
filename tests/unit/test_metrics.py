"""The app's Prometheus metrics: counted per request, summed over worker processes that
each write their own files (prometheus_client's multiprocess mode), and served by
`names metrics-serve`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from app import ConfigurationError, create_app, db
from app.metrics import site_registry
from app.models import Name
from tests.helpers import ROOT

pytestmark = pytest.mark.unit

# The names command of the code under test.
NAMES = [sys.executable, "-c", "from app.cli import main; main()"]


def sample(name: str, labels: dict) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def samples(text: str) -> dict:
    """Each sample of an exposition, by its name and sorted labels."""
    return {
        (found.name, tuple(sorted(found.labels.items()))): found.value
        for family in text_string_to_metric_families(text)
        for found in family.samples
    }


def test_each_answer_is_counted_by_method_status_and_release(app, client):
    release = app.config["VERSION"]
    page = {"method": "GET", "status": "200", "release": release}
    missing = {"method": "GET", "status": "404", "release": release}
    before = sample("names_http_requests_total", page), sample("names_http_requests_total", missing)
    timed = sample("names_http_request_duration_seconds_count", {"method": "GET"})
    client.get("/")
    client.get("/")
    client.get("/nowhere")
    assert sample("names_http_requests_total", page) == before[0] + 2
    assert sample("names_http_requests_total", missing) == before[1] + 1
    assert sample("names_http_request_duration_seconds_count", {"method": "GET"}) == timed + 3


def test_with_metrics_off_nothing_is_counted():
    app = create_app("testing", {"METRICS": False})
    page = {"method": "GET", "status": "200", "release": app.config["VERSION"]}
    before = sample("names_http_requests_total", page)
    assert app.test_client().get("/").status_code == 200
    assert sample("names_http_requests_total", page) == before


def test_metrics_must_be_a_boolean():
    with pytest.raises(ConfigurationError, match="METRICS must be true or false, got 'no'"):
        create_app("testing", {"METRICS": "no"})


# A worker: counts requests into its own file in PROMETHEUS_MULTIPROC_DIR, then the
# names (as it saw them), and exits.
WORKER = """
from app.metrics import DATABASE_UP, REQUESTS, STORED
for _ in range({count}):
    REQUESTS.labels("POST", "303", "9.9.9").inc()
STORED.set({count} * 10)
DATABASE_UP.set(1)
"""


def test_a_scrape_sums_the_workers_counts_and_takes_the_latest_names_count(tmp_path):
    from tests.conftest import make_app

    app = make_app(tmp_path)
    shared = tmp_path / "metrics"
    shared.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    for count in (3, 4):
        worker = [sys.executable, "-c", WORKER.format(count=count)]
        subprocess.run(worker, env=env, check=True, cwd=ROOT)
    assert len(list(shared.glob("counter_*.db"))) == 2
    release = tmp_path / "releases" / "9.9.9"
    release.mkdir(parents=True)
    (tmp_path / "current").symlink_to(release)

    text = generate_latest(site_registry(app, str(shared), tmp_path / "current")).decode()

    found = samples(text)
    posts = (("method", "POST"), ("release", "9.9.9"), ("status", "303"))
    assert found[("names_http_requests_total", posts)] == 7
    # The most recent count of any worker: the second one's.
    assert found[("names_stored", ())] == 40
    assert found[("names_database_up", ())] == 1
    assert found[("names_release_info", (("version", "9.9.9"),))] == 1


def test_a_worker_counts_the_names_after_a_request_at_most_every_15_s(app, client):
    from app import metrics

    with app.app_context():
        db.session.add_all([Name(name="Ada"), Name(name="Grace")])
        db.session.commit()
    metrics._counted["at"] = float("-inf")
    client.get("/")
    assert sample("names_stored", {}) == 2
    assert sample("names_database_up", {}) == 1
    with app.app_context():
        db.session.add(Name(name="Linus"))
        db.session.commit()
    client.get("/")
    assert sample("names_stored", {}) == 2, "counted again within 15 s"
    metrics._counted["at"] -= metrics.COUNT_EVERY
    client.get("/")
    assert sample("names_stored", {}) == 3


def test_a_count_with_the_database_away_says_so(tmp_path):
    from app import metrics
    from tests.conftest import make_app

    app = make_app(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path}/missing/names.sqlite3",
                   CREATE_SCHEMA_ON_STARTUP=False)  # fmt: skip
    with app.app_context():
        metrics.count_names()
    assert sample("names_database_up", {}) == 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_metrics_serve_answers_scrapes_and_stops_on_sigterm(tmp_path):
    shared = tmp_path / "metrics"
    env = {
        **os.environ,
        "NAMES_CONFIG": "production",
        "SECRET_KEY": "a-secret-key-for-the-metrics-test-only-0123456789",
        "DATABASE_URL": f"sqlite:///{tmp_path}/names.sqlite3",
        "PROMETHEUS_MULTIPROC_DIR": str(shared),
    }
    env.pop("NAMES_SETTINGS", None)
    subprocess.run([*NAMES, "db", "upgrade"], env=env, check=True, capture_output=True, cwd=ROOT)
    subprocess.run([sys.executable, "-c", WORKER.format(count=2)], env=env, check=True, cwd=ROOT)
    port = free_port()
    server = subprocess.Popen([*NAMES, "metrics-serve", "--listen", f"127.0.0.1:{port}"],
                              env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/metrics", timeout=2
                ) as answer:
                    text = answer.read().decode()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read()
                assert time.monotonic() < deadline, "metrics-serve did not answer in 20 s"
                time.sleep(0.1)
        found = samples(text)
        posts = (("method", "POST"), ("release", "9.9.9"), ("status", "303"))
        assert found[("names_http_requests_total", posts)] == 2
        assert found[("names_stored", ())] == 20
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=10)
    assert code == 0
