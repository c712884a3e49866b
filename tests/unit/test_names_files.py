"""Many paths in one call (roles/names_app/library/names_files.py), run as Ansible runs it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

MODULE = Path(__file__).resolve().parents[2] / "roles/names_app/library/names_files.py"


def run(
    tmp_path: Path,
    paths: list[dict],
    *,
    check: bool = False,
    read: tuple = (),
    append: tuple = (),
) -> dict:
    args = tmp_path / "args.json"
    args.write_text(
        json.dumps(
            {
                "ANSIBLE_MODULE_ARGS": {
                    "paths": paths,
                    "read": list(read),
                    "append": list(append),
                    "_ansible_check_mode": check,
                    "_ansible_diff": True,
                }
            }
        )
    )
    done = subprocess.run(
        [sys.executable, str(MODULE), str(args)], capture_output=True, text=True, check=False
    )
    return json.loads(done.stdout)


def mode(path: Path) -> str:
    return f"{stat.S_IMODE(path.lstat().st_mode):04o}"


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, list[dict]]:
    root = tmp_path / "root"
    return root, [
        {"path": f"{root}/etc", "mode": "0750"},
        {"path": f"{root}/etc/names.toml", "state": "file", "content": "a = 1\n", "mode": "0640"},
        {"path": f"{root}/current", "state": "link", "src": f"{root}/etc"},
        {"path": f"{root}/old", "state": "absent"},
    ]


def test_creates_every_path_then_changes_nothing(tmp_path, tree):
    root, paths = tree
    first = run(tmp_path, paths)
    assert first["changed_paths"] == [f"{root}/etc", f"{root}/etc/names.toml", f"{root}/current"]
    assert (root / "etc/names.toml").read_text() == "a = 1\n"
    assert mode(root / "etc") == "0750"
    assert mode(root / "etc/names.toml") == "0640"
    assert os.readlink(root / "current") == f"{root}/etc"
    again = run(tmp_path, paths)
    assert again["changed"] is False
    assert again["changed_paths"] == []


def test_repairs_what_changed_behind_its_back(tmp_path, tree):
    root, paths = tree
    run(tmp_path, paths)
    (root / "etc/names.toml").write_text("a = 2\n")
    (root / "etc").chmod(0o777)
    (root / "current").unlink()
    (root / "current").symlink_to(tmp_path)
    (root / "old").mkdir()
    (root / "old/file").write_text("stale")
    result = run(tmp_path, paths)
    assert result["changed_paths"] == [
        f"{root}/etc",
        f"{root}/etc/names.toml",
        f"{root}/current",
        f"{root}/old",
    ]
    assert (root / "etc/names.toml").read_text() == "a = 1\n"
    assert mode(root / "etc") == "0750"
    assert os.readlink(root / "current") == f"{root}/etc"
    assert not (root / "old").exists()
    after = {d["before_header"]: d for d in result["diff"] if "after_header" in d}
    assert after[f"{root}/etc/names.toml"]["before"] == "a = 2\n"


def test_a_file_mode_alone_is_repaired(tmp_path, tree):
    root, paths = tree
    run(tmp_path, paths)
    (root / "etc/names.toml").chmod(0o644)
    result = run(tmp_path, paths)
    assert result["changed_paths"] == [f"{root}/etc/names.toml"]
    assert mode(root / "etc/names.toml") == "0640"


def test_check_mode_reports_and_changes_nothing(tmp_path, tree):
    root, paths = tree
    result = run(tmp_path, paths, check=True)
    assert result["changed_paths"] == [f"{root}/etc", f"{root}/etc/names.toml", f"{root}/current"]
    assert not root.exists()


def test_force_false_keeps_a_file_that_exists(tmp_path):
    key = tmp_path / "secret_key"
    spec = [{"path": str(key), "state": "file", "content": "new\n", "mode": "0600", "force": False}]
    key.write_text("kept\n")
    key.chmod(0o644)
    result = run(tmp_path, spec)
    assert key.read_text() == "kept\n"
    assert mode(key) == "0600"
    assert result["changed_paths"] == [str(key)]
    key.unlink()
    run(tmp_path, spec)
    assert key.read_text() == "new\n"


def test_a_generated_key_and_another_file_are_read_back_in_the_same_call(tmp_path):
    key, settings = tmp_path / "secret_key", tmp_path / "names.toml"
    spec = [{"path": str(key), "state": "file", "content": "first\n", "force": False}]
    read = (str(key), str(settings))
    assert run(tmp_path, spec, read=read)["contents"] == {str(key): "first\n", str(settings): None}
    settings.write_text("SECRET_KEY = 'first'\n")
    spec[0]["content"] = "second\n"
    assert run(tmp_path, spec, read=read)["contents"] == {
        str(key): "first\n",
        str(settings): "SECRET_KEY = 'first'\n",
    }


def test_a_log_is_created_once_and_only_ever_appended_to(tmp_path):
    log = tmp_path / "deploys.log"
    spec = [{"path": str(log), "state": "file", "content": "", "force": False, "mode": "0640"}]
    first = run(tmp_path, spec, append=({"path": str(log), "text": "one\n"},))
    assert (first["changed_paths"], first["appended"]) == ([str(log)], [str(log)])
    second = run(tmp_path, spec, append=({"path": str(log), "text": "two\n"},))
    assert second["changed"] is False, "a record added is not a change of state"
    assert log.read_text() == "one\ntwo\n"
    assert mode(log) == "0640"
    run(tmp_path, spec, check=True, append=({"path": str(log), "text": "three\n"},))
    assert log.read_text() == "one\ntwo\n", "check mode writes no record"


def test_appending_to_a_missing_file_is_an_error(tmp_path):
    log = tmp_path / "deploys.log"
    result = run(tmp_path, [], append=({"path": str(log), "text": "one\n"},))
    assert result["failed"] is True
    assert "cannot append" in result["msg"]
    assert not log.exists()


def test_content_the_validate_command_refuses_never_replaces_the_file(tmp_path):
    site = tmp_path / "names.conf"
    site.write_text("good\n")
    # grep -q good FILE: the command sees the new content, under a name of its own.
    spec = {"path": str(site), "state": "file", "validate": "grep -q good %s"}
    refused = run(tmp_path, [{**spec, "content": "bad\n"}])
    assert refused["failed"] is True
    assert "refused by grep (exit 1), left as it was" in refused["msg"]
    assert site.read_text() == "good\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["args.json", "names.conf"]
    accepted = run(tmp_path, [{**spec, "content": "good, better\n"}])
    assert accepted["changed_paths"] == [str(site)]
    assert site.read_text() == "good, better\n"


def test_a_new_file_the_validate_command_refuses_is_not_created(tmp_path):
    site = tmp_path / "names.conf"
    spec = {
        "path": str(site),
        "state": "file",
        "content": "x\n",
        "validate": "sh -c 'echo no: $0 >&2; exit 3' %s",
    }
    refused = run(tmp_path, [spec])
    assert "(exit 3)" in refused["msg"]
    assert "no: " in refused["msg"]
    assert not site.exists()


def test_check_mode_reads_back_what_it_would_write(tmp_path):
    key = tmp_path / "secret_key"
    spec = [{"path": str(key), "state": "file", "content": "first\n", "force": False}]
    result = run(tmp_path, spec, check=True, read=(str(key),))
    assert result["contents"] == {str(key): "first\n"}
    assert not key.exists()


def test_a_new_file_has_its_owner_group_and_mode_when_it_appears(tmp_path):
    secret = tmp_path / "secret"
    run(tmp_path, [{"path": str(secret), "state": "file", "content": "s\n", "mode": "0400"}])
    assert mode(secret) == "0400"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".names_files.")]


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ({"path": "relative/dir"}, "relative/dir: not an absolute path"),
        ({"path": "/x", "state": "link"}, "/x: state=link needs src"),
        ({"path": "/x", "content": "c"}, "/x: content is for state=file only"),
        ({"path": "/x", "mode": "640"}, None),
        ({"path": "/x", "mode": "u=rw"}, "/x: mode must be octal"),
        ({"path": "/x", "mode": "0999"}, "/x: mode must be octal"),
        ({"path": "/x", "state": "file", "validate": "true %s"}, "/x: validate needs content"),
        ({"path": "/x", "state": "file", "content": "", "validate": "true"}, "and %s in the"),
    ],
)
def test_a_bad_path_is_refused_before_anything_changes(tmp_path, spec, says):
    made = tmp_path / "made"
    result = run(tmp_path, [{"path": str(made)}, spec], check=says is None)
    if says is None:
        assert result["changed"] is True
        return
    assert result["failed"] is True
    assert says in result["msg"]
    assert not made.exists()


def test_a_file_without_content_has_its_attributes_set_and_must_exist(tmp_path):
    certificate = tmp_path / "site.crt"
    certificate.write_text("PEM\n")
    certificate.chmod(0o600)
    spec = [{"path": str(certificate), "state": "file", "mode": "0644"}]
    assert run(tmp_path, spec)["changed_paths"] == [str(certificate)]
    assert mode(certificate) == "0644"
    assert certificate.read_text() == "PEM\n"
    certificate.unlink()
    missing = run(tmp_path, spec)
    assert missing["failed"] is True
    assert "is not a file that exists" in missing["msg"]


def test_a_directory_where_a_file_belongs_is_an_error(tmp_path):
    (tmp_path / "names.toml").mkdir()
    result = run(
        tmp_path,
        [{"path": str(tmp_path / "names.toml"), "state": "file", "content": "a\n"}],
    )
    assert result["failed"] is True
    assert "is not a regular file" in result["msg"]
