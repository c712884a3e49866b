"""Metrics in Prometheus's format on each host, on the host's private address only (the
default scenario names none: 127.0.0.1): Debian's node exporter, its nginx exporter
reading stub_status, and the app's own (names-metrics)."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.web


def scrape(host, port: int) -> str:
    return host.check_output(f"curl -sf -m 5 http://127.0.0.1:{port}/metrics")


def test_the_node_exporter_serves_the_hosts_metrics(host):
    assert host.service("prometheus-node-exporter").is_running
    assert "node_filesystem_avail_bytes" in scrape(host, 9100)


def test_the_nginx_exporter_reads_stub_status(host):
    metrics = scrape(host, 9113)
    assert re.search(r"^nginx_up 1$", metrics, re.MULTILINE), metrics
    assert re.search(r"^nginx_http_requests_total \d+", metrics, re.MULTILINE)


def test_the_apps_metrics_count_requests_by_status_and_release(host, http, deployed_version):
    labels = f'method="GET",release="{deployed_version}",status="200"'
    counted = rf"^names_http_requests_total{{{re.escape(labels)}}} ([0-9.e+]+)$"
    before = re.search(counted, scrape(host, 9109), re.MULTILINE)
    for _ in range(3):
        assert http.request("/")["status"] == 200
    metrics = scrape(host, 9109)
    after = re.search(counted, metrics, re.MULTILINE)
    assert after, metrics
    assert float(after[1]) >= (float(before[1]) if before else 0) + 3
    assert f'names_release_info{{version="{deployed_version}"}} 1.0' in metrics
    assert re.search(r"^names_database_up 1\.0$", metrics, re.MULTILINE)
    assert re.search(r"^names_stored \d", metrics, re.MULTILINE)
    assert 'names_http_request_duration_seconds_bucket{le="0.05",method="GET"}' in metrics


def test_metrics_listen_on_the_private_address_only(host):
    listening = host.check_output("ss -Hltn")
    for port in (9100, 9113, 9109, 8081):
        addresses = set(re.findall(rf"\s(\S+):{port}\s", listening))
        assert addresses == {"127.0.0.1"}, (port, listening)


def test_the_metrics_service_is_sandboxed(host):
    out = host.check_output("systemd-analyze security --no-pager names-metrics.service")
    overall = re.search(r"Overall exposure level for names-metrics\.service: ([0-9.]+)", out)
    assert overall, out[-500:]
    assert float(overall.group(1)) <= 2.0, out
