"""make bench's readings of wrk's output and of locust's response-time histograms."""

from __future__ import annotations

import pytest

from tests.lifecycle import bench

pytestmark = pytest.mark.unit

WRK_OUTPUT = """Running 10s test @ https://127.0.0.1:8443/
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    11.62ms    4.95ms 114.81ms   80.84%
    Req/Sec   696.71    120.33     0.92k    70.00%
  Latency Distribution
     50%   10.93ms
     75%   13.20ms
     90%   16.01ms
     99%    1.02s
  13901 requests in 10.03s, 56.12MB read
  Socket errors: connect 2, read 5, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:   1385.79
Transfer/sec:      5.60MB
"""


def test_wrk_figures_are_read_with_their_units(monkeypatch):
    monkeypatch.setattr(
        bench.subprocess,
        "run",
        lambda *_args, **_kwargs: bench.subprocess.CompletedProcess([], 0, WRK_OUTPUT, ""),
    )
    figures = bench.wrk("https://127.0.0.1:8443/", 10, 16)
    assert figures == {
        "requests_per_second": 1385.79,
        "p50_ms": 10.93,
        "p99_ms": 1020.0,
        # Non-2xx answers, refused connections and timeouts; not the reads cut short
        # when wrk stops.
        "failed": 7 + 2 + 3,
    }


@pytest.mark.parametrize(("text", "ms"), [("738.00us", 0.74), ("7.19ms", 7.19), ("1.5s", 1500.0)])
def test_wrk_durations_become_milliseconds(text, ms):
    assert bench.milliseconds(text) == ms


def test_locust_percentiles_come_from_its_histogram():
    histogram = {"2": 50, "3": 30, "10": 19, "140": 1}
    assert bench.percentile(histogram, 0.50) == 2
    assert bench.percentile(histogram, 0.80) == 3
    assert bench.percentile(histogram, 0.99) == 10
    assert bench.percentile(histogram, 1.0) == 140
