"""What the controller reads of a tarball (roles/names_app/lookup_plugins/names_release.py)."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import tarfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PLUGIN = Path(__file__).resolve().parents[2] / "roles/names_app/lookup_plugins/names_release.py"
spec = importlib.util.spec_from_file_location("names_release", PLUGIN)
names_release = importlib.util.module_from_spec(spec)
spec.loader.exec_module(names_release)

MANIFEST = {"name": "names", "version": "1.2.3"}


def tarball(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as out:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    return path


def test_a_release_is_hashed_and_its_manifest_read(tmp_path):
    path = tarball(
        tmp_path / "names-1.2.3.tar.gz",
        {"names-1.2.3/MANIFEST.json": json.dumps(MANIFEST).encode()},
    )
    Path(f"{path}.sha256").write_text(f"{'0' * 64}  names-1.2.3.tar.gz\n")
    found = names_release.describe(str(path), "1.2.3")
    assert found["exists"] is True
    assert found["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert found["checksum_file"].split()[0] == "0" * 64
    assert found["manifest"]["rc"] == 0
    assert json.loads(found["manifest"]["stdout"]) == MANIFEST


def test_a_missing_tarball_and_checksum_file(tmp_path):
    found = names_release.describe(str(tmp_path / "names-1.2.3.tar.gz"), "1.2.3")
    assert found == {"exists": False, "sha256": None, "checksum_file": None, "manifest": None}


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"not a tarball at all", "ReadError"),
        (None, "names-1.2.3/MANIFEST.json: not found in the archive"),
    ],
)
def test_a_tarball_without_a_readable_manifest_says_why(tmp_path, content, says):
    path = tmp_path / "names-1.2.3.tar.gz"
    if content is None:
        tarball(path, {"names-9.9.9/MANIFEST.json": b"{}"})
    else:
        path.write_bytes(content)
    manifest = names_release.describe(str(path), "1.2.3")["manifest"]
    assert manifest["rc"] == 1
    assert says in manifest["stderr"]
    assert manifest["stdout"] == ""


def test_a_truncated_tarball_is_not_read_as_a_release(tmp_path):
    path = tarball(
        tmp_path / "names-1.2.3.tar.gz",
        {
            "names-1.2.3/big": bytes(range(256)) * 4096,
            "names-1.2.3/MANIFEST.json": json.dumps(MANIFEST).encode(),
        },
    )
    path.write_bytes(path.read_bytes()[:2000])
    assert names_release.describe(str(path), "1.2.3")["manifest"]["rc"] == 1
