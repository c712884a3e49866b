"""Filter shared by the roles: which Debian packages a host has, from one dpkg-query."""

from __future__ import annotations

DOCUMENTATION = r"""
name: names_packages
short_description: The installed packages in a dpkg-query answer
description:
  - apt takes seconds even when every package is there; one C(dpkg-query) tells
    whether it needs to run at all. This filter reads that answer.
"""


def names_dpkg_installed(stdout: str) -> dict[str, str]:
    """{package: version} for the packages dpkg reports installed, from
    ``dpkg-query --show --showformat='${Package}\\t${db:Status-Status}\\t${Version}\\n'``.

    A package removed but not purged ("config-files"), half installed or unknown is
    not installed.
    """
    installed = {}
    for line in stdout.splitlines():
        fields = line.split("\t")
        if len(fields) == 3 and fields[1] == "installed":
            installed[fields[0].split(":")[0]] = fields[2]
    return installed


class FilterModule:
    def filters(self) -> dict:
        return {"names_dpkg_installed": names_dpkg_installed}
