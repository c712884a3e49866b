"""Every example in a role README runs as written against the deployed hosts, and
changes nothing there (they are deployed as the examples would deploy them)."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.helpers import ROOT, run_playbook

pytestmark = pytest.mark.web

EXAMPLE = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)
READMES = sorted((ROOT / "roles").glob("*/README.md"))


def test_every_role_has_an_example():
    assert {path.parent.name for path in READMES} >= {"names_app", "nginx", "uwsgi"}
    for path in READMES:
        assert EXAMPLE.search(path.read_text()), f"{path} has no yaml example"


@pytest.mark.parametrize("readme", READMES, ids=lambda path: path.parent.name)
def test_the_readme_example_runs_and_changes_nothing(host, readme, tmp_path):
    example = EXAMPLE.search(readme.read_text()).group(1)
    assert yaml.safe_load(example), "the example is not YAML"
    playbook = tmp_path / "example.yml"
    playbook.write_text(example)
    deployed = host.ansible.get_variables()["names_app_version"]
    run = run_playbook(str(playbook), f"names_app_version={deployed}")
    assert run.returncode == 0, run.output[-3000:]
    assert run.changed, run.output[-2000:]
    assert set(run.changed.values()) == {0}, run.changed
