"""The release tarball: checksum, contents, reproducibility, and an offline install.

Builds a release with a version of its own (so the version override is proven
too), builds it again to compare bytes, then installs it into a fresh venv
inside a network namespace with no network and serves the page with uWSGI.
"""

from __future__ import annotations

import gzip
import hashlib
import http.cookiejar
import json
import os
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

import pytest
from packaging.utils import parse_wheel_filename

from tests.helpers import copy_release_sources, csrf_token

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BUILD = [sys.executable, str(ROOT / "tools" / "build_release.py")]
INSTALL_MODULE = ROOT / "roles" / "names_app" / "library" / "names_release_venv.py"
VERSION = "0.9.1"
TOP = f"names-{VERSION}"
TARGET_PYTHONS = {"3.11": "cp311", "3.13": "cp313"}
# pip reads the machine's configuration (extra indexes, find-links); the
# offline proofs must see only the tarball's wheels.
NO_PIP_CONFIG = {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def build(out: Path, version: str = VERSION) -> subprocess.CompletedProcess:
    """A build of the working tree, committed or not: what the tests prove is the builder."""
    return subprocess.run(
        [*BUILD, "--version", version, "--out", str(out), "--allow-dirty"],
        capture_output=True,
        text=True,
    )


def offline(*cmd: str, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    """Run ``cmd`` in a new network namespace: no network at all, not even loopback."""
    return subprocess.run(
        ["unshare", "--net", *cmd],
        env={**os.environ, **NO_PIP_CONFIG, **(env or {})},
        capture_output=True,
        text=True,
        **kwargs,
    )


@pytest.fixture(scope="session")
def release(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("release-a")
    result = build(out)
    assert result.returncode == 0, result.stderr
    return out / f"{TOP}.tar.gz"


@pytest.fixture(scope="session")
def unpacked(release, tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("unpacked")
    with tarfile.open(release) as tar:
        tar.extractall(dest, filter="data")
    return dest / TOP


@pytest.fixture(scope="session")
def manifest(release) -> dict:
    out = subprocess.run(
        ["tar", "-xOf", str(release), f"{TOP}/MANIFEST.json"],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def test_sha256_file_verifies_with_sha256sum(release):
    checksum = release.parent / f"{release.name}.sha256"
    assert checksum.read_text() == (
        f"{hashlib.sha256(release.read_bytes()).hexdigest()}  {release.name}\n"
    )
    result = subprocess.run(
        ["sha256sum", "--check", "--strict", checksum.name],
        cwd=release.parent,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{release.name}: OK" in result.stdout


def test_manifest_describes_the_release(manifest):
    assert manifest["name"] == "names"
    assert manifest["version"] == VERSION
    assert len(manifest["source_commit"]) in (40, 7) or manifest["source_commit"] == "unknown"
    assert manifest["build_time"].endswith("Z")
    assert manifest["target_pythons"] == list(TARGET_PYTHONS)
    assert manifest["architecture"] == "x86_64"


def test_manifest_checksums_every_file(manifest, unpacked):
    on_disk = {
        p.relative_to(unpacked).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in unpacked.rglob("*")
        if p.is_file() and p.name != "MANIFEST.json"
    }
    assert on_disk == manifest["files"]


def test_the_static_files_are_the_app_wheels(manifest, unpacked):
    [app_wheel] = [w for w in manifest["wheels"]["3.11"] if w.startswith("names-")]
    with zipfile.ZipFile(unpacked / "wheels" / app_wheel) as wheel:
        in_wheel = {
            m.filename.removeprefix("app/static/"): hashlib.sha256(wheel.read(m)).hexdigest()
            for m in wheel.infolist()
            if m.filename.startswith("app/static/") and not m.is_dir()
        }
    assert in_wheel, "the app wheel holds no static files"
    shipped = {
        p.relative_to(unpacked / "static").as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (unpacked / "static").rglob("*")
        if p.is_file()
    }
    assert shipped == in_wheel


@pytest.mark.parametrize(("python", "abi"), TARGET_PYTHONS.items())
def test_tarball_has_the_wheels_for_each_target_python(manifest, unpacked, python, abi):
    wheels = manifest["wheels"][python]
    assert all((unpacked / "wheels" / w).is_file() for w in wheels)
    dists = {}
    for wheel in wheels:
        name, _, _, tags = parse_wheel_filename(wheel)
        dists[str(name)] = {tag.interpreter for tag in tags}
    assert dists["names"] == {"py3"}
    for binary in ("pyuwsgi", "sqlalchemy", "markupsafe", "psycopg-binary"):
        assert dists[binary] == {abi}, f"{binary} has no {abi} wheel"
    for pure in ("flask", "flask-sqlalchemy", "flask-migrate", "flask-wtf", "alembic", "psycopg"):
        assert pure in dists


def test_tarball_entries_are_normalised(release):
    with tarfile.open(release) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert all(n == TOP or n.startswith(f"{TOP}/") for n in names)
    assert {(m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, "root", "root")}
    assert len({m.mtime for m in members}) == 1
    assert {m.mode for m in members if m.isfile()} == {0o644}
    header = release.read_bytes()[:10]
    assert header[:2] == b"\x1f\x8b"
    assert header[4:8] == b"\0\0\0\0", "gzip header carries a timestamp"
    with gzip.open(release) as stream:
        assert stream.read(1)  # a complete, readable gzip stream


def test_two_builds_are_byte_identical(release, tmp_path):
    result = build(tmp_path)
    assert result.returncode == 0, result.stderr
    again = tmp_path / release.name
    assert hashlib.sha256(again.read_bytes()).hexdigest() == (
        hashlib.sha256(release.read_bytes()).hexdigest()
    )
    assert (tmp_path / f"{release.name}.sha256").read_text() == (
        release.parent / f"{release.name}.sha256"
    ).read_text()


@pytest.mark.parametrize("version", ["1.2", "v1.2.3", "1.02.3", "one"])
def test_invalid_versions_are_refused(tmp_path, version):
    result = build(tmp_path, version)
    assert result.returncode == 1
    assert "release:" in result.stderr
    assert "VERSION" in result.stderr
    assert not list(tmp_path.iterdir())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def install(unpacked: Path, venv: Path, installer: str, tmp_path: Path) -> dict:
    """The release installed into ``venv`` as a host installs it: names_release_venv, run
    as Ansible runs it, with no network. Returns the module's result."""
    args = tmp_path / "args.json"
    params = {
        "path": str(venv),
        "python": getattr(sys, "_base_executable", sys.executable),
        "wheels": str(unpacked / "wheels"),
        "requirement": f"names=={VERSION}",
        "installer": installer,
    }
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": params}))
    done = offline(sys.executable, str(INSTALL_MODULE), str(args))
    try:
        return json.loads(done.stdout)
    except ValueError:
        return {"failed": True, "msg": done.stdout + done.stderr}


@pytest.fixture(scope="session")
def offline_venv(unpacked, manifest, tmp_path_factory) -> Path:
    """A fresh Python 3.11 venv with the release installed from its wheels, offline, by
    the uv the release carries."""
    venv = tmp_path_factory.mktemp("offline") / "venv"
    result = install(unpacked, venv, manifest["installer"], tmp_path_factory.mktemp("args"))
    assert result.get("changed") is True, result
    python = venv / "bin" / "python"
    assert (
        subprocess.run(
            [python, "-c", "import sys; print(sys.version_info[:2])"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        == "(3, 11)"
    )
    return venv


def test_the_release_carries_its_installer_pinned_in_the_lock(manifest, unpacked):
    name, version, _, tags = parse_wheel_filename(manifest["installer"])
    assert str(name) == "uv"
    assert (unpacked / "wheels" / manifest["installer"]).is_file()
    lock = (ROOT / "requirements-runtime.txt").read_text()
    assert f"uv=={version}\n" in lock
    assert {tag.platform for tag in tags} & {f"manylinux_2_{m}_x86_64" for m in range(17, 37)}


def test_the_installed_venv_has_no_pip_and_its_byte_code(offline_venv):
    site = next((offline_venv / "lib").glob("python3.*/site-packages"))
    assert not (site / "pip").exists()
    assert list((site / "flask" / "__pycache__").glob("*.pyc"))


def test_an_installed_venv_is_left_alone_and_an_interrupted_one_rebuilt(
    unpacked, manifest, offline_venv, tmp_path
):
    again = install(unpacked, offline_venv, manifest["installer"], tmp_path)
    assert (again["changed"], again["installer"]) == (False, manifest["installer"])
    interrupted = tmp_path / "venv"
    (interrupted / "bin").mkdir(parents=True)
    result = install(unpacked, interrupted, manifest["installer"], tmp_path)
    assert result.get("changed") is True, result
    assert (interrupted / "bin" / "uwsgi").is_file()


def test_a_release_without_an_installer_is_installed_by_pip(unpacked, tmp_path):
    """Releases built before they carried uv still install, with pip."""
    venv = tmp_path / "venv"
    result = install(unpacked, venv, "", tmp_path)
    assert result.get("changed") is True, result
    assert result["installer"] == "pip"
    imported = subprocess.run([venv / "bin" / "python", "-c", "import app"], capture_output=True)
    assert imported.returncode == 0, imported.stderr


def test_offline_install_imports_the_app(offline_venv):
    result = subprocess.run(
        [offline_venv / "bin" / "python", "-c", "from app import create_app, db; print(db)"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "SQLAlchemy" in result.stdout


@pytest.fixture(scope="session")
def served(offline_venv, tmp_path_factory):
    """The installed release, migrated and served by uWSGI on a loopback port."""
    data = tmp_path_factory.mktemp("data")
    env = {
        "PATH": f"{offline_venv / 'bin'}:/usr/bin:/bin",
        "NAMES_CONFIG": "production",
        "SECRET_KEY": "release-test-secret-" + "x" * 32,
        "NAMES_DATABASE_PATH": str(data / "names.sqlite3"),
    }
    migrated = subprocess.run(
        [offline_venv / "bin" / "names", "db", "upgrade"], env=env, capture_output=True, text=True
    )
    assert migrated.returncode == 0, migrated.stderr
    port = free_port()
    log = data / "uwsgi.log"
    with log.open("w") as log_file:
        server = subprocess.Popen(
            [
                offline_venv / "bin" / "uwsgi", "--strict", "--master", "--need-app",
                "--die-on-term", "--processes", "2", "--http-socket", f"127.0.0.1:{port}",
                "--module", "app.wsgi:application",
            ],
            env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2):
                break
        except (urllib.error.URLError, ConnectionError):
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"uWSGI did not serve the app:\n{log.read_text()}")
            time.sleep(0.2)
    yield base
    server.terminate()
    server.wait(timeout=30)


def test_uwsgi_serves_the_page_from_the_offline_install(served):
    with urllib.request.urlopen(f"{served}/", timeout=5) as response:
        assert response.status == 200
        page = response.read().decode()
    assert "<h1>Hello World!</h1>" in page
    assert "Please enter a name:" in page


def test_uwsgi_reports_the_release_version(served):
    with urllib.request.urlopen(f"{served}/healthz", timeout=5) as response:
        assert json.load(response) == {
            "status": "ok",
            "version": VERSION,
            "database": "ok",
            "config": None,  # no settings file: configured by the environment alone
        }


def test_uwsgi_stores_a_name_posted_with_the_csrf_token(served):
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    token = csrf_token(opener.open(f"{served}/", timeout=5).read().decode())
    body = urllib.parse.urlencode({"csrf_token": token, "name": "Offline Ada"}).encode()
    with opener.open(f"{served}/", data=body, timeout=5) as response:
        assert response.status == 200  # urllib followed the 303 back to the page
        assert "Offline Ada" in response.read().decode()


def test_python_3_13_resolves_fully_offline(unpacked, tmp_path):
    report = tmp_path / "report.json"
    platforms = [arg for m in range(17, 37) for arg in ("--platform", f"manylinux_2_{m}_x86_64")]
    result = offline(
        sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
        "--no-index", "--find-links", str(unpacked / "wheels"), "--python-version", "3.13",
        "--implementation", "cp", "--abi", "cp313", *platforms, "--only-binary=:all:",
        "--target", str(tmp_path / "target"), "--report", str(report), f"names=={VERSION}",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    resolved = {
        item["metadata"]["name"].lower(): Path(
            urllib.parse.urlparse(item["download_info"]["url"]).path
        ).name
        for item in json.loads(report.read_text())["install"]
    }
    assert resolved["names"] == f"names-{VERSION}-py3-none-any.whl"
    assert "-cp313-" in resolved["pyuwsgi"]
    assert "-cp313-" in resolved["sqlalchemy"]
    assert set(resolved) >= {"flask", "flask-sqlalchemy", "flask-migrate", "flask-wtf"}


def build_in(tree: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(tree / "tools" / "build_release.py"), "--version", VERSION,
         "--out", str(out), *extra],
        capture_output=True, text=True,
    )  # fmt: skip


def test_a_build_from_changed_sources_is_refused_unless_allowed(tmp_path):
    tree = copy_release_sources(tmp_path / "tree")
    git = ["git", "-C", str(tree), "-c", "user.email=ci@example.org", "-c", "user.name=ci"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "sources"], check=True)
    with (tree / "app" / "wsgi.py").open("a") as wsgi:
        wsgi.write("# an uncommitted change\n")

    refused = build_in(tree, tmp_path / "refused")
    assert refused.returncode == 1
    assert "The sources differ from commit" in refused.stderr
    assert "--allow-dirty" in refused.stderr
    assert not (tmp_path / "refused" / f"{TOP}.tar.gz").exists()

    allowed = build_in(tree, tmp_path / "allowed", "--allow-dirty")
    assert allowed.returncode == 0, allowed.stderr
    manifest = subprocess.run(
        ["tar", "-xOf", str(tmp_path / "allowed" / f"{TOP}.tar.gz"), f"{TOP}/MANIFEST.json"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    assert json.loads(manifest)["source_dirty"] is True


def test_a_dependency_missing_from_the_lock_is_refused(tmp_path):
    tree = copy_release_sources(tmp_path / "tree")
    lock = tree / "requirements-runtime.txt"
    lock.write_text(
        "".join(
            line
            for line in lock.read_text().splitlines(True)
            if not line.lower().startswith("markupsafe==")
        )
    )
    result = build_in(tree, tmp_path / "out")
    assert result.returncode == 1
    assert "is not pinned in requirements-runtime.txt (pinned: None)" in result.stderr
    assert "make lock" in result.stderr
    assert not (tmp_path / "out" / f"{TOP}.tar.gz").exists()


def test_an_installer_missing_from_the_lock_is_refused(tmp_path):
    tree = copy_release_sources(tmp_path / "tree")
    lock = tree / "requirements-runtime.txt"
    lock.write_text(
        "".join(line for line in lock.read_text().splitlines(True) if not line.startswith("uv=="))
    )
    result = build_in(tree, tmp_path / "out")
    assert result.returncode == 1
    assert "uv, the installer every release carries, is not pinned" in result.stderr
    assert not (tmp_path / "out" / f"{TOP}.tar.gz").exists()
