"""Fixtures of the cluster scenario (molecule/cluster): the fleet's hosts by group, their
private addresses, and the web host's certificate, which this scenario's clients trust.

The tests take no ``host`` fixture: each runs once and reaches the hosts it names."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import testinfra
from testinfra.utils.ansible_runner import AnsibleRunner

from tests.helpers import ROOT

# The web host's HTTPS port as published by molecule/cluster/molecule.yml.
URL = "https://127.0.0.1:19443"
CAFILE = str(ROOT / "build" / "cluster-site.crt")
UWSGI_PORT = 3031
POSTGRESQL_PORT = 5432
GROUPS = ("web", "app", "db")
REPORT = ROOT / "build" / "cluster-report.json"
FIGURES: dict = {}


def record(tag: str, figures: dict) -> None:
    """Keep a run's figures in build/cluster-report.json."""
    FIGURES[tag] = figures
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(FIGURES, indent=2) + "\n")


def variable(host, name: str):
    """An inventory variable of a fleet host, templated as the playbooks see it."""
    return host.ansible("debug", f"var={name}", check=False)[name]


def inventory_file() -> str:
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    assert inventory, "run by Molecule's verifier (MOLECULE_INVENTORY_FILE unset)"
    return inventory


@pytest.fixture(scope="session")
def fleet() -> dict:
    """testinfra hosts by group, in inventory order."""
    runner = AnsibleRunner(inventory_file())
    return {
        group: [
            testinfra.get_host(f"ansible://{name}", ansible_inventory=inventory_file())
            for name in runner.get_hosts(group)
        ]
        for group in GROUPS
    }


@pytest.fixture(scope="session")
def addresses() -> dict:
    """Each group's private addresses, in inventory order."""
    runner = AnsibleRunner(inventory_file())
    return {
        group: [
            runner.get_variables(name)["names_private_address"] for name in runner.get_hosts(group)
        ]
        for group in GROUPS
    }


@pytest.fixture(scope="session", autouse=True)
def site_certificate(fleet) -> str:
    """Trust the certificate the web host serves (generated at converge)."""
    Path(CAFILE).parent.mkdir(parents=True, exist_ok=True)
    Path(CAFILE).write_text(fleet["web"][0].file("/etc/nginx/tls/selfsigned.crt").content_string)
    return CAFILE
