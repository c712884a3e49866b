"""Every example in a role README runs as written against the deployed hosts, and
changes nothing there (they are deployed as the examples would deploy them)."""

from __future__ import annotations

import pytest
import yaml

from tests.helpers import README_EXAMPLE, ROOT, run_readme_example

pytestmark = pytest.mark.web

ALL_READMES = sorted((ROOT / "roles").glob("*/README.md"))
# The roles these hosts run; the postgresql role's example runs on the cluster
# scenario's db host (tests/cluster/).
READMES = [path for path in ALL_READMES if path.parent.name != "postgresql"]


def test_every_role_has_an_example():
    roles = {path.parent.name for path in ALL_READMES}
    assert roles >= {"names_app", "nginx", "uwsgi", "postgresql"}
    for path in ALL_READMES:
        example = README_EXAMPLE.search(path.read_text())
        assert example, f"{path} has no yaml example"
        assert yaml.safe_load(example.group(1)), f"{path}: the example is not YAML"


@pytest.mark.parametrize("readme", READMES, ids=lambda path: path.parent.name)
def test_the_readme_example_runs_and_changes_nothing(host, readme, tmp_path):
    run = run_readme_example(readme, tmp_path, host.ansible.get_variables()["names_app_version"])
    assert run.returncode == 0, run.output[-3000:]
    assert run.changed, run.output[-2000:]
    assert set(run.changed.values()) == {0}, run.changed
