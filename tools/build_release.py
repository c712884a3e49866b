#!/usr/bin/env python3
"""Build the self-contained release tarball of the names app.

    dist/names-<version>.tar.gz         the release
    dist/names-<version>.tar.gz.sha256  its checksum, in sha256sum format

The tarball holds one directory, ``names-<version>/``, with
``MANIFEST.json`` (version, source commit, build time, target Pythons,
sha256 of every other file, and the installer), ``wheels/``: the app wheel and
every runtime dependency, uWSGI included, for each target Python, and the wheel of
uv, the installer, and ``static/``: the app's static files as its wheel holds them,
for web hosts that serve them without installing the app. A host installs it with no
network (roles/names_app/library/names_release_venv.py)::

    python3 -m venv --without-pip venv
    <uv from its wheel> pip install --python venv/bin/python --offline --no-index \
        --find-links names-<version>/wheels --compile-bytecode names==<version>

Reproducible: the same sources and version give byte-identical tarballs.
Every timestamp is SOURCE_DATE_EPOCH (default: the time of the source
commit), entries are sorted with fixed owners and modes, gzip carries no
name or time, and the dependencies are the exact versions pinned in
requirements-runtime.txt.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parent.parent
NAME = "names"
TARGET_PYTHONS = ("3.11", "3.13")  # Debian 12 and Debian 13
ARCHITECTURE = "x86_64"
# Debian 12 has glibc 2.36, the oldest of the targets: any manylinux wheel up
# to that runs on all of them.
PLATFORMS = ["manylinux2014_x86_64"] + [f"manylinux_2_{m}_x86_64" for m in range(17, 37)]
# What goes into the app wheel's source tree.
SOURCES = ("app", "pyproject.toml")
LOCK_FILE = "requirements-runtime.txt"
# What installs the wheels on the host (pinned in the lock, shipped in wheels/): a
# static binary, many times faster than pip and needing nothing from the host's Python.
INSTALLER = "uv"


class ReleaseError(Exception):
    """The release cannot be built; the message says why."""


def check_version(version: str) -> str:
    try:
        parsed = Version(version)
    except InvalidVersion as exc:
        raise ReleaseError(f"VERSION {version!r} is not a valid version (e.g. 1.2.3).") from exc
    if len(parsed.release) != 3 or parsed.epoch or parsed.local:
        raise ReleaseError(f"VERSION {version!r} must look like x.y.z (e.g. 1.2.3 or 1.2.3rc1).")
    if str(parsed) != version:
        raise ReleaseError(f"VERSION {version!r} is not in canonical form; use {parsed}.")
    return version


def git(*args: str) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True
        )
    except (OSError, subprocess.CalledProcessError):
        return ""
    return out.stdout.strip()


def source_info() -> tuple[str, bool, int]:
    """Commit, whether the sources differ from it, and the reproducible timestamp."""
    commit = git("rev-parse", "HEAD") or "unknown"
    dirty = bool(git("status", "--porcelain", "--", *SOURCES, LOCK_FILE))
    epoch = os.environ.get("SOURCE_DATE_EPOCH") or git("log", "-1", "--format=%ct") or "0"
    return commit, dirty, int(epoch)


def stage_sources(dest: Path, version: str) -> None:
    """Copy the app sources and set the release version in the staged pyproject."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")
    shutil.copytree(ROOT / "app", dest / "app", ignore=ignore)
    pyproject = (ROOT / "pyproject.toml").read_text()
    staged, count = re.subn(
        r'^version = "[^"]*"$', f'version = "{version}"', pyproject, count=1, flags=re.M
    )
    if count != 1:
        raise ReleaseError('pyproject.toml has no `version = "..."` line to set.')
    (dest / "pyproject.toml").write_text(staged)


def run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise ReleaseError(f"{' '.join(cmd[:4])} ... failed:\n{result.stdout}\n{result.stderr}")


def build_app_wheel(src: Path, out: Path, epoch: int) -> Path:
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(epoch))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    run(
        [
            *pip,
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(out),
            str(src),
        ],
        env,
    )
    wheels = list(out.glob("*.whl"))
    if len(wheels) != 1:
        raise ReleaseError(f"Expected one app wheel, found {wheels}.")
    return wheels[0]


def read_lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / LOCK_FILE).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, pinned = line.partition("==")
            pins[canonicalize_name(name)] = pinned
    return pins


def pip_download(python: str, dest: Path, *args: str) -> None:
    """pip download of binary wheels for ``python`` on the target platforms into ``dest``."""
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "download",
         "--only-binary=:all:", "--python-version", python, *platforms, "--dest", str(dest),
         *args]
    )  # fmt: skip


def download_closure(app_wheel: Path, version: str, python: str, dest: Path) -> list[str]:
    """Download the app's runtime closure for one target Python; return the file names."""
    abi = "cp" + python.replace(".", "")
    pip_download(
        python, dest, "--implementation", "cp", "--abi", abi,
        "--find-links", str(app_wheel.parent), "--constraint", str(ROOT / LOCK_FILE),
        f"{NAME}=={version}",
    )  # fmt: skip
    files = sorted(p.name for p in dest.glob("*.whl"))
    pins = read_lock()
    for filename in files:
        dist, dist_version, _, _ = parse_wheel_filename(filename)
        if dist == NAME:
            continue
        if pins.get(dist) != str(dist_version):
            raise ReleaseError(
                f"{filename} for Python {python} is not pinned in {LOCK_FILE} "
                f"(pinned: {pins.get(dist)}); run `make lock` and commit the result."
            )
    return files


