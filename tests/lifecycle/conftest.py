"""Fixtures of the lifecycle story (the default scenario's `lifecycle` host, after
tests/infra): run the real playbooks against that host and build the releases the
story needs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import ROOT, Run, run_playbook, run_playbooks_at_once, start_playbook
from tests.releases import FAULT, MIGRATION_0002, MIGRATION_0003, build_releases

# The hosts the story is told on: the group molecule/default/molecule.yml names.
HOSTS = "lifecycle"
# nginx's HTTPS and HTTP ports as published by molecule/default/molecule.yml.
URL = "https://127.0.0.1:18443"
HTTP_URL = "http://127.0.0.1:18080"
# What every run of the story adds to the inventory's settings (which tests/infra
# checks as they are): the load test posts 60 names a second from one address, not
# an attack; HTTP on 18080 redirects to HTTPS on the port published for it; a broken
# release fails the gate in 20 s instead of a minute.
SETTINGS = {
    "nginx_post_rate_limit": "1000r/s",
    "nginx_post_rate_burst": 200,
    "nginx_https_public_port": 18443,
    "names_app_gate_timeout": 20,
}
REPORT = ROOT / "build" / "lifecycle-report.json"
# The host's self-signed certificate, which the clients of this scenario trust.
CAFILE = str(ROOT / "build" / "lifecycle-site.crt")


@pytest.fixture(scope="module", autouse=True)
def site_certificate(host) -> str:
    """Trust the certificate the host serves (generated at converge)."""
    Path(CAFILE).parent.mkdir(parents=True, exist_ok=True)
    Path(CAFILE).write_text(host.file("/etc/nginx/tls/selfsigned.crt").content_string)
    return CAFILE


@pytest.fixture(scope="module")
def version_a(host) -> str:
    return host.ansible.get_variables()["names_app_version"]


@pytest.fixture(scope="module")
def releases(tmp_path_factory, version_a) -> dict:
    """Versions B (with migration 0002), C (B plus the fault), D (B again, for the
    pruning) and E (D and migration 0003, deployed behind the maintenance page), built
    in a dist of their own."""
    tmp = tmp_path_factory.mktemp("releases")
    dist = tmp / "dist"
    version_b, version_c = f"{version_a}.post1", f"{version_a}.post2"

    def add_migration(tree: Path) -> None:
        (tree / "app/migrations/versions/0002_index_names_by_name.py").write_text(MIGRATION_0002)

    def inject_fault(tree: Path) -> None:
        add_migration(tree)  # C comes after B: it carries B's migration too
        with (tree / "app" / "wsgi.py").open("a") as wsgi:
            wsgi.write(FAULT)

    def add_second_migration(tree: Path) -> None:
        add_migration(tree)
        (tree / "app/migrations/versions/0003_index_names_by_time.py").write_text(MIGRATION_0003)

    version_d, version_e = f"{version_a}.post3", f"{version_a}.post4"
    # D: B's code under a new version; E: D and a migration the maintenance page covers
    changes = {version_b: add_migration, version_c: inject_fault, version_d: add_migration,
               version_e: add_second_migration}  # fmt: skip
    build_releases(tmp, dist, changes)
    return {"a": version_a, "b": version_b, "c": version_c, "d": version_d, "e": version_e,
            "dist": dist, "tmp": tmp}  # fmt: skip


@pytest.fixture(scope="module")
def report():
    """Figures of the run, written to build/lifecycle-report.json at the end."""
    figures: dict = {}
    yield figures
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\nlifecycle figures ({REPORT}):\n{json.dumps(figures, indent=2)}")


def play(playbook: str, *extra_vars: str, env: dict | None = None, **named_vars) -> Run:
    """A run of the story: ``playbook`` on the lifecycle host, with its settings (which
    the test's own variables override)."""
    return run_playbook(
        playbook, json.dumps(SETTINGS), *extra_vars, env=env, limit=HOSTS, **named_vars
    )


def start_play(playbook: str, *extra_vars: str, **named_vars):
    """``play`` in the background (its output on .stdout)."""
    return start_playbook(playbook, json.dumps(SETTINGS), *extra_vars, limit=HOSTS, **named_vars)


def plays_at_once(playbook: str, runs: dict[str, list[str]]) -> dict[str, Run]:
    """``play`` of each run's extra vars, side by side (refusals only: see
    run_playbooks_at_once)."""
    with_settings = {name: [json.dumps(SETTINGS), *extra] for name, extra in runs.items()}
    return run_playbooks_at_once(playbook, with_settings, limit=HOSTS)
