"""names_host_state (roles/names_app/library/names_host_state.py), run as Ansible runs it,
on this machine's own dpkg, accounts and files. Units are read in the Molecule
scenarios: this machine has no systemd."""

from __future__ import annotations

import json
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

MODULE = Path(__file__).resolve().parents[2] / "roles/names_app/library/names_host_state.py"


def run(tmp_path: Path, **params) -> dict:
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": params}))
    done = subprocess.run(
        [sys.executable, str(MODULE), str(args)], capture_output=True, text=True, check=False
    )
    return json.loads(done.stdout)


def test_installed_packages_with_their_versions_and_no_others(tmp_path):
    result = run(tmp_path, packages=["dpkg", "names-no-such-package"])
    version = subprocess.run(
        ["dpkg-query", "--show", "--showformat=${Version}", "dpkg"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert result["packages"] == {"dpkg": version}
    assert result["changed"] is False


def test_accounts_that_exist_and_none_that_do_not(tmp_path):
    result = run(tmp_path, users=["root", "names-no-such-user"], groups=["root", "names-no-such"])
    root = pwd.getpwnam("root")
    assert result["users"] == {
        "root": {"uid": 0, "gid": 0, "home": root.pw_dir, "shell": root.pw_shell}
    }
    assert result["groups"] == {"root": 0}


def test_files_are_read_and_a_missing_one_is_null(tmp_path):
    record = tmp_path / "names-drained.json"
    record.write_text('["app-1"]\n')
    result = run(tmp_path, read=[str(record), str(tmp_path / "missing"), str(tmp_path)])
    assert result["contents"] == {
        str(record): '["app-1"]\n',
        str(tmp_path / "missing"): None,
        str(tmp_path): None,
    }


def test_the_answer_is_the_parse_of_dpkg_querys_lines():
    sys.path.insert(0, str(MODULE.parent))
    try:
        import names_host_state
    finally:
        sys.path.remove(str(MODULE.parent))
    answer = (
        "nginx\tconfig-files\t1.22.1-9\n"
        "curl\thalf-installed\t7.88.1-10\n"
        "libc6:amd64\tinstalled\t2.36-9\n"
        "procps\tinstalled\t2:4.0.2-3\n"
    )
    assert names_host_state.installed_packages(answer) == {
        "libc6": "2.36-9",
        "procps": "2:4.0.2-3",
    }
