"""Every example in a role README runs as written against the deployed hosts, and
changes nothing there (they are deployed as the examples would deploy them).

Each example runs once, against every host of the scenario at the same time, and the
examples run side by side."""

from __future__ import annotations

import os

import pytest
import yaml
from testinfra.utils.ansible_runner import AnsibleRunner

from tests.helpers import README_EXAMPLE, ROOT, Run, readme_example, run_at_once

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


@pytest.fixture(scope="module")
def deployed() -> dict[str, str]:
    """The scenario's hosts and the release each was converged with."""
    runner = AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
    return {name: runner.get_variables(name)["names_app_version"] for name in runner.get_hosts()}


@pytest.fixture(scope="module")
def example_runs(deployed, tmp_path_factory) -> dict[str, Run]:
    """Each README's example run against every host, all of them at once (each must
    change nothing, so they cannot disturb one another)."""
    (version,) = set(deployed.values())
    workdir = tmp_path_factory.mktemp("examples")
    return run_at_once({
        readme.parent.name: (readme_example(readme, workdir), [f"names_app_version={version}"])
        for readme in READMES
    })  # fmt: skip


@pytest.mark.parametrize("readme", READMES, ids=lambda path: path.parent.name)
def test_the_readme_example_runs_and_changes_nothing(deployed, example_runs, readme):
    run = example_runs[readme.parent.name]
    assert run.returncode == 0, run.output[-3000:]
    assert set(run.changed) == set(deployed), run.output[-2000:]
    assert set(run.changed.values()) == {0}, run.changed
