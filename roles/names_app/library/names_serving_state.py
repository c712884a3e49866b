#!/usr/bin/python
"""What serves the names app on a host, and what a deploy must do to serve the target."""

from __future__ import annotations

DOCUMENTATION = r"""
module: names_serving_state
short_description: Read what the names app serves on a host and plan the changes
description:
  - Reads in one pass what is actually serving, not what links or files claim - the
    release C(current) points at and when it was switched, the uWSGI master and its
    workers with their start times, and what a worker answers on C(/healthz) over
    the app server's own socket (release version and configuration digest).
  - Compares each staged file (rendered by this run) with its live copy, and the live
    files with the processes that read them (a worker started before a file it reads
    changed runs the old one).
  - Returns the actions that bring the host to the target (switch, promote, start or
    restart the socket, restart or reload the app server) and the reasons, in words.
    Changes nothing.
options:
  root:
    description: Install root (releases/, current, previous).
    type: path
    required: true
  service:
    description: The app server's systemd units (<service>.socket, <service>.service).
    type: str
    required: true
  app_socket:
    description: The serving instance's HTTP unix socket (asked for /healthz).
    type: path
    required: true
  settings:
    description: The app's live settings file, whose sha256 /healthz reports.
    type: path
    required: true
  files:
    description:
      - Staged files and their live copies (other keys are passed through), each with
        what a change needs - C(reload)
        (read by the workers: a chain reload), C(restart) (read by the master or
        systemd: a restart of the service), C(restart_socket) (the listening socket).
    type: list
    elements: dict
    default: []
  target:
    description: The release to serve; empty to only read (make status).
    type: str
    default: ""
  wait:
    description:
      - Seconds to wait, reading again every quarter of a second, until the host
        needs no change (a chain reload replacing its workers one by one). The
        last reading is returned either way; 0 reads once.
    type: int
    default: 0
"""

import hashlib
import http.client
import json
import os
import socket
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule

# A worker counts as started after a file changed if it started at most this much
# earlier: /proc start times have a resolution of one clock tick (10 ms).
CLOCK_TICK_SLACK = 0.02
CHANGE_KINDS = ("reload", "restart", "restart_socket")
# How often a wait reads the host again.
POLL_INTERVAL = 0.25


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def health(path: str, timeout: float = 5.0) -> dict:
    """What a serving worker answers on /healthz, or the error that stopped the asking."""
    connection = UnixHTTPConnection(path, timeout)
    try:
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        body = response.read()
    except OSError as exc:
        return {"answered": False, "error": f"{exc.__class__.__name__}: {exc}"}
    finally:
        connection.close()
    try:
        data = json.loads(body)
    except ValueError:
        data = {}
    return {
        "answered": True,
        "http_status": response.status,
        "status": data.get("status"),
        "version": data.get("version"),
        "config": data.get("config"),
    }


