#!/usr/bin/python
"""Read in one call what a role needs to know of a host before it changes anything."""

from __future__ import annotations

DOCUMENTATION = r"""
module: names_host_state
short_description: Packages, units, users, groups, files and a TLS key pair of a host, in one call
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
  platform:
    description:
      - Also describe the platform the roles check (what gathering facts would tell,
        without the cost of the setup module).
    type: bool
    default: false
  tls:
    description:
      - A private key and its certificate (C(key), C(certificate)), described with the
        C(cryptography) library if the host has it, so a role can tell whether the pair
        in place is what it would make without loading either in a module of its own.
    type: dict
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
platform:
  description:
    - C(os) and C(os_major) (os-release's ID and the major part of its VERSION_ID),
      C(systemd) (whether systemd is the running init), C(architecture) (the machine),
      C(python) and C(python_version) (the interpreter running modules, and its
      major.minor).
  type: dict
  returned: when I(platform) is true
tls:
  description:
    - C(key) - its file's C(mode), C(owner), C(group), its C(curve) (null when not an
      elliptic-curve key) and C(public), the sha256 of its public key; null when the
      file is missing or is no key.
    - C(certificate) - its file's C(mode), C(owner), C(group), C(public) (as for the
      key), C(common_name), C(subject_alt_name) (C(DNS:name), C(IP:address)),
      C(basic_constraints) (C([CA:FALSE]) or C([CA:TRUE])), C(authority_key_identifier)
      (colon-separated hex, null without one) and C(not_after) (seconds since the epoch);
      null when missing or unreadable.
    - Null as a whole when the host has no C(cryptography) library.
  type: dict
  returned: when I(tls) is given
"""

import grp
import hashlib
import os
import platform
import pwd
import stat
import sys
from datetime import UTC

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


def os_release(path: str = "/etc/os-release") -> dict:
    """os-release's fields (KEY="value" lines), unquoted."""
    fields = {}
    for line in (read_text(path) or "").splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.startswith("#"):
            fields[key.strip()] = value.strip().strip("\"'")
    return fields


def platform_state() -> dict:
    release = os_release()
    return {
        "os": release.get("ID", ""),
        "os_major": release.get("VERSION_ID", "").split(".")[0],
        # sd_booted(3): systemd is the init when this directory exists.
        "systemd": os.path.isdir("/run/systemd/system"),
        "architecture": platform.machine(),
        "python": sys.executable,
        "python_version": f"{sys.version_info.major}.{sys.version_info.minor}",
    }


def file_owner(info: os.stat_result) -> dict:
    return {
        "mode": f"{stat.S_IMODE(info.st_mode):04o}",
        "owner": pwd.getpwuid(info.st_uid).pw_name,
        "group": grp.getgrgid(info.st_gid).gr_name,
    }


def tls_state(key_path: str, certificate_path: str) -> dict | None:
    """The key and the certificate as tls in RETURN describes them."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.serialization import (
            Encoding,
            PublicFormat,
            load_pem_private_key,
        )
        from cryptography.x509.oid import NameOID
    except ImportError:
        return None

    def public(key) -> str:
        return hashlib.sha256(
            key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        ).hexdigest()

    described = {"key": None, "certificate": None}
    try:
        with open(key_path, "rb") as handle:
            info, private = os.fstat(handle.fileno()), load_pem_private_key(handle.read(), None)
        curve = private.curve.name if isinstance(private, ec.EllipticCurvePrivateKey) else None
        described["key"] = {**file_owner(info), "curve": curve}
        described["key"]["public"] = public(private.public_key())
    except (OSError, ValueError, TypeError):
        pass
    try:
        with open(certificate_path, "rb") as handle:
            info, cert = os.fstat(handle.fileno()), x509.load_pem_x509_certificate(handle.read())
    except (OSError, ValueError):
        return described
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        alt_names = [f"DNS:{name}" for name in sans.get_values_for_type(x509.DNSName)] + [
            f"IP:{address.compressed}" for address in sans.get_values_for_type(x509.IPAddress)
        ]
    except x509.ExtensionNotFound:
        alt_names = []
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        constraints = [f"CA:{'TRUE' if is_ca else 'FALSE'}"]
    except x509.ExtensionNotFound:
        constraints = []
    try:
        key_id = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        authority_key_id = key_id.key_identifier.hex(":") if key_id.key_identifier else None
    except x509.ExtensionNotFound:
        authority_key_id = None
    # not_valid_after_utc from cryptography 42 on (Debian 13); naive UTC before (Debian 12).
    not_after = getattr(cert, "not_valid_after_utc", None)
    if not_after is None:
        not_after = cert.not_valid_after.replace(tzinfo=UTC)
    described["certificate"] = {
        **file_owner(info),
        "public": public(cert.public_key()),
        "common_name": names[0].value if names else None,
        "subject_alt_name": alt_names,
        "basic_constraints": constraints,
        "authority_key_identifier": authority_key_id,
        "not_after": int(not_after.timestamp()),
    }
    return described


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "packages": {"type": "list", "elements": "str", "default": []},
            "units": {"type": "list", "elements": "str", "default": []},
            "users": {"type": "list", "elements": "str", "default": []},
            "groups": {"type": "list", "elements": "str", "default": []},
            "read": {"type": "list", "elements": "path", "default": []},
            "platform": {"type": "bool", "default": False},
            "tls": {
                "type": "dict",
                "options": {
                    "key": {"type": "path", "required": True},
                    "certificate": {"type": "path", "required": True},
                },
            },
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
    extra = {}
    if params["platform"]:
        extra["platform"] = platform_state()
    if params["tls"]:
        extra["tls"] = tls_state(params["tls"]["key"], params["tls"]["certificate"])
    module.exit_json(
        changed=False,
        packages=packages,
        units=unit_states(module, params["units"]),
        users=users,
        groups=groups,
        contents={path: read_text(path) for path in params["read"]},
        **extra,
    )


if __name__ == "__main__":
    main()
