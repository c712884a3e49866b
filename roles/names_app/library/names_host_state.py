#!/usr/bin/python
"""Read in one call what a role needs to know of a host before it changes anything."""

from __future__ import annotations

DOCUMENTATION = r"""
module: names_host_state
short_description: Packages, units, users, groups and files of a host, read in one call
description:
  - Each call to a host costs about as much as the work of a small task, so a role
    reads what it decides from once, at its start - which packages dpkg has
    installed, whether units run and start at boot, the app's user and group, the
    content of small files - and skips the tasks whose work is done already.
  - Reads the host every time; nothing is trusted from an earlier run. Changes
    nothing.
options:
  packages:
    description: Debian packages; those installed are returned with their versions.
    type: list
    elements: str
    default: []
  units:
    description: systemd units; each returned with its ActiveState and UnitFileState.
    type: list
    elements: str
    default: []
  users:
    description: Accounts; each that exists is returned with its uid, gid, home and shell.
    type: list
    elements: str
    default: []
  groups:
    description: Groups; each that exists is returned with its gid.
    type: list
    elements: str
    default: []
  read:
    description: Files whose text is returned, null for one that is missing.
    type: list
    elements: path
    default: []
"""

RETURN = r"""
packages:
  description: >-
    {package: version} for the packages installed (not those removed, half
    installed or unknown).
  type: dict
  returned: always
units:
  description: "{unit: {active: ActiveState, enabled: UnitFileState}}."
  type: dict
  returned: always
users:
  description: "{user: {uid, gid, home, shell}} for the users that exist."
  type: dict
  returned: always
groups:
  description: "{group: gid} for the groups that exist."
  type: dict
  returned: always
contents:
  description: "{path: text or null}."
  type: dict
  returned: always
"""

import grp
import pwd

from ansible.module_utils.basic import AnsibleModule

DPKG_FORMAT = "${Package}\t${db:Status-Status}\t${Version}\n"


def installed_packages(lines: str) -> dict:
    """{package: version} from dpkg-query lines in DPKG_FORMAT, installed ones only."""
    found = {}
    for line in lines.splitlines():
        fields = line.split("\t")
        if len(fields) == 3 and fields[1] == "installed":
            found[fields[0].split(":")[0]] = fields[2]
    return found


def unit_states(module: AnsibleModule, units: list[str]) -> dict:
    if not units:
        return {}
    rc, out, err = module.run_command(
        ["systemctl", "show", "--property=Id,ActiveState,UnitFileState", "--", *units]
    )
    if rc != 0:
        module.fail_json(msg=f"systemctl show {' '.join(units)} failed: {err.strip()}")
    # One block per unit, in the order asked, separated by a blank line.
    blocks = [
        dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        for block in out.strip().split("\n\n")
    ]
    if len(blocks) != len(units):
        module.fail_json(msg=f"systemctl show answered {len(blocks)} units for {len(units)}: {out}")
    return {
        unit: {"active": block.get("ActiveState", ""), "enabled": block.get("UnitFileState", "")}
        for unit, block in zip(units, blocks, strict=True)
    }


def read_text(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return handle.read().decode(errors="replace")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "packages": {"type": "list", "elements": "str", "default": []},
            "units": {"type": "list", "elements": "str", "default": []},
            "users": {"type": "list", "elements": "str", "default": []},
            "groups": {"type": "list", "elements": "str", "default": []},
            "read": {"type": "list", "elements": "path", "default": []},
        },
        supports_check_mode=True,
    )
    params = module.params
    packages = {}
    if params["packages"]:
        # 1 when dpkg has never heard of one of them: that one is not installed.
        rc, out, err = module.run_command(
            ["dpkg-query", "--show", f"--showformat={DPKG_FORMAT}", "--", *params["packages"]]
        )
        if rc not in (0, 1):
            module.fail_json(msg=f"dpkg-query failed: {err.strip()}")
        packages = installed_packages(out)
    users = {}
    for name in params["users"]:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        users[name] = {
            "uid": entry.pw_uid,
            "gid": entry.pw_gid,
            "home": entry.pw_dir,
            "shell": entry.pw_shell,
        }
    groups = {}
    for name in params["groups"]:
        try:
            groups[name] = grp.getgrnam(name).gr_gid
        except KeyError:
            continue
    module.exit_json(
        changed=False,
        packages=packages,
        units=unit_states(module, params["units"]),
        users=users,
        groups=groups,
        contents={path: read_text(path) for path in params["read"]},
    )


if __name__ == "__main__":
    main()