def sha256_of(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return None


def mtime_of(path: str, follow: bool = True) -> float | None:
    try:
        return (os.stat if follow else os.lstat)(path).st_mtime
    except OSError:
        return None


def link_version(path: str) -> str | None:
    try:
        return os.path.basename(os.readlink(path).rstrip("/")) or None
    except OSError:
        return None


def boot_time() -> float:
    with open("/proc/stat", encoding="ascii") as stat:
        for line in stat:
            if line.startswith("btime "):
                return float(line.split()[1])
    raise RuntimeError("no btime in /proc/stat")


def process_started(pid: int, btime: float, ticks: int) -> float | None:
    """When a process started, in seconds since the epoch (None if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return btime + int(fields[19]) / ticks  # field 22, counted after "pid (comm)"


# /proc's process states, as make status shows them.
PROCESS_STATES = {"R": "running", "S": "sleeping", "D": "waiting on I/O", "Z": "zombie",
                  "T": "stopped"}  # fmt: skip


def process_state(pid: int) -> str | None:
    """What a process is doing (running, sleeping...), None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            code = stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None
    return PROCESS_STATES.get(code, code)


def children(pid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            pids.append(int(entry))
    return sorted(pids)


def unit_property(unit: str, prop: str) -> str:
    command = ["systemctl", "show", f"--property={prop}", "--value", unit]
    # A fixed command on the role's own unit names, systemctl from PATH as Ansible's modules.
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    return result.stdout.strip()


def serving_processes(service: str) -> dict:
    active = unit_property(f"{service}.service", "ActiveState") == "active"
    main_pid = int(unit_property(f"{service}.service", "MainPID") or 0)
    if not active or not main_pid:
        return {"active": active, "main_pid": 0, "started": None, "workers": []}
    btime, ticks = boot_time(), os.sysconf("SC_CLK_TCK")
    workers = [
        {"pid": pid, "started": process_started(pid, btime, ticks), "state": process_state(pid)}
        for pid in children(main_pid)
    ]
    return {
        "active": True,
        "main_pid": main_pid,
        "started": process_started(main_pid, btime, ticks),
        "workers": [w for w in workers if w["started"] is not None],
    }


def read_state(params: dict) -> dict:
    root = params["root"]
    files = []
    for spec in params["files"]:
        staged_sha = sha256_of(spec["staged"])
        live_sha = sha256_of(spec["live"])
        files.append(
            {
                **spec,
                "staged_sha256": staged_sha,
                "staged_exists": staged_sha is not None,
                "live_exists": live_sha is not None,
                "differs": staged_sha is not None and staged_sha != live_sha,
                "live_mtime": mtime_of(spec["live"]),
            }
        )
    return {
        "current": link_version(os.path.join(root, "current")),
        "current_switched": mtime_of(os.path.join(root, "current"), follow=False),
        "previous": link_version(os.path.join(root, "previous")),
        "socket_active": unit_property(f"{params['service']}.socket", "ActiveState") == "active",
        # Whether each unit starts at boot (systemctl enable), by unit type.
        "enabled": {
            kind: unit_property(f"{params['service']}.{kind}", "UnitFileState") == "enabled"
            for kind in ("socket", "service")
        },
        "service": serving_processes(params["service"]),
        "health": health(params["app_socket"]),
        "settings_sha256": sha256_of(params["settings"]),
        "files": files,
    }


def _newest(times) -> float | None:
    known = [t for t in times if t is not None]
    return max(known) if known else None


def _older(started: float | None, changed: float | None) -> bool:
    return started is not None and changed is not None and started < changed - CLOCK_TICK_SLACK


def drift(state: dict) -> list[str]:
    """How what serves differs from what is on disk (the live files and current)."""
    found = []
    service, answer = state["service"], state["health"]
    if not state["socket_active"]:
        found.append("the app server's socket is not listening")
    if not service["active"]:
        found.append("the app server is not running")
        return found
    if not answer["answered"]:
        found.append(f"the app server does not answer /healthz ({answer['error']})")
    elif answer["http_status"] != 200 or answer["status"] != "ok":
        found.append(f"/healthz answers {answer['http_status']} {answer['status']}")
    else:
        if answer["version"] != state["current"]:
            found.append(f"current is {state['current']} but the workers serve {answer['version']}")
        digest = (state["settings_sha256"] or "")[:16]
        if answer["config"] != digest:
            found.append(
                f"the workers run settings {answer['config']}, not the live file's {digest}"
            )
    by_kind = {kind: [f for f in state["files"] if f["on_change"] == kind] for kind in CHANGE_KINDS}
    restart_changed = _newest(f["live_mtime"] for f in by_kind["restart"])
    if _older(service["started"], restart_changed):
        found.append("the app server started before its configuration or unit last changed")
    reload_changed = _newest(
        [state["current_switched"], *(f["live_mtime"] for f in by_kind["reload"])]
    )
    stale = [w["pid"] for w in service["workers"] if _older(w["started"], reload_changed)]
    if stale:
        found.append(
            f"workers {', '.join(map(str, stale))} started before the release or "
            "settings they should run"
        )
    return found


def plan(state: dict, target: str) -> dict:
    """The actions that bring the host to serve ``target`` with the staged files."""
    promote = [f for f in state["files"] if f["differs"]]
    kinds = {f["on_change"] for f in promote}
    found = drift(state)
    switch = bool(target) and state["current"] != target
    restart_socket = any(f["live_exists"] for f in promote if f["on_change"] == "restart_socket")
    restart = (
        "restart" in kinds
        or restart_socket
        or not state["service"]["active"]
        or any("started before its configuration" in d for d in found)
    )
    reload = not restart and (switch or "reload" in kinds or bool(found))
    reasons = []
    if switch:
        reasons.append(f"switch from {state['current'] or 'nothing'} to {target}")
    reasons += [f"{f['live']} changes" for f in promote]
    reasons += found
    return {
        "switch": switch,
        "promote": [f["live"] for f in promote],
        "daemon_reload": any(f["live"].startswith("/etc/systemd/") for f in promote),
        "start_socket": not state["socket_active"],
        "restart_socket": restart_socket,
        "restart": restart,
        "reload": reload,
        "reasons": reasons,
        "changes": bool(switch or promote or restart or reload or not state["socket_active"]),
    }


def settle(read, target: str, wait: float, clock=time.monotonic, sleep=time.sleep) -> tuple:
    """Read the host until it needs no change to serve ``target``, or ``wait`` seconds
    have passed; the last reading and its plan."""
    deadline = clock() + wait
    while True:
        state = read()
        planned = plan(state, target)
        if not planned["changes"] or clock() >= deadline:
            return state, planned
        sleep(POLL_INTERVAL)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "root": {"type": "path", "required": True},
            "service": {"type": "str", "required": True},
            "app_socket": {"type": "path", "required": True},
            "settings": {"type": "path", "required": True},
            "files": {"type": "list", "elements": "dict", "default": []},
            "target": {"type": "str", "default": ""},
            "wait": {"type": "int", "default": 0},
        },
        supports_check_mode=True,
    )
    for spec in module.params["files"]:
        if (
            not {"staged", "live", "on_change"} <= set(spec)
            or spec["on_change"] not in CHANGE_KINDS
        ):
            module.fail_json(msg=f"files: each needs staged, live and on_change {CHANGE_KINDS}")
    state, planned = settle(
        lambda: read_state(module.params), module.params["target"], module.params["wait"]
    )
    module.exit_json(changed=False, state=state, drift=drift(state), plan=planned)


if __name__ == "__main__":
    main()
