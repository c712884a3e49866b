"""Every role entry point that a playbook or another role enters has an argument spec:
one documented interface per entry point (dev-sec's rule)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
ENTRY = re.compile(r"include_role:\s*\n\s+name: (\w+)\s*\n(?:\s+tasks_from: (\w+))?", re.MULTILINE)


def entered() -> set[tuple[str, str]]:
    """(role, entry point) of every include_role in the playbooks and roles."""
    found = set()
    for path in [*ROOT.glob("playbooks/*.yml"), *ROOT.glob("roles/*/tasks/*.yml")]:
        for role, entry in ENTRY.findall(path.read_text()):
            found.add((role, entry or "main"))
    # playbooks/preflight.yml enters each tier's role by a templated name.
    preflight = (ROOT / "playbooks" / "preflight.yml").read_text()
    assert "tasks_from: preflight" in preflight
    found |= {(role, "preflight") for role in ("names_app", "nginx") if f"'{role}'" in preflight}
    return found


def test_entry_points_are_found():
    assert ("names_app", "rollback") in entered()
    assert ("uwsgi", "main") in entered()
    assert ("nginx", "preflight") in entered()


@pytest.mark.parametrize(("role", "entry"), sorted(entered()))
def test_every_entered_entry_point_has_an_argument_spec(role, entry):
    specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
    assert entry in specs["argument_specs"], f"{role} has no argument spec for {entry}"
    assert (ROOT / "roles" / role / "tasks" / f"{entry}.yml").is_file()
