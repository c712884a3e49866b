"""The roles' reading of dpkg-query (roles/names_app/filter_plugins/names_packages.py)."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PLUGIN = Path(__file__).resolve().parents[2] / "roles/names_app/filter_plugins/names_packages.py"
spec = importlib.util.spec_from_file_location("names_packages", PLUGIN)
names_packages = importlib.util.module_from_spec(spec)
spec.loader.exec_module(names_packages)
FORMAT = "--showformat=${Package}\t${db:Status-Status}\t${Version}\n"


def test_the_answer_of_dpkg_query_names_the_installed_packages_only():
    # This machine's own dpkg: an installed package, and one no archive has.
    done = subprocess.run(
        ["dpkg-query", "--show", FORMAT, "dpkg", "names-no-such-package"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, "dpkg-query reports the unknown package"
    installed = names_packages.names_dpkg_installed(done.stdout)
    assert list(installed) == ["dpkg"]
    version = subprocess.run(
        ["dpkg-query", "--show", "--showformat=${Version}", "dpkg"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert installed["dpkg"] == version


def test_removed_half_installed_and_architecture_qualified_packages():
    answer = (
        "nginx\tconfig-files\t1.22.1-9\n"
        "curl\thalf-installed\t7.88.1-10\n"
        "libc6:amd64\tinstalled\t2.36-9\n"
        "procps\tinstalled\t2:4.0.2-3\n"
    )
    assert names_packages.names_dpkg_installed(answer) == {"libc6": "2.36-9", "procps": "2:4.0.2-3"}


def test_the_filter_is_registered():
    assert names_packages.FilterModule().filters() == {
        "names_dpkg_installed": names_packages.names_dpkg_installed
    }