def download_installer(dest: Path) -> str:
    """Download the wheel of uv, which installs the wheels on the host; return its name."""
    pin = read_lock().get(INSTALLER)
    if not pin:
        raise ReleaseError(
            f"{INSTALLER}, the installer every release carries, is not pinned in "
            f"{LOCK_FILE}; run `make lock` and commit the result."
        )
    pip_download(TARGET_PYTHONS[0], dest, "--no-deps", f"{INSTALLER}=={pin}")
    (wheel,) = dest.glob("*.whl")
    return wheel.name


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_tarball(tree: Path, top: str, target: Path, epoch: int) -> None:
    """A tar.gz of ``tree`` under ``top/``: sorted, fixed owners, modes and times."""

    def info(arcname: str, *, directory: bool, size: int = 0) -> tarfile.TarInfo:
        entry = tarfile.TarInfo(arcname)
        entry.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
        entry.mode = 0o755 if directory else 0o644
        entry.size = size
        entry.mtime = epoch
        entry.uid = entry.gid = 0
        entry.uname = entry.gname = "root"
        return entry

    paths = sorted(tree.rglob("*"), key=lambda p: p.relative_to(tree).as_posix())
    with (
        target.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        tar.addfile(info(top, directory=True))
        for path in paths:
            arcname = f"{top}/{path.relative_to(tree).as_posix()}"
            if path.is_dir():
                tar.addfile(info(arcname, directory=True))
            else:
                with path.open("rb") as handle:
                    tar.addfile(info(arcname, directory=False, size=path.stat().st_size), handle)


def extract_static(app_wheel: Path, dest: Path) -> None:
    """The wheel's app/static/ files, byte for byte, for the web hosts."""
    prefix = "app/static/"
    with zipfile.ZipFile(app_wheel) as wheel:
        members = [m for m in wheel.infolist() if m.filename.startswith(prefix) and not m.is_dir()]
        if not members:
            raise ReleaseError(f"{app_wheel.name} holds no {prefix} files.")
        for member in members:
            target = dest / member.filename.removeprefix(prefix)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(wheel.read(member))


def build(version: str, out_dir: Path, allow_dirty: bool = False) -> Path:
    version = check_version(version)
    commit, dirty, epoch = source_info()
    if dirty and not allow_dirty:
        raise ReleaseError(
            f"The sources differ from commit {commit[:12]} (git status shows changes in "
            f"{', '.join(SOURCES)} or {LOCK_FILE}). A release names the commit it was built "
            "from: commit first, or build with --allow-dirty (make release ALLOW_DIRTY=1), "
            "which the manifest records as source_dirty."
        )
    top = f"{NAME}-{version}"
    with tempfile.TemporaryDirectory(prefix="names-release-") as tmp:
        work = Path(tmp)
        stage_sources(work / "src", version)
        app_wheel = build_app_wheel(work / "src", work / "app-wheel", epoch)

        tree = work / "tree"
        wheels_dir = tree / "wheels"
        wheels_dir.mkdir(parents=True)
        # One pip per target Python and one for the installer, side by side.
        with ThreadPoolExecutor(max_workers=len(TARGET_PYTHONS) + 1) as pool:
            closures = {
                python: pool.submit(
                    download_closure, app_wheel, version, python, work / f"download-{python}"
                )
                for python in TARGET_PYTHONS
            }
            installer = pool.submit(download_installer, work / "download-installer")
        per_python = {python: closure.result() for python, closure in closures.items()}
        installer_wheel = installer.result()
        downloads = [*(f"download-{python}" for python in TARGET_PYTHONS), "download-installer"]
        for download in downloads:
            for wheel in (work / download).glob("*.whl"):
                shutil.copyfile(wheel, wheels_dir / wheel.name)

        extract_static(app_wheel, tree / "static")

        manifest = {
            "format": 1,
            "name": NAME,
            "version": version,
            "source_commit": commit,
            "source_dirty": dirty,
            "build_time": datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "architecture": ARCHITECTURE,
            "target_pythons": list(TARGET_PYTHONS),
            "wheels": per_python,
            "installer": installer_wheel,
            "files": {
                p.relative_to(tree).as_posix(): sha256(p)
                for p in sorted(tree.rglob("*"))
                if p.is_file()
            },
        }
        (tree / "MANIFEST.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")

        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / f"{top}.tar.gz"
        checksum_file = out_dir / f"{top}.tar.gz.sha256"
        checksum_file.unlink(missing_ok=True)
        partial = out_dir / f".{top}.tar.gz.partial"
        write_tarball(tree, top, partial, epoch)
        partial.replace(target)
        checksum_file.write_text(f"{sha256(target)}  {target.name}\n")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", required=True, help="release version, e.g. 1.2.3")
    parser.add_argument("--out", default=str(ROOT / "dist"), help="output directory")
    parser.add_argument(
        "--allow-dirty",
        action="store_true",
        help="build from sources that differ from the commit (recorded in the manifest)",
    )
    args = parser.parse_args(argv)
    try:
        target = build(args.version, Path(args.out), allow_dirty=args.allow_dirty)
    except ReleaseError as exc:
        print(f"release: {exc}", file=sys.stderr)
        return 1
    size = target.stat().st_size
    digest = (target.parent / f"{target.name}.sha256").read_text().split()[0]
    print(f"{target} ({size / 1e6:.1f} MB)\nsha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
