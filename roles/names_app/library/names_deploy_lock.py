#!/usr/bin/python
"""The per-host deploy lock of names-deploy (a directory: mkdir is atomic)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: names_deploy_lock
short_description: Take or release the names-deploy lock on a host
description:
  - Takes the lock by creating a directory (atomic: of two runs racing, exactly one
    succeeds) and records its holder in C(owner.json) with the host's own clock.
  - A run that finds the lock taken fails with who holds it, since when and for how
    long (measured on the host, so the controller's time zone plays no part), and
    whether the lock is stale.
options:
  path:
    description: Directory that is the lock.
    type: path
    required: true
  state:
    description: C(present) takes the lock, C(absent) releases it.
    type: str
    choices: [present, absent]
    default: present
  holder:
    description: Who takes it (operator, controller, action, version); recorded in owner.json.
    type: dict
    default: {}
  stale_after:
    description: Age in seconds after which a lock is reported as stale.
    type: int
    default: 3600
  host:
    description: The host's name in messages (its inventory name); default its node name.
    type: str
"""

import json
import os
import shutil
import time

from ansible.module_utils.basic import AnsibleModule

OWNER_FILE = "owner.json"


def take(path: str, holder: dict, now: float) -> dict | None:
    """Create the lock and record its holder; the holder found instead if it is taken."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        return read_holder(path)
    owner = {
        **holder,
        "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "since_epoch": int(now),
    }
    partial = os.path.join(path, f".{OWNER_FILE}.partial")
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump(owner, handle)
    os.chmod(partial, 0o600)
    os.replace(partial, os.path.join(path, OWNER_FILE))
    return None


def read_holder(path: str) -> dict:
    """What owner.json says, or an empty holder if it is missing or unreadable."""
    try:
        with open(os.path.join(path, OWNER_FILE), encoding="utf-8") as handle:
            owner = json.load(handle)
    except (OSError, ValueError):
        return {}
    return owner if isinstance(owner, dict) else {}


def refusal(host: str, owner: dict, now: float, stale_after: int) -> tuple[str, int | None, bool]:
    """The operator's message for a lock held by ``owner``, its age and whether it is stale."""
    since_epoch = owner.get("since_epoch")
    age = int(now - since_epoch) if isinstance(since_epoch, (int, float)) else None
    stale = age is not None and age > stale_after
    message = (
        f"{host} is locked by another {owner.get('action', 'deploy')}: "
        f"{owner.get('operator', 'unknown')}@{owner.get('controller', 'unknown')} "
        f"since {owner.get('since', 'unknown')} "
        f"({'age unknown' if age is None else f'{age} s ago'}, to {owner.get('version', '?')}). "
    )
    if stale:
        message += (
            f"The lock is STALE (older than {stale_after} s): if no deploy runs, clear it with "
            "`make unlock INVENTORY=...` (see docs/runbook.md)."
        )
    else:
        message += "Wait for it to finish, or see docs/runbook.md if it was killed."
    return message, age, stale


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "holder": {"type": "dict", "default": {}},
            "stale_after": {"type": "int", "default": 3600},
            "host": {"type": "str"},
        },
        supports_check_mode=False,
    )
    path, state = module.params["path"], module.params["state"]
    # Held only for the run and released at its end: never reported as a change of the host.
    if state == "absent":
        shutil.rmtree(path, ignore_errors=True)
        module.exit_json(changed=False, released=True)
    now = time.time()
    found = take(path, module.params["holder"], now)
    if found is None:
        module.exit_json(changed=False, acquired=True)
    host = module.params["host"] or os.uname().nodename
    message, age, stale = refusal(host, found, now, module.params["stale_after"])
    module.fail_json(msg=message, acquired=False, holder=found, age=age, stale=stale)


if __name__ == "__main__":
    main()
