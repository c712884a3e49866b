"""The postgresql role's client addresses (roles/postgresql/filter_plugins/postgresql.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

pytestmark = pytest.mark.unit

PLUGIN = Path(__file__).resolve().parents[2] / "roles/postgresql/filter_plugins/postgresql.py"
spec = importlib.util.spec_from_file_location("postgresql_filters", PLUGIN)
postgresql_filters = importlib.util.module_from_spec(spec)
spec.loader.exec_module(postgresql_filters)


@pytest.mark.parametrize(
    ("given", "written"),
    [
        ("172.31.250.11", "172.31.250.11/32"),
        (" 10.0.0.0/8 ", "10.0.0.0/8"),
        ("2001:db8::7", "2001:db8::7/128"),
        ("2001:db8:1:2::/64", "2001:db8:1:2::/64"),
    ],
)
def test_a_client_is_written_as_a_network(given, written):
    assert postgresql_filters.FilterModule().filters()["hba_network"](given) == written


@pytest.mark.parametrize("given", ["all", "samenet", "app-1.example.org", "10.0.0.1/8", ""])
def test_anything_but_an_address_or_network_is_refused_by_name(given):
    with pytest.raises(AnsibleFilterError, match="is not an IP address or network"):
        postgresql_filters.hba_network(given)
