#!/usr/bin/python
"""Build a release's virtualenv from the wheels it carries, offline, with its own uv."""

from __future__ import annotations

DOCUMENTATION = r"""
module: names_release_venv
short_description: Build a release's virtualenv offline with the installer it carries
description:
  - Creates a virtualenv without pip from the host's Python and installs a requirement
    into it from a directory of wheels only (no index, no network), with byte code
    compiled, in one call.
  - The installer is uv, taken from its wheel in the same directory (the release
    carries it): a static binary, extracted to a private temporary directory for the
    install and removed after it. It needs nothing from the host's Python.
  - A release built before it carried uv names no I(installer); the virtualenv is then
    made with pip (the venv module's ensurepip, Debian's C(python3-venv)) and pip
    installs from the same wheels.
  - The virtualenv is built once. A marker written last (C(.names-release-venv.json),
    the requirement and the installer) tells a complete one from an interrupted one,
    which is removed and built again.
  - Supports check mode.
options:
  path:
    description: The virtualenv to build.
    type: path
    required: true
  python:
    description: The interpreter the virtualenv is made from.
    type: path
    required: true
  wheels:
    description: The directory of wheels to install from (and only from).
    type: path
    required: true
  requirement:
    description: What to install, such as C(names==1.2.3).
    type: str
    required: true
  installer:
    description: The file name of uv's wheel in I(wheels); empty to install with pip.
    type: str
    default: ""
"""

import json
import os
import shutil
import stat
import tempfile
import time
import zipfile

from ansible.module_utils.basic import AnsibleModule

MARKER = ".names-release-venv.json"


def extract_uv(wheel: str, into: str) -> str:
    """uv's binary from its wheel (``<name>.data/scripts/uv``), executable by root only."""
    with zipfile.ZipFile(wheel) as archive:
        members = [name for name in archive.namelist() if name.endswith(".data/scripts/uv")]
        if len(members) != 1:
            raise ValueError(f"{wheel} holds no uv binary (.data/scripts/uv)")
        target = os.path.join(into, "uv")
        with archive.open(members[0]) as source, open(target, "wb") as binary:
            shutil.copyfileobj(source, binary)
    os.chmod(target, stat.S_IRWXU)
    return target


def run(module: AnsibleModule, argv: list[str], env: dict | None = None) -> None:
    rc, out, err = module.run_command(argv, environ_update=env or {})
    if rc != 0:
        module.fail_json(
            msg=f"{os.path.basename(argv[0])} {' '.join(argv[1:3])} failed "
            f"(exit {rc}): {(err or out).strip()[-2000:]}",
            cmd=argv,
        )


def build(module: AnsibleModule, params: dict) -> None:
    path, wheels, requirement = params["path"], params["wheels"], params["requirement"]
    python = os.path.join(path, "bin", "python")
    if params["installer"]:
        run(module, [params["python"], "-m", "venv", "--without-pip", path])
        scratch = tempfile.mkdtemp(prefix="names-uv-")
        try:
            uv = extract_uv(os.path.join(wheels, params["installer"]), scratch)
            run(
                module,
                [
                    uv, "pip", "install", "--quiet", "--python", python, "--offline",
                    "--no-index", "--find-links", wheels, "--no-cache", "--compile-bytecode",
                    requirement,
                ],
                # Nothing from the host's uv configuration, if it has any.
                env={"UV_NO_CONFIG": "1"},
            )  # fmt: skip
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    else:
        run(module, [params["python"], "-m", "venv", path])
        run(
            module,
            [
                python, "-m", "pip", "install", "--quiet", "--no-index", "--no-cache-dir",
                "--disable-pip-version-check", "--find-links", wheels, requirement,
            ],
            env={"PIP_CONFIG_FILE": os.devnull},
        )  # fmt: skip


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "python": {"type": "path", "required": True},
            "wheels": {"type": "path", "required": True},
            "requirement": {"type": "str", "required": True},
            "installer": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    params = module.params
    wanted = {"requirement": params["requirement"], "installer": params["installer"] or "pip"}
    marker = os.path.join(params["path"], MARKER)
    try:
        with open(marker) as built:
            if json.load(built) == wanted:
                module.exit_json(changed=False, **wanted)
    except (OSError, ValueError):
        pass
    if module.check_mode:
        module.exit_json(changed=True, **wanted)
    started = time.monotonic()
    try:
        if os.path.islink(params["path"]) or os.path.isfile(params["path"]):
            os.unlink(params["path"])
        elif os.path.isdir(params["path"]):
            shutil.rmtree(params["path"])
        build(module, params)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        module.fail_json(msg=f"Could not build {params['path']}: {exc}")
    with open(marker, "w") as built:
        json.dump(wanted, built)
    module.exit_json(changed=True, seconds=round(time.monotonic() - started, 2), **wanted)


if __name__ == "__main__":
    main()
